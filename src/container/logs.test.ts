import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { followLogs, readLogs, type LogLine } from './logs.js';

const dir = mkdtempSync(join(tmpdir(), 'hull-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const entry = (log: string): string => `${JSON.stringify({ log, stream: 'stdout', time: new Date().toISOString() })}\n`;

test('readLogs leaves a line still being written for the follower, which emits every line once', async () => {
  const path = join(dir, 'a.log');
  const second = entry('two\n');
  writeFileSync(path, entry('one\n') + second.slice(0, 10));
  const read = await readLogs(path, {});
  assert.deepEqual(read.lines.map((l) => l.log), ['one\n']);
  assert.equal(read.liveOffset, Buffer.byteLength(entry('one\n')));
  // The rest of the line and one more arrive after the first read, before following starts.
  appendFileSync(path, second.slice(10) + entry('three\n'));
  const seen: LogLine[] = [];
  let polls = 0;
  await followLogs(path, read.liveOffset, {}, (l) => seen.push(l), () => ++polls > 1);
  assert.deepEqual(seen.map((l) => l.log), ['two\n', 'three\n']);
});

test('readLogs reads rotated files oldest first and applies --tail', async () => {
  const path = join(dir, 'b.log');
  writeFileSync(`${path}.2`, entry('1\n'));
  writeFileSync(`${path}.1`, entry('2\n'));
  writeFileSync(path, entry('3\n') + entry('4\n'));
  assert.deepEqual((await readLogs(path, {})).lines.map((l) => l.log), ['1\n', '2\n', '3\n', '4\n']);
  assert.deepEqual((await readLogs(path, { tail: 3 })).lines.map((l) => l.log), ['2\n', '3\n', '4\n']);
  assert.equal((await readLogs(path, { tail: 0 })).lines.length, 0);
});
