import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IgnoreMatcher } from './dockerignore.js';

function ign(patterns: string): (p: string) => boolean {
  const m = IgnoreMatcher.parse(patterns);
  return (p) => m.ignores(p);
}

test('plain names and directories (everything below a matched directory)', () => {
  const i = ign('# comment\nnode_modules\n/build/\n*.log\n');
  assert.equal(i('node_modules'), true);
  assert.equal(i('node_modules/x/y.js'), true);
  assert.equal(i('build/out.o'), true);
  assert.equal(i('a.log'), true);
  assert.equal(i('sub/a.log'), false, '* does not cross directories');
  assert.equal(i('src/node_modules'), false, 'patterns are anchored at the context root');
});

test('** matches any number of directories, including none', () => {
  const i = ign('**/*.tmp\ndocs/**/draft\nlogs/**\n');
  assert.equal(i('a.tmp'), true);
  assert.equal(i('x/y/z.tmp'), true);
  assert.equal(i('docs/draft'), true);
  assert.equal(i('docs/a/b/draft'), true);
  assert.equal(i('logs/2024/jan.txt'), true);
  assert.equal(i('docs/draftx'), false);
});

test('! re-includes; the last matching pattern wins', () => {
  const i = ign('*.md\n!README.md\nREADME*.md\n!README-keep.md\n');
  assert.equal(i('CHANGES.md'), true);
  assert.equal(i('README-x.md'), true);
  assert.equal(i('README-keep.md'), false);
  assert.equal(i('README.md'), true, 'README*.md after !README.md excludes it again');
  const j = ign('secret\n!secret/public\n');
  assert.equal(j('secret/key'), true);
  assert.equal(j('secret/public'), false);
  assert.equal(j('secret/public/x'), false);
  assert.equal(IgnoreMatcher.parse('secret\n!secret/public\n').mayReinclude('secret'), true);
  assert.equal(IgnoreMatcher.parse('secret\n!other/x\n').mayReinclude('secret'), false);
});

test('? and character classes; paths are cleaned', () => {
  const i = ign('file?.txt\n[ab].c\n./x/../y\n');
  assert.equal(i('file1.txt'), true);
  assert.equal(i('file12.txt'), false);
  assert.equal(i('a.c'), true);
  assert.equal(i('c.c'), false);
  assert.equal(i('y'), true);
});
