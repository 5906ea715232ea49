import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameReader, MAX_DATA_FRAME, encodeFrame, exitStatusOf, requestFrame, stdinFrames } from './exec-frames.js';

test('frames split anywhere in the stream come out whole and in order', () => {
  const stream = Buffer.concat([encodeFrame('O', 'hello'), encodeFrame('E', Buffer.alloc(0)), encodeFrame('X', 'exit 3')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new FrameReader();
    const frames = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
    assert.deepEqual(
      frames.map((f) => [f.type, f.data.toString()]),
      [['O', 'hello'], ['E', ''], ['X', 'exit 3']],
    );
  }
});

test('stdin is cut into frames the guest accepts', () => {
  const frames = stdinFrames(Buffer.alloc(MAX_DATA_FRAME * 2 + 1, 1));
  assert.deepEqual(frames.map((f) => f.readUInt32BE(1)), [MAX_DATA_FRAME, MAX_DATA_FRAME, 1]);
});

test('the request carries the process as NUL-terminated one-letter fields', () => {
  const f = requestFrame({ args: ['sh', '-c', 'x'], env: ['A=1'], cwd: '/w', uid: 5, gid: 6, additionalGids: [7], tty: true, stdin: false, detach: true, size: { rows: 24, cols: 80 } });
  assert.equal(f.toString('latin1', 0, 1), 'P');
  assert.equal(f.readUInt32BE(1), f.length - 5);
  assert.deepEqual(f.subarray(5).toString().split('\0').slice(0, -1), ['ash', 'a-c', 'ax', 'eA=1', 'c/w', 'u5', 'g6', 'G7', 't1', 'i0', 'd1', 'w24 80']);
});

test('exit reports become Docker exit statuses', () => {
  assert.equal(exitStatusOf('exit 0'), 0);
  assert.equal(exitStatusOf('exit 42'), 42);
  assert.equal(exitStatusOf('signal 9'), 137);
  assert.equal(exitStatusOf('garbage'), 255);
});
