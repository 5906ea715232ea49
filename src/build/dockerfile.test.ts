import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDockerfile } from './dockerfile.js';

test('directives, comments and continuations', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\n# a comment\nFROM busybox\nRUN echo a `\n  # inside\n\n  b\nENV A=1\n');
  assert.equal(df.escape, '`');
  assert.equal(df.syntax, 'docker/dockerfile:1');
  assert.deepEqual(
    df.instructions.map((i) => [i.cmd, i.line, i.args]),
    [
      ['from', 4, ['busybox']],
      ['run', 5, ['echo a   b']],
      ['env', 9, ['A', '1']],
    ],
  );
});

test('a directive after a comment is a comment; the backslash stays literal with escape=`', () => {
  const df = parseDockerfile('# hello\n# escape=`\nFROM x\nRUN dir c:\\\n');
  assert.equal(df.escape, '\\');
  const df2 = parseDockerfile('# escape=`\nFROM x\nRUN dir c:\\\n');
  assert.deepEqual(df2.instructions[1]!.args, ['dir c:\\']);
});

test('JSON and shell forms; invalid JSON falls back to the shell form', () => {
  const df = parseDockerfile('FROM x\nCMD ["a", "b c"]\nENTRYPOINT echo hi\nRUN [not json\nSHELL ["/bin/ash", "-eo", "pipefail", "-c"]\n');
  const [, cmd, ep, run, shell] = df.instructions;
  assert.deepEqual([cmd!.json, cmd!.args], [true, ['a', 'b c']]);
  assert.deepEqual([ep!.json, ep!.args], [false, ['echo hi']]);
  assert.deepEqual([run!.json, run!.args], [false, ['[not json']]);
  assert.deepEqual(shell!.args, ['/bin/ash', '-eo', 'pipefail', '-c']);
});

test('flags, keywords case-insensitive, FROM AS', () => {
  const df = parseDockerfile('from --platform=linux/amd64 busybox as Build\ncopy --from=build --chown=1:2 a b /c/\n');
  assert.deepEqual(df.instructions[0]!.flags, { platform: ['linux/amd64'] });
  assert.deepEqual(df.instructions[0]!.args, ['busybox', 'as', 'Build']);
  assert.deepEqual(df.instructions[1]!.flags, { from: ['build'], chown: ['1:2'] });
  assert.deepEqual(df.instructions[1]!.args, ['a', 'b', '/c/']);
});

test('ENV and LABEL: pairs keep their quotes for the lexer; the legacy one-pair form', () => {
  const df = parseDockerfile('FROM x\nENV A="a b" B=c\\ d\nENV LEGACY value with spaces\nLABEL "k 1"=v\n');
  assert.deepEqual(df.instructions[1]!.args, ['A', '"a b"', 'B', 'c\\ d']);
  assert.deepEqual(df.instructions[2]!.args, ['LEGACY', 'value with spaces']);
  assert.deepEqual(df.instructions[3]!.args, ['"k 1"', 'v']);
});

test('heredocs: bodies, <<- tab stripping, quoted delimiters, several on one line', () => {
  const df = parseDockerfile('FROM x\nRUN <<EOF\necho a\n  echo b\nEOF\nRUN <<-"END" cat > /f\n\tline $X\n\tEND\nCOPY <<A <<B /dir/\nfirst\nA\nsecond\nB\nCMD ["x"]\n');
  const [, r1, r2, cp, cmd] = df.instructions;
  assert.deepEqual(r1!.heredocs, [{ name: 'EOF', content: 'echo a\n  echo b\n', expand: true, chomp: false }]);
  assert.deepEqual(r2!.heredocs, [{ name: 'END', content: 'line $X\n', expand: false, chomp: true }]);
  assert.deepEqual(cp!.heredocs.map((h) => [h.name, h.content]), [['A', 'first\n'], ['B', 'second\n']]);
  assert.equal(cmd!.line, 14);
});

test('syntax errors name the line', () => {
  assert.throws(() => parseDockerfile('FROM x\n\nBOGUS y\n'), /dockerfile parse error on line 3: unknown instruction: BOGUS/);
  assert.throws(() => parseDockerfile('FROM x\nCOPY onlyone\n'), /line 2: COPY requires at least two arguments/);
  assert.throws(() => parseDockerfile('FROM a b\n'), /line 1: FROM requires either one or three arguments/);
  assert.throws(() => parseDockerfile('FROM x\nRUN <<EOF\nnever ends\n'), /line 2: unterminated heredoc EOF/);
  assert.throws(() => parseDockerfile('FROM x\nSHELL /bin/sh -c\n'), /line 2: SHELL requires the arguments to be in JSON form/);
  assert.throws(() => parseDockerfile('# escape=x\nFROM x\n'), /line 1: invalid escape token/);
});
