import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exitLine, parseRequest } from './protocol.js';

const req = (fields: string[]): Buffer => Buffer.from(fields.map((f) => `${f}\0`).join(''));

void describe('CLI server protocol', () => {
  test('parses argv, environment and cwd as the client sends them', () => {
    const r = parseRequest(req(['2', 'run', '--env-file=x', '3', 'A=1', 'B=x=y', 'NOEQ', '/home/u']));
    assert.deepEqual(r, { args: ['run', '--env-file=x'], env: { A: '1', B: 'x=y' }, cwd: '/home/u' });
  });

  test('empty argv and environment', () => {
    assert.deepEqual(parseRequest(req(['0', '0', '/'])), { args: [], env: {}, cwd: '/' });
  });

  test('a truncated or malformed request is an error, never a half-read command', () => {
    assert.throws(() => parseRequest(req(['2', 'run'])), /truncated/);
    assert.throws(() => parseRequest(req(['x', '0', '/'])), /malformed/);
  });

  test('status lines: exit code, or the signal that killed the worker', () => {
    assert.equal(exitLine(3, undefined), 'E 3\n');
    assert.equal(exitLine(null, 15), 'S 15\n');
    assert.equal(exitLine(null, undefined), 'E 125\n');
  });
});
