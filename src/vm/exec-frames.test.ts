import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameReader, MAX_DATA_FRAME, encodeFrame, exitStatusOf, newSessionId, requestFrame, stdinFrames } from './exec-frames.js';

const ID = 0x1234abcd;

test('frames split anywhere in the stream come out whole and in order', () => {
  const stream = Buffer.concat([encodeFrame('O', ID, 'hello'), encodeFrame('E', ID, Buffer.alloc(0)), encodeFrame('X', ID, 'exit 3')]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new FrameReader(ID);
    const frames = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
    assert.deepEqual(
      frames.map((f) => [f.type, f.data.toString()]),
      [['O', 'hello'], ['E', ''], ['X', 'exit 3']],
    );
  }
});

test('what an earlier session left on the slot is skipped, even a frame cut in half', () => {
  const other = 0x0badf00d;
  const stale = Buffer.concat([encodeFrame('O', other, 'old output'), encodeFrame('X', other, 'exit 0'), encodeFrame('O', other, 'cut in half').subarray(0, 12)]);
  const mine = Buffer.concat([encodeFrame('O', ID, 'UID PID'), encodeFrame('X', ID, 'exit 0')]);
  const stream = Buffer.concat([stale, mine]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new FrameReader(ID);
    const frames = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
    assert.deepEqual(
      frames.map((f) => [f.type, f.data.toString()]),
      [['O', 'UID PID'], ['X', 'exit 0']],
      `cut at ${cut}`,
    );
    assert.equal(r.skipped, stale.length);
  }
});

test('session ids are never 0 and differ between sessions', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => newSessionId()));
  assert.ok(!ids.has(0));
  assert.ok(ids.size > 990);
});

test('stdin is cut into frames the guest accepts', () => {
  const frames = stdinFrames(ID, Buffer.alloc(MAX_DATA_FRAME * 2 + 1, 1));
  assert.deepEqual(frames.map((f) => f.readUInt32BE(5)), [MAX_DATA_FRAME, MAX_DATA_FRAME, 1]);
  assert.deepEqual(frames.map((f) => f.readUInt32BE(1)), [ID, ID, ID]);
});

test('the request carries the session id and the process as NUL-terminated one-letter fields', () => {
  const f = requestFrame(ID, { args: ['sh', '-c', 'x'], env: ['A=1'], cwd: '/w', uid: 5, gid: 6, additionalGids: [7], tty: true, stdin: false, detach: true, size: { rows: 24, cols: 80 } });
  assert.equal(f.toString('latin1', 0, 1), 'P');
  assert.equal(f.readUInt32BE(1), ID);
  assert.equal(f.readUInt32BE(5), f.length - 9);
  assert.deepEqual(f.subarray(9).toString().split('\0').slice(0, -1), ['ash', 'a-c', 'ax', 'eA=1', 'c/w', 'u5', 'g6', 'G7', 't1', 'i0', 'd1', 'w24 80']);
});

test('exit reports become Docker exit statuses', () => {
  assert.equal(exitStatusOf('exit 0'), 0);
  assert.equal(exitStatusOf('exit 42'), 42);
  assert.equal(exitStatusOf('signal 9'), 137);
  assert.equal(exitStatusOf('garbage'), 255);
});
