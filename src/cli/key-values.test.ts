import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyValueFlags, labelList } from './key-values.js';

test('key=value flags: later keys win, values may hold =', () => {
  assert.deepEqual(keyValueFlags(['a=1', 'b=x=y', 'a=2'], '--opt'), { a: '2', b: 'x=y' });
  assert.deepEqual(keyValueFlags(undefined, '--opt'), {});
});

test('a bare key is an empty label, and an error for every other flag', () => {
  assert.deepEqual(keyValueFlags(['flag'], '--label'), { flag: '' });
  assert.throws(() => keyValueFlags(['flag'], '--opt'), /invalid argument "flag" for "--opt" flag: flag is not a key=value pair/);
  assert.throws(() => keyValueFlags(['=v'], '--label'), /"=v" for "--label"/);
});

test('labels print as Docker lists them', () => {
  assert.equal(labelList({ a: '1', b: '' }), 'a=1,b=');
  assert.equal(labelList({}), '');
});
