import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../util/errors.js';
import { compileFormat, formatRows, goSprintf, renderTable, tabwrite } from './format.js';

const IMAGE_TITLES = { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE' };

const images = [
  { Repository: 'busybox', Tag: 'latest', ID: '6fd955f66c23', CreatedSince: '2 weeks ago', Size: '4.26MB' },
  { Repository: '127.0.0.1:5000/team/app', Tag: 'v1.2.3', ID: 'a1b2c3d4e5f6', CreatedSince: '3 days ago', Size: '210MB' },
];

const container = {
  ID: 'abc',
  Names: ['web', 'alias'],
  State: 'running',
  Config: { Labels: { 'com.example.team': 'core', env: 'prod' }, Env: ['A=1', 'B=2'], Cmd: null },
  Ports: [],
  Count: 3,
  Ratio: 0.5,
  ShortID() {
    return this.ID.toUpperCase();
  },
};

function render(fmt: string, data: unknown = container): string {
  return compileFormat(fmt)(data);
}

function assertTemplateError(fmt: string, message: RegExp, data: unknown = container): void {
  assert.throws(
    () => compileFormat(fmt)(data),
    (e: unknown) => isHullError(e, 'INVALID_ARGUMENT') && e.message.startsWith('template parsing error: ') && message.test(e.message),
    fmt,
  );
}

void describe('compileFormat', () => {
  void it('prints fields, nested fields and literal text', () => {
    assert.equal(render('{{.ID}}: {{.State}}'), 'abc: running');
    assert.equal(render('{{.Config.Labels.env}}'), 'prod');
    assert.equal(render('{{.}}', 'just a string'), 'just a string');
    assert.equal(render('no actions'), 'no actions');
  });

  void it('prints values as Go does', () => {
    assert.equal(render('{{.Names}}'), '[web alias]');
    assert.equal(render('{{.Config.Labels}}'), 'map[com.example.team:core env:prod]');
    assert.equal(render('{{.Count}} {{.Ratio}} {{.Config.Cmd}}'), '3 0.5 <nil>');
    assert.equal(render('{{.Missing}}'), '<no value>');
    assert.equal(render('{{.Missing.Deeper}}'), '<no value>');
    assert.equal(render('{{true}} {{"s"}} {{`raw`}} {{42}}'), 'true s raw 42');
  });

  void it('calls function-valued properties like Go methods', () => {
    assert.equal(render('{{.ShortID}}'), 'ABC');
  });

  void it('turns \\t and \\n in the format into tab and newline, as the docker CLI does', () => {
    assert.equal(render('{{.ID}}\\t{{.State}}\\n'), 'abc\trunning\n');
    assert.equal(render('{{join .Names "\\n"}}'), 'web\nalias');
  });

  void it('supports json, index, join, split, upper, lower, title, pad, truncate, len', () => {
    assert.equal(render('{{json .Config.Labels}}'), '{"com.example.team":"core","env":"prod"}');
    assert.equal(render('{{json .Names}}'), '["web","alias"]');
    assert.equal(render('{{json .Missing}}'), 'null');
    assert.equal(render('{{json .}}', { a: '<&>' }), '{"a":"<&>"}'); // Docker turns off HTML escaping
    assert.equal(render('{{index .Config.Labels "com.example.team"}}'), 'core');
    assert.equal(render('{{index .Names 1}}'), 'alias');
    assert.equal(render('{{join .Names ", "}}'), 'web, alias');
    assert.equal(render('{{split "a:b:c" ":"}}'), '[a b c]');
    assert.equal(render('{{upper .State}} {{.State | upper}} {{lower "ABC"}}'), 'RUNNING RUNNING abc');
    assert.equal(render('{{title "hello big world"}}'), 'Hello Big World');
    assert.equal(render('[{{pad .ID 1 2}}]'), '[ abc  ]');
    assert.equal(render('{{truncate "abcdef" 3}}'), 'abc');
    assert.equal(render('{{len .Names}} {{len .Config.Labels}}'), '2 2');
    assert.equal(render('{{(index .Names 0) | upper}}'), 'WEB');
  });

  void it('supports printf', () => {
    assert.equal(render('{{printf "%s-%d" .ID .Count}}'), 'abc-3');
    assert.equal(render('{{printf "%-6s|%6s|" .ID .ID}}'), 'abc   |   abc|');
    assert.equal(render('{{printf "%05d %.2f %q %v %%" .Count 3.14159 .ID .Names}}'), '00003 3.14 "abc" [web alias] %');
    assert.equal(goSprintf('%s %s', ['a']), 'a %!s(MISSING)');
    assert.equal(goSprintf('%d', ['x']), '%!d(string=x)');
  });

  void it('supports if / else if / else / with', () => {
    assert.equal(render('{{if .Names}}named{{else}}anonymous{{end}}'), 'named');
    assert.equal(render('{{if .Ports}}ports{{else}}no ports{{end}}'), 'no ports');
    assert.equal(render('{{if .Config.Cmd}}cmd{{end}}'), '');
    assert.equal(render('{{if eq .State "exited"}}E{{else if eq .State "running"}}R{{else}}?{{end}}'), 'R');
    assert.equal(render('{{if and .Names (not .Ports)}}yes{{end}}'), 'yes');
    assert.equal(render('{{if gt .Count 2}}big{{end}}'), 'big');
    assert.equal(render('{{with .Config}}{{.Labels.env}}{{end}}'), 'prod');
  });

  void it('supports range over lists and maps, with variables and else', () => {
    assert.equal(render('{{range .Names}}<{{.}}>{{end}}'), '<web><alias>');
    assert.equal(render('{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}'), '0=web 1=alias ');
    assert.equal(render('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}'), 'com.example.team=core;env=prod;');
    assert.equal(render('{{range .Ports}}x{{else}}none{{end}}'), 'none');
    assert.equal(render('{{range .Names}}{{$.ID}}/{{.}} {{end}}'), 'abc/web abc/alias ');
    assert.equal(render('{{$n := len .Names}}{{$n}}'), '2');
  });

  void it('trims whitespace around {{- and -}}', () => {
    assert.equal(render('a  {{- .ID -}}  \n b'), 'aabcb');
    assert.equal(render('{{range .Names -}}\n  {{.}}\n{{- end}}'), 'webalias');
  });

  void it('treats "json" as one JSON object per row', () => {
    assert.equal(render('json', { ID: 'x', N: 1 }), '{"ID":"x","N":1}');
    assert.equal(formatRows(' json ', [{ a: 1 }, { a: 2 }]), '{"a":1}\n{"a":2}\n');
  });

  void it('refuses bad templates with Docker\'s "template parsing error"', () => {
    assertTemplateError('{{.ID', /unclosed action/);
    assertTemplateError('{{nope .ID}}', /function "nope" not defined/);
    assertTemplateError('{{if .ID}}x', /unexpected EOF/);
    assertTemplateError('x{{end}}', /unexpected \{\{end\}\}/);
    assertTemplateError('{{else}}', /unexpected \{\{else\}\}/);
    assertTemplateError('{{.ID | }}', /missing command/);
    assertTemplateError('{{"abc}}', /unterminated quoted string/);
    assertTemplateError('{{.ID.Deeper}}', /can't evaluate field Deeper in type string/);
    assertTemplateError('{{index .Names 5}}', /index out of range: 5/);
    assertTemplateError('{{.ID .State}}', /can't give argument to non-function/);
    assertTemplateError('{{range .ID}}{{end}}', /range can't iterate over abc/);
  });
});

void describe('table formats', () => {
  void it('prints a header of Docker column titles and aligns like docker images', () => {
    const out = formatRows('table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}', images, IMAGE_TITLES);
    assert.equal(
      out,
      [
        'REPOSITORY                TAG       IMAGE ID       CREATED       SIZE',
        'busybox                   latest    6fd955f66c23   2 weeks ago   4.26MB',
        '127.0.0.1:5000/team/app   v1.2.3    a1b2c3d4e5f6   3 days ago    210MB',
        '',
      ].join('\n'),
    );
  });

  void it('prints the header alone when there are no rows', () => {
    assert.equal(formatRows('table {{.Repository}}\\t{{.Tag}}', [], IMAGE_TITLES), 'REPOSITORY   TAG\n');
  });

  void it('titles columns through pass-through functions and keeps literal text', () => {
    const f = compileFormat('table {{upper .Repository}}:{{.Tag}}\\t{{json .ID}}');
    assert.equal(f.isTable, true);
    assert.equal(f.header(IMAGE_TITLES), 'REPOSITORY:TAG\tIMAGE ID');
    assert.equal(f(images[0]), 'BUSYBOX:latest\t"6fd955f66c23"');
  });

  void it('prints plain formats row by row without a header', () => {
    const f = compileFormat('{{.Repository}}');
    assert.equal(f.isTable, false);
    assert.equal(formatRows('{{.Repository}}:{{.Tag}}', images, IMAGE_TITLES), 'busybox:latest\n127.0.0.1:5000/team/app:v1.2.3\n');
    assert.equal(formatRows('{{.Repository}}', [], IMAGE_TITLES), '');
  });
});

void describe('tabwrite (Go text/tabwriter, minwidth 10, padding 3)', () => {
  void it('never pads the last cell, so lines have no trailing spaces', () => {
    assert.equal(tabwrite('a\tb\nlonger-cell\tc\n'), 'a             b\nlonger-cell   c\n');
  });

  void it('sizes each column per block of consecutive lines that have it', () => {
    // The single-cell middle line ends the block: the lines around it are aligned independently.
    assert.equal(tabwrite('x\ty\nbreak\nlong-long-long\tz\n'), 'x         y\nbreak\nlong-long-long   z\n');
  });

  void it('pads a trailing tab-terminated cell, like Go', () => {
    assert.equal(tabwrite('a\t\nbb\t\n'), 'a         \nbb        \n');
  });

  void it('counts characters, not bytes', () => {
    assert.equal(tabwrite('héllo\tx\nhello\ty\n'), 'héllo     x\nhello     y\n');
  });
});

void describe('renderTable', () => {
  void it('renders records under titled columns', () => {
    const out = renderTable(
      [
        { id: 'f00dfeed1234', name: 'web', status: 'Up 2 hours' },
        { id: 'c0ffee000000', name: 'db-primary', status: 'Exited (0) 3 days ago' },
      ],
      [
        { key: 'id', header: 'CONTAINER ID' },
        { key: 'name', header: 'NAMES' },
        { key: 'status', header: 'STATUS' },
      ],
    );
    assert.equal(
      out,
      [
        'CONTAINER ID   NAMES        STATUS',
        'f00dfeed1234   web          Up 2 hours',
        'c0ffee000000   db-primary   Exited (0) 3 days ago',
        '',
      ].join('\n'),
    );
  });
});
