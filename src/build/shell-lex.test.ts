import assert from 'node:assert/strict';
import { test } from 'node:test';
import { processWord, processWords } from './shell-lex.js';

const env = new Map([
  ['A', 'apple'],
  ['EMPTY', ''],
  ['SP', 'a b'],
]);

test('variables: $X, ${X}, unset is empty, a lone $ stays', () => {
  assert.equal(processWord('$A-${A}x$NOPE$', env), 'apple-applex$');
});

test('modifiers: :- - :+ + with set, empty and unset variables', () => {
  assert.equal(processWord('${A:-d}|${EMPTY:-d}|${NOPE:-d}', env), 'apple|d|d');
  assert.equal(processWord('${A-d}|${EMPTY-d}|${NOPE-d}', env), 'apple||d');
  assert.equal(processWord('${A:+alt}|${EMPTY:+alt}|${NOPE:+alt}', env), 'alt||');
  assert.equal(processWord('${A+alt}|${EMPTY+alt}|${NOPE+alt}', env), 'alt|alt|');
  assert.equal(processWord('${NOPE:-${A}/x}', env), 'apple/x');
  assert.throws(() => processWord('${NOPE:?must be set}', env), /NOPE: must be set/);
  assert.throws(() => processWord('${A%%x}', env), /unsupported modifier/);
});

test('quotes: single literal, double expands, escapes', () => {
  assert.equal(processWord(`'$A'"$A"\\$A`, env), '$Aapple$A');
  assert.equal(processWord('"a \\"q\\" \\n"', env), 'a "q" \\n');
  assert.equal(processWord('"$SP"', env), 'a b');
});

test('words split on unquoted whitespace only, after expansion of quoted parts', () => {
  assert.deepEqual(processWords('a "b c" $SP', env), ['a', 'b c', 'a b']);
  assert.deepEqual(processWords('80/tcp   ${NOPE:-53}/udp', env), ['80/tcp', '53/udp']);
});

test('the escape character follows the directive', () => {
  assert.equal(processWord('`$A', env, '`'), '$A');
  assert.equal(processWord('c:\\dir', env, '`'), 'c:\\dir');
});

test('unterminated quotes are errors', () => {
  assert.throws(() => processWord('"abc', env), /double-quote/);
  assert.throws(() => processWord("'abc", env), /single-quote/);
});
