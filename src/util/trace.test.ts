import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTrace, mark, record, span, traceDepth } from './trace.js';

test('off: span only runs the function, nothing is recorded', async () => {
  delete process.env.HULL_TRACE;
  assert.equal(span('sync', () => 41 + 1), 42);
  assert.equal(await span('async', () => Promise.resolve('x')), 'x');
  mark('nothing');
  assert.doesNotMatch(formatTrace(), /sync|async|nothing/);
});

test('on: nested, async and failing spans are timed; marks are points; a failure still ends its span', async () => {
  process.env.HULL_TRACE = '/nonexistent-dir/trace'; // flushed at exit; a failed write is ignored
  try {
    await span('outer', async () => {
      span('inner', () => undefined);
      await new Promise((r) => setTimeout(r, 5));
    });
    mark('point');
    assert.throws(() => span('fails', () => {
      throw new Error('boom');
    }), /boom/);
    await assert.rejects(span('rejects', () => Promise.reject(new Error('no'))), /no/);
    const lines = formatTrace().split('\n');
    const row = (name: string): string[] => lines.find((l) => l.trimEnd().endsWith(name))!.trim().split(/\s+/);
    const outer = row('outer');
    assert.ok(Number(outer[1]) >= 4, `outer took ${outer[1]} ms`);
    assert.match(lines.find((l) => l.endsWith('inner'))!, /\s{2}inner$/, 'inner is indented under outer');
    assert.equal(row('point')[1], '·');
    for (const n of ['fails', 'rejects']) assert.notEqual(row(n)[1], '·', `${n} has a duration`);
    assert.doesNotMatch(lines.find((l) => l.endsWith('point'))!, /^\s*\S+\s+\S+\s+\S+\s{4}/, 'depth is back to 0 after failures');
  } finally {
    delete process.env.HULL_TRACE;
  }
});

test('record: a phase timed elsewhere gets its epoch start, duration, CPU and the depth it was begun at', async () => {
  process.env.HULL_TRACE = '/nonexistent-dir/trace';
  try {
    let depthInside = -1;
    await span('parent', async () => {
      depthInside = traceDepth();
      await new Promise((r) => setTimeout(r, 2));
    });
    const t0 = performance.timeOrigin + performance.now();
    record('elsewhere', t0 - 50, 12.5, 3.25, depthInside);
    const lines = formatTrace().split('\n');
    const line = lines.find((l) => l.endsWith('elsewhere'))!;
    const [at, took, cpu] = line.trim().split(/\s+/).map(Number);
    // No HULL_TRACE_T0 here: the origin is this process's time origin.
    assert.ok(Math.abs(at! - (t0 - 50 - performance.timeOrigin)) < 0.2, `at ${at}`);
    assert.equal(took, 12.5);
    assert.equal(cpu, 3.3);
    assert.match(line, /\s{2}elsewhere$/, 'indented one level, as a child of parent');
  } finally {
    delete process.env.HULL_TRACE;
  }
});

test('gc: collections during a traced command are rows of their own, placed by time', () => {
  // A child with a 1 MiB young generation, so allocating a few MiB inside a span must scavenge.
  const dir = mkdtempSync(join(tmpdir(), 'hull-trace-gc-'));
  try {
    const out = join(dir, 'trace');
    const script = `
      import { span, flushTrace } from ${JSON.stringify(new URL('./trace.js', import.meta.url).href)};
      let keep = [];
      span('allocate', () => { for (let i = 0; i < 200000; i++) keep.push({ i, s: 'x' + i }); });
      // Node delivers gc entries a few event-loop turns later.
      await new Promise((r) => setTimeout(r, 20));
      span('after', () => keep.length);
      flushTrace();`;
    execFileSync(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { env: { ...process.env, HULL_TRACE: out } });
    const rows = readFileSync(out, 'utf8').split('\n').slice(2).filter((l) => l.trim() !== '');
    const names = rows.map((l) => l.trim().split(/\s+/).slice(3).join(' '));
    assert.ok(names.includes('gc: scavenge'), names.join(' | '));
    const at = (i: number): number => Number(rows[i]!.trim().split(/\s+/)[0]);
    for (let i = 1; i < rows.length; i++) assert.ok(at(i) >= at(i - 1) || names[i] === 'exit', `rows in time order: ${rows.join(' | ')}`);
    assert.ok(names.indexOf('gc: scavenge') < names.indexOf('after'), 'the scavenge happened during allocate, before after');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
