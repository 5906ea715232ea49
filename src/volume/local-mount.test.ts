import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMountOptions } from './local-mount.js';

test('o= words: flags set and cleared, the rest is filesystem data', () => {
  assert.deepEqual(parseMountOptions('size=64m,uid=1000'), { flags: 0, data: 'size=64m,uid=1000' });
  assert.deepEqual(parseMountOptions('bind'), { flags: 4096, data: '' });
  assert.deepEqual(parseMountOptions('rbind,ro,nosuid'), { flags: 4096 | 16384 | 1 | 2, data: '' });
  assert.deepEqual(parseMountOptions('ro,rw,addr=10.0.0.1'), { flags: 0, data: 'addr=10.0.0.1' });
  assert.deepEqual(parseMountOptions(''), { flags: 0, data: '' });
});
