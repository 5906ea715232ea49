import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isHullError } from '../util/errors.js';
import {
  classifyRuntimeError,
  ContainerStartError,
  encodeFrame,
  encodeResize,
  FRAME,
  FrameDecoder,
  isMonitorAlive,
  monitorArgs,
  monitorPath,
  readExit,
  waitExit,
} from './monitor.js';

void describe('attach framing', () => {
  void it('encodes [type][uint32 BE length][payload]', () => {
    assert.deepEqual([...encodeFrame(FRAME.stdin, Buffer.from('hi'))], [0, 0, 0, 0, 2, 0x68, 0x69]);
    assert.deepEqual([...encodeFrame(FRAME.closeStdin)], [3, 0, 0, 0, 0]);
    assert.deepEqual([...encodeResize(24, 80)], [4, 0, 0, 0, 4, 0, 24, 0, 80]);
    assert.deepEqual([...encodeResize(70000, -1)].slice(5), [0xff, 0xff, 0, 0]);
  });

  void it('decodes frames split at any byte, and several in one chunk', () => {
    const stream = Buffer.concat([encodeFrame(1, Buffer.from('hello')), encodeFrame(2, Buffer.from('')), encodeFrame(2, Buffer.from('err'))]);
    for (let step = 1; step <= stream.length; step++) {
      const d = new FrameDecoder();
      const got: string[] = [];
      for (let i = 0; i < stream.length; i += step) {
        for (const f of d.push(stream.subarray(i, i + step))) got.push(`${f.type}:${f.payload.toString()}`);
      }
      assert.deepEqual(got, ['1:hello', '2:', '2:err'], `step ${step}`);
    }
  });
});

void describe("runtime errors, mapped as Docker's daemon maps them", () => {
  void it('not found → 127, permission denied → 126, anything else → a runtime error', () => {
    assert.equal(classifyRuntimeError('runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH'), 'command-not-found');
    assert.equal(classifyRuntimeError('exec: "/x": stat /x: no such file or directory'), 'command-not-found');
    assert.equal(classifyRuntimeError('exec: "/etc/passwd": permission denied'), 'permission-denied');
    assert.equal(classifyRuntimeError('cgroup: cannot write memory.limit_in_bytes: device or resource busy'), 'runtime');
  });

  void it('ContainerStartError carries the status and an HTTP status like the Engine API', () => {
    const e = new ContainerStartError('exec: "nope": executable file not found in $PATH');
    assert.ok(isHullError(e, 'INVALID_ARGUMENT'));
    assert.equal(e.status, 400);
    assert.equal(e.exitStatus, 127);
    assert.equal(e.message, 'OCI runtime create failed: exec: "nope": executable file not found in $PATH');
    const other = new ContainerStartError('something broke');
    assert.equal(other.exitStatus, undefined);
    assert.equal(other.status, 500);
  });
});

void describe('monitor command line', () => {
  void it('passes every option the monitor knows', () => {
    const args = monitorArgs({
      id: 'c1',
      bundle: '/b',
      runtime: 'runc',
      runtimeRoot: '/r',
      stateDir: '/s',
      terminal: true,
      stdin: true,
      logPath: '/s/log',
      logMaxSize: 1000,
      logMaxFiles: 3,
      exitCommand: ['/usr/bin/hull', 'cleanup', 'c1'],
      timeoutCreateSeconds: 30,
    });
    assert.deepEqual(args, [
      '--id', 'c1', '--bundle', '/b', '--runtime', 'runc', '--runtime-root', '/r', '--state-dir', '/s', '--sync-fd', '3',
      '--terminal', '--stdin', '--log-path', '/s/log', '--log-max-size', '1000', '--log-max-files', '3',
      '--exit-command', '/usr/bin/hull', '--exit-arg', 'cleanup', '--exit-arg', 'c1', '--timeout-create', '30',
    ]);
    const minimal = monitorArgs({ id: 'c', bundle: '/b', runtime: 'runc', runtimeRoot: '/r', stateDir: '/s', timeoutCreateSeconds: 0 });
    assert.ok(!minimal.includes('--log-path') && !minimal.includes('--timeout-create') && !minimal.includes('--terminal'));
  });

  void it('the binary lives under the package root', () => {
    assert.match(monitorPath(), /\/build\/hull-monitor$/);
  });
});

void describe('exit records', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hull-monitor-unit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('readExit: undefined until written, then the fields; a torn file is STATE_CORRUPT', async () => {
    assert.equal(readExit(dir), undefined);
    await writeFile(join(dir, 'exit.json'), '{"exitCode":137,"signal":9,"oomKilled":true,"finishedAt":"2026-01-01T00:00:00.000000001Z"}\n');
    assert.deepEqual(readExit(dir), { exitCode: 137, signal: 9, oomKilled: true, finishedAt: '2026-01-01T00:00:00.000000001Z' });
    await writeFile(join(dir, 'exit.json'), '{"exitCode":');
    assert.throws(() => readExit(dir), (e: unknown) => isHullError(e, 'STATE_CORRUPT'));
    await rm(join(dir, 'exit.json'));
  });

  void it('waitExit resolves when the file appears, and honours an abort signal', async () => {
    const pending = waitExit(dir);
    // As the monitor writes it: a temp file renamed into place.
    setTimeout(() => {
      void writeFile(join(dir, '.exit.json.tmp'), '{"exitCode":0,"signal":null,"oomKilled":false,"finishedAt":"x"}').then(() => rename(join(dir, '.exit.json.tmp'), join(dir, 'exit.json')));
    }, 100);
    assert.equal((await pending).exitCode, 0);
    await rm(join(dir, 'exit.json'));
    const ac = new AbortController();
    const aborted = waitExit(dir, ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
  });

  void it('waitExit with a monitor pid that is not a live monitor fails instead of waiting forever', async () => {
    await assert.rejects(waitExit(dir, undefined, process.pid), (e: unknown) => isHullError(e, 'STATE_CORRUPT'));
  });

  void it('isMonitorAlive checks the process name, not just the pid', () => {
    assert.equal(isMonitorAlive(process.pid), false);
    assert.equal(isMonitorAlive(2 ** 22 + 1), false);
  });
});
