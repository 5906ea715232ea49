/**
 * hull-monitor against the real runc: a busybox bundle built from the host's static busybox and
 * buildSpec's config (Docker's defaults), the monitor started through the TypeScript driver,
 * `runc start` run by the test as the engine will. Every test checks that its monitor is gone
 * and runc knows nothing of its container afterwards.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { attach, ContainerStartError, isMonitorAlive, monitorPath, prespawnMonitor, readExit, startMonitor, startThroughMonitor, waitExit } from '../../src/container/monitor.js';
import type { MonitorOptions, MonitorStarted } from '../../src/container/monitor.js';
import { filterHelperPath, loadThroughHelper } from '../../src/container/seccomp-filter.js';
import { DEFAULT_CAPABILITIES } from '../../src/container/spec/capabilities.js';
import type { OciSpec } from '../../src/container/spec/oci-types.js';
import { DEFAULT_SECCOMP_PROFILE } from '../../src/container/spec/seccomp-profile.js';
import { seccompForContainer } from '../../src/container/spec/seccomp.js';
import { buildSpec, cgroupsPathFor } from '../../src/container/spec/spec.js';
import type { ResourceLimits } from '../../src/container/spec/spec.js';
import { formatTrace } from '../../src/util/trace.js';

const execFileP = promisify(execFile);
const RUNC = 'runc';
const BUSYBOX = '/bin/busybox';

const haveRunc = spawnSync(RUNC, ['--version']).status === 0;
const canRun = haveRunc && process.getuid?.() === 0 && existsSync(BUSYBOX) && existsSync(monitorPath());
const skip = canRun ? false : 'needs root, runc, /bin/busybox and build/hull-monitor';

let work: string;
let rootfs: string;
let runtimeRoot: string;
let baseline: number;
/** Containers a test created, deleted in afterEach whatever happened. */
let ids: string[] = [];
let monitors: number[] = [];

/** Monitors on the host, by name, as `ps` would count them. */
/** Live monitors of this test file (under its work directory): other processes on the machine run monitors too. */
function monitorCount(): number {
  return readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p) || !isMonitorAlive(Number(p))) return false;
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(`${work}/`);
    } catch {
      return false;
    }
  }).length;
}

async function runc(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(RUNC, ['--root', runtimeRoot, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function makeRootfs(dir: string): Promise<void> {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root']) await mkdir(join(dir, d), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  const list = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const applet of list) await symlink('busybox', join(dir, 'bin', applet));
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

interface ContainerSpec {
  args: string[];
  terminal?: boolean;
  resources?: ResourceLimits;
}

let seq = 0;

/** A bundle (config.json pointing at the shared rootfs) and a state dir for a new container. */
async function prepare(spec: ContainerSpec): Promise<{ id: string; bundle: string; stateDir: string }> {
  const id = `hm${process.pid}-${++seq}`;
  const bundle = join(work, id, 'bundle');
  const stateDir = join(work, id, 'state');
  await mkdir(bundle, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const config = buildSpec({
    rootfs,
    // Every container shares the rootfs; none writes to it.
    readonlyRootfs: true,
    process: { args: spec.args, env: ['PATH=/bin', 'HOME=/root', ...(spec.terminal ? ['TERM=xterm'] : [])], user: { uid: 0, gid: 0, additionalGids: [0] }, terminal: spec.terminal ?? false },
    hostname: id,
    capabilities: DEFAULT_CAPABILITIES,
    seccomp: seccompForContainer(DEFAULT_SECCOMP_PROFILE, { capabilities: DEFAULT_CAPABILITIES }),
    cgroupsPath: cgroupsPathFor(id),
    network: 'none',
    ...(spec.resources ? { resources: spec.resources } : {}),
  });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  ids.push(id);
  return { id, bundle, stateDir };
}

function options(c: { id: string; bundle: string; stateDir: string }, extra: Partial<MonitorOptions> = {}): MonitorOptions {
  return { id: c.id, bundle: c.bundle, runtime: RUNC, runtimeRoot, stateDir: c.stateDir, logPath: join(c.stateDir, 'container.log'), ...extra };
}

async function start(c: { id: string; bundle: string; stateDir: string }, extra: Partial<MonitorOptions> = {}): Promise<MonitorStarted> {
  const started = await startMonitor(options(c, extra));
  monitors.push(started.monitorPid);
  return started;
}

async function runcStart(id: string): Promise<void> {
  const r = await runc('start', id);
  assert.equal(r.code, 0, `runc start: ${r.stderr}`);
}

/** The monitor has exited and runc has forgotten the container. */
async function assertGone(id: string, monitorPid: number, stateDir: string): Promise<void> {
  await until('the monitor to exit', () => !isMonitorAlive(monitorPid));
  const state = await runc('state', id);
  assert.notEqual(state.code, 0, 'runc still knows the container');
  assert.ok(!existsSync(join(stateDir, 'attach')), 'attach socket left behind');
  assert.ok(!existsSync(join(stateDir, 'pid')), 'pid file left behind');
}

interface LogLine {
  log: string;
  stream: string;
  time: string;
}
function parseLog(text: string): LogLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);
}

class Collect extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function pss(pid: number): string {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const get = (k: string) => /^(\w+):\s+(\d+) kB/m.exec(rollup.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[2] ?? '?';
    return `Pss ${get('Pss')} kB (anon ${get('Pss_Anon')} kB, file ${get('Pss_File')} kB)`;
  } catch {
    return 'unavailable';
  }
}

void describe('hull-monitor with runc', { skip }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hm-'));
    rootfs = join(work, 'rootfs');
    runtimeRoot = join(work, 'runc');
    await makeRootfs(rootfs);
    await mkdir(runtimeRoot, { recursive: true });
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    baseline = monitorCount();
    ids = [];
    monitors = [];
  });

  afterEach(async () => {
    for (const id of ids) await runc('delete', '--force', id);
    for (const pid of monitors) {
      if (isMonitorAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    // Every test's monitors are gone again, whatever it did.
    await until('the monitor count to return to its baseline', () => monitorCount() <= baseline);
  });

  void it('reports where its start-up went: HULL_TRACE rows for itself and runtime create', async () => {
    const c = await prepare({ args: ['true'] });
    process.env.HULL_TRACE = '/nonexistent-dir/trace'; // rows kept in memory; the flush at exit fails quietly
    let m: MonitorStarted;
    try {
      m = await start(c);
    } finally {
      delete process.env.HULL_TRACE;
    }
    const rows = formatTrace().split('\n');
    const row = (re: RegExp): number[] => {
      const line = rows.find((l) => re.test(l));
      assert.ok(line, `a row matching ${re}:\n${rows.join('\n')}`);
      return line.trim().split(/\s+/).slice(0, 3).map((v) => (v === '·' ? Number.NaN : Number(v)));
    };
    const daemon = row(/monitor: start, daemonize$/);
    const create = row(/runtime create \(cpu: runtime [\d.]+ \+ its init [\d.]+\)$/);
    const report = row(/monitor: pid file, attach socket, report$/);
    assert.ok(daemon[0]! <= create[0]! && create[0]! <= report[0]!, 'in order');
    // runc's setup inside the container (seccomp above all) takes real CPU in the init.
    const initCpu = Number(/its init ([\d.]+)/.exec(rows.find((l) => l.includes('its init'))!)![1]);
    assert.ok(initCpu > 0 && create[2]! >= initCpu, `init cpu ${initCpu}, row cpu ${create[2]}`);
    assert.ok(create[1]! > 0);
    await runcStart(c.id);
    assert.equal((await waitExit(c.stateDir, undefined, m.monitorPid)).exitCode, 0);
  });

  void it('a prespawned monitor (--args-fd) takes the next start: arguments and environment as of that start', async () => {
    prespawnMonitor();
    const c = await prepare({ args: ['true'] });
    const marker = join(c.stateDir, 'exit-command-env');
    process.env.HULL_TRACE = '/nonexistent-dir/trace';
    const before = formatTrace();
    process.env.HULL_MONITOR_TEST_VALUE = 'as-of-the-start';
    let m: MonitorStarted;
    try {
      m = await start(c, { exitCommand: ['/bin/sh', '-c', `echo "$HULL_MONITOR_TEST_VALUE" > ${marker}`] });
    } finally {
      delete process.env.HULL_TRACE;
      delete process.env.HULL_MONITOR_TEST_VALUE;
    }
    // This start's rows: the trace holds every earlier test's too.
    const rows = formatTrace().slice(before.length);
    assert.match(rows, /monitor: prespawned, handed its arguments/);
    assert.doesNotMatch(rows, /monitor: spawn \(fork/, 'no spawn of this process on the start path');
    // Found as any monitor is: by its name and by its command line.
    assert.ok(isMonitorAlive(m.monitorPid), 'named hull-monitor');
    assert.ok(readFileSync(`/proc/${m.monitorPid}/cmdline`, 'latin1').includes(`--id\0${c.id}\0`), 'its real command line');
    assert.ok(readFileSync(`/proc/${m.monitorPid}/environ`, 'latin1').includes('\0HULL_MONITOR_TEST_VALUE=as-of-the-start\0'), 'its environment as of the start');
    // Taken in place: the process spawned ahead (already in a session of its own) is the monitor,
    // still this process's child, not a daemonized grandchild.
    const stat = readFileSync(`/proc/${m.monitorPid}/stat`, 'utf8');
    assert.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), process.pid, 'no daemonizing fork');
    assert.equal(await startThroughMonitor(c.stateDir), 'started');
    assert.equal((await waitExit(c.stateDir, undefined, m.monitorPid)).exitCode, 0);
    await assertGone(c.id, m.monitorPid, c.stateDir);
    await until('the exit command', () => existsSync(marker));
    assert.equal((await readFile(marker, 'utf8')).trim(), 'as-of-the-start');
    // Never used (its caller ended) or cut short: it exits at once, doing nothing.
    for (const input of ['', '100\n--id\0x']) {
      const r = spawnSync(monitorPath(), ['--args-fd', '0'], { input, timeout: 10_000 });
      assert.equal(r.status, 0, `input ${JSON.stringify(input)}: ${r.stderr.toString()}`);
    }
  });

  void it('logs stdout and stderr as json-file lines, records the exit status, then cleans up', async () => {
    const c = await prepare({ args: ['sh', '-c', 'echo hi; echo err >&2; exit 3'] });
    const marker = join(c.stateDir, 'exit-command-ran');
    const m = await start(c, { exitCommand: ['/bin/sh', '-c', `echo "$0 $1" > ${marker}`, 'a', 'b'] });
    assert.ok(m.pid > 0 && m.monitorPid > 0);
    assert.ok(existsSync(join(c.stateDir, 'attach')));
    assert.equal((await runc('state', c.id)).stdout.includes('"created"'), true);
    await runcStart(c.id);

    const exit = await waitExit(c.stateDir, undefined, m.monitorPid);
    assert.equal(exit.exitCode, 3);
    assert.equal(exit.signal, null);
    assert.equal(exit.oomKilled, false);
    assert.match(exit.finishedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    const lines = parseLog(await readFile(join(c.stateDir, 'container.log'), 'utf8'));
    assert.deepEqual(
      lines.map(({ log, stream }) => ({ log, stream })).sort((a, b) => a.stream.localeCompare(b.stream)),
      [
        { log: 'err\n', stream: 'stderr' },
        { log: 'hi\n', stream: 'stdout' },
      ],
    );
    for (const l of lines) assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    await assertGone(c.id, m.monitorPid, c.stateDir);
    await until('the exit command', () => existsSync(marker));
    assert.equal((await readFile(marker, 'utf8')).trim(), 'a b');
  });

  void it('an attached client that claims the exit (frame 5, then exit-handled): no exit command', async () => {
    const c = await prepare({ args: ['true'] });
    const marker = join(c.stateDir, 'exit-command-ran');
    const m = await start(c, { exitCommand: ['/bin/sh', '-c', `touch ${marker}`] });
    const a = await attach(c.stateDir, { stdout: new Collect(), stderr: new Collect(), tty: false, claimExit: true });
    await runcStart(c.id);
    assert.equal((await a.done)?.exitCode, 0);
    // What the engine's `exited` does first.
    await writeFile(join(c.stateDir, 'exit-handled'), '', { flag: 'wx' });
    await assertGone(c.id, m.monitorPid, c.stateDir);
    // The monitor spawns its exit command just before it exits; give a spawned one time to show.
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(!existsSync(marker), 'the exit command ran although the exit was claimed');
  });

  void it('a client that announced the claim but died without claiming: the exit command still runs', async () => {
    const c = await prepare({ args: ['true'] });
    const marker = join(c.stateDir, 'exit-command-ran');
    const m = await start(c, { exitCommand: ['/bin/sh', '-c', `touch ${marker}`] });
    // Another process announces (frame 5 with its own pid) and exits at once.
    const announce = String.raw`
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack('>BII', 5, 4, os.getpid()))
s.close()
`;
    await execFileP('python3', ['-c', announce, join(c.stateDir, 'attach')]);
    await runcStart(c.id);
    await waitExit(c.stateDir, undefined, m.monitorPid);
    await assertGone(c.id, m.monitorPid, c.stateDir);
    await until('the exit command', () => existsSync(marker));
  });

  void it("the container inherits none of the monitor's ignored or blocked signals", async () => {
    const c = await prepare({ args: ['cat', '/proc/self/status'] });
    const m = await start(c);
    const out = new Collect();
    const a = await attach(c.stateDir, { stdout: out, stderr: new Collect(), tty: false });
    await runcStart(c.id);
    assert.equal((await a.done)?.exitCode, 0);
    assert.match(out.text(), /^SigBlk:\s+0+$/m);
    assert.match(out.text(), /^SigIgn:\s+0+$/m);
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it("writes Docker's json-file encoding: escapes, invalid UTF-8, 16 KiB partial lines, an unterminated tail", async () => {
    const script = [
      `printf 'tab\\there <&> "q" \\\\ \\001\\n'`,
      `printf 'bad \\377\\376 utf8 \\342\\202\\254\\n'`,
      // 20000 bytes then a newline: Docker logs 16384 bytes without \n, then the rest with it.
      `head -c 20000 /dev/zero | tr '\\0' a; echo`,
      `printf 'no newline'`,
    ].join('; ');
    const c = await prepare({ args: ['sh', '-c', script] });
    const m = await start(c);
    await runcStart(c.id);
    assert.equal((await waitExit(c.stateDir)).exitCode, 0);
    const raw = await readFile(join(c.stateDir, 'container.log'), 'utf8');
    const lines = parseLog(raw);
    assert.equal(lines.length, 5, lines.map((l) => `${l.log.length}:${JSON.stringify(l.log.slice(-20))}`).join(' | '));
    assert.equal(lines[0]!.log, 'tab\there <&> "q" \\ \u0001\n');
    assert.ok(raw.includes('\\u003c\\u0026\\u003e'), 'Docker escapes <, & and > like Go');
    assert.equal(lines[1]!.log, 'bad \ufffd\ufffd utf8 \u20ac\n');
    assert.equal(lines[2]!.log, 'a'.repeat(16384));
    assert.equal(lines[3]!.log, `${'a'.repeat(20000 - 16384)}\n`);
    assert.equal(lines[4]!.log, 'no newline');
    assert.ok(lines.every((l) => l.stream === 'stdout'));
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('an attach before start receives all the output, with streams kept apart', async () => {
    const c = await prepare({ args: ['sh', '-c', 'for i in $(seq 1 2000); do echo "out $i"; echo "err $i" >&2; done; exit 0'] });
    const m = await start(c);
    const out = new Collect();
    const err = new Collect();
    const a = await attach(c.stateDir, { stdout: out, stderr: err, tty: false });
    await runcStart(c.id);
    const exit = await a.done;
    assert.equal(exit?.exitCode, 0, 'done resolves with the recorded exit');
    const expect = (p: string) => Array.from({ length: 2000 }, (_, i) => `${p} ${i + 1}\n`).join('');
    assert.equal(out.text(), expect('out'));
    assert.equal(err.text(), expect('err'));
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('stdin through attach: cat echoes it, and the end of input closes the container stdin', async () => {
    const c = await prepare({ args: ['sh', '-c', 'cat; echo cat-done'] });
    const m = await start(c, { stdin: true });
    const input = new PassThrough();
    const out = new Collect();
    const a = await attach(c.stateDir, { stdin: input, stdout: out, stderr: new Collect(), tty: false });
    await runcStart(c.id);
    input.write('hello\n');
    await until('the echo', () => out.text() === 'hello\n');
    // A big write exercises the monitor's backpressure on the container's stdin pipe.
    const big = 'x'.repeat(300_000) + '\n';
    input.write(big);
    input.end();
    const exit = await a.done;
    assert.equal(exit?.exitCode, 0);
    assert.equal(out.text(), `hello\n${big}cat-done\n`);
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('closeStdin() ends the input of a container whose attach client keeps its stdin open', async () => {
    const c = await prepare({ args: ['sh', '-c', 'wc -c'] });
    const m = await start(c, { stdin: true });
    const input = new PassThrough();
    const out = new Collect();
    const a = await attach(c.stateDir, { stdin: input, stdout: out, stderr: new Collect(), tty: false, closeStdinOnEnd: false });
    await runcStart(c.id);
    input.write('12345');
    await new Promise((r) => setTimeout(r, 200));
    a.closeStdin();
    const exit = await a.done;
    assert.equal(exit?.exitCode, 0);
    assert.equal(out.text().trim(), '5');
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('serves several clients at once losslessly; one that stops reading is dropped after the stall limit', async () => {
    // 8 MiB of output, far more than a socket buffer plus the monitor's per-client queue.
    const c = await prepare({ args: ['sh', '-c', 'head -c 8388608 /dev/zero | tr "\\0" x; echo; echo end'] });
    const m = await start(c, { logPath: undefined });
    const fast = new Collect();
    const fast2 = new Collect();
    // A writer that never completes a write: the client pauses its socket and never reads again.
    const stuck = new Writable({ write: () => {}, highWaterMark: 1 });
    const a1 = await attach(c.stateDir, { stdout: fast, stderr: new Collect(), tty: false });
    const a2 = await attach(c.stateDir, { stdout: fast2, stderr: new Collect(), tty: false });
    const slow = await attach(c.stateDir, { stdout: stuck, stderr: new Collect(), tty: false });
    const t0 = Date.now();
    await runcStart(c.id);
    const exit = await waitExit(c.stateDir, AbortSignal.timeout(20_000), m.monitorPid);
    assert.equal(exit.exitCode, 0);
    await a1.done;
    await a2.done;
    for (const out of [fast, fast2]) {
      const text = out.text();
      assert.equal(text.length, 8388608 + 5);
      assert.ok(text.endsWith('x\nend\n'));
    }
    // The stuck client held the container up for the monitor's stall limit (5 s), no longer.
    assert.ok(Date.now() - t0 < 9000, `took ${Date.now() - t0} ms`);
    slow.detach();
    assert.equal(await slow.done, undefined);
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('--timeout-create: a runtime that hangs is killed and reported', async () => {
    const fake = join(work, 'hanging-runtime');
    // `create` hangs; `delete` (the monitor's cleanup) succeeds.
    await writeFile(fake, '#!/bin/sh\nfor a; do [ "$a" = delete ] && exit 0; done\nexec sleep 100\n', { mode: 0o755 });
    const c = await prepare({ args: ['true'] });
    const t0 = Date.now();
    await assert.rejects(startMonitor(options(c, { runtime: fake, timeoutCreateSeconds: 1 })), (e: Error) => {
      assert.ok(e instanceof ContainerStartError);
      assert.match(e.message, /timed out after 1 seconds/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    await until('monitors to exit', () => monitorCount() <= baseline);
  });

  void it('--terminal: resize sets the pty size that stty reports; everything is stdout', async () => {
    // Waits for a line, so the resize (sent first on the same connection) is applied by then.
    const c = await prepare({ args: ['sh', '-c', 'read x; stty size; echo to-stderr >&2'], terminal: true });
    const m = await start(c, { terminal: true, stdin: true });
    const input = new PassThrough();
    const out = new Collect();
    const err = new Collect();
    const a = await attach(c.stateDir, { stdin: input, stdout: out, stderr: err, tty: true, closeStdinOnEnd: false });
    await runcStart(c.id);
    a.resize(33, 101);
    input.write('go\n');
    const exit = await a.done;
    assert.equal(exit?.exitCode, 0);
    // The pty echoes the input and turns \n into \r\n.
    assert.equal(out.text(), 'go\r\n33 101\r\nto-stderr\r\n');
    assert.equal(err.text(), '');
    const logged = parseLog(await readFile(join(c.stateDir, 'container.log'), 'utf8'));
    assert.ok(logged.every((l) => l.stream === 'stdout'));
    assert.equal(logged.map((l) => l.log).join(''), 'go\r\n33 101\r\nto-stderr\r\n');
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('--terminal: close-stdin sends EOF to a cat reading the pty', async () => {
    const c = await prepare({ args: ['sh', '-c', 'cat >/dev/null; echo eof-seen'], terminal: true });
    const m = await start(c, { terminal: true, stdin: true });
    const input = new PassThrough();
    const out = new Collect();
    const a = await attach(c.stateDir, { stdin: input, stdout: out, stderr: new Collect(), tty: true });
    await runcStart(c.id);
    input.end('partial line, no newline');
    const exit = await a.done;
    assert.equal(exit?.exitCode, 0);
    assert.ok(out.text().endsWith('eof-seen\r\n'), out.text());
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('outlives the process that started it; ignores SIGTERM; runc kill KILL is recorded as 137', async (t: TestContext) => {
    const c = await prepare({ args: ['sleep', '1000'] });
    // A separate node process starts the monitor and exits, as `hull run -d` does.
    const driver = fileURLToPath(new URL('../../src/container/monitor.js', import.meta.url));
    const code = `import { startMonitor } from ${JSON.stringify(driver)};
      const r = await startMonitor(${JSON.stringify(options(c))});
      process.stdout.write(JSON.stringify(r));`;
    const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', code]);
    const m = JSON.parse(stdout) as MonitorStarted;
    monitors.push(m.monitorPid);
    await runcStart(c.id);
    assert.ok(isMonitorAlive(m.monitorPid));
    assert.match((await runc('state', c.id)).stdout, /"status": "running"/);

    // Idle: what one running container costs in monitor memory.
    await new Promise((r) => setTimeout(r, 300));
    t.diagnostic(`idle monitor (pid ${m.monitorPid}): ${pss(m.monitorPid)}`);
    console.log(`# idle hull-monitor: ${pss(m.monitorPid)}`);

    process.kill(m.monitorPid, 'SIGTERM');
    process.kill(m.monitorPid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(isMonitorAlive(m.monitorPid), 'SIGTERM must not stop the monitor');
    assert.match((await runc('state', c.id)).stdout, /"status": "running"/);
    assert.equal(readExit(c.stateDir), undefined);

    assert.equal((await runc('kill', c.id, 'KILL')).code, 0);
    const exit = await waitExit(c.stateDir, AbortSignal.timeout(10_000), m.monitorPid);
    assert.deepEqual({ code: exit.exitCode, signal: exit.signal, oom: exit.oomKilled }, { code: 137, signal: 9, oom: false });
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('a memory-limited hog is OOM-killed and recorded as oomKilled', async (t: TestContext) => {
    if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/memory.stat') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      t.skip('no memory cgroup controller');
      return;
    }
    const c = await prepare({ args: ['sh', '-c', 'x=a; while true; do x=$x$x; done'], resources: { memory: 16 * 1024 * 1024 } });
    const m = await start(c);
    await runcStart(c.id);
    const exit = await waitExit(c.stateDir, AbortSignal.timeout(30_000), m.monitorPid);
    assert.equal(exit.oomKilled, true, JSON.stringify(exit));
    assert.equal(exit.exitCode, 137);
    assert.equal(exit.signal, 9);
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it("rotates the log like Docker's json-file: log, log.1 … log.(max-files - 1), none over max-size", async () => {
    const c = await prepare({ args: ['sh', '-c', 'for i in $(seq 1 40); do echo "line $i"; done'] });
    const m = await start(c, { logMaxSize: 300, logMaxFiles: 3 });
    await runcStart(c.id);
    assert.equal((await waitExit(c.stateDir)).exitCode, 0);
    const files = (await readdir(c.stateDir)).filter((f) => f.startsWith('container.log')).sort();
    assert.deepEqual(files, ['container.log', 'container.log.1', 'container.log.2']);
    const all: string[] = [];
    for (const f of ['container.log.2', 'container.log.1', 'container.log']) {
      const text = await readFile(join(c.stateDir, f), 'utf8');
      assert.ok(Buffer.byteLength(text) <= 300, `${f} is ${Buffer.byteLength(text)} bytes`);
      all.push(...parseLog(text).map((l) => l.log));
    }
    // The newest lines survive, in order, and the oldest were rotated away.
    const last = Number(/line (\d+)/.exec(all[all.length - 1]!)?.[1]);
    const first = Number(/line (\d+)/.exec(all[0]!)?.[1]);
    assert.equal(last, 40);
    assert.ok(first > 1);
    assert.deepEqual(
      all,
      Array.from({ length: 40 - first + 1 }, (_, i) => `line ${first + i}\n`),
    );
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('a command that cannot run fails create with 127 / 126 and leaves nothing behind', async () => {
    for (const [args, reason, status] of [
      [['no-such-command'], 'command-not-found', 127],
      [['/etc/passwd'], 'permission-denied', 126],
    ] as const) {
      const c = await prepare({ args: [...args] });
      const err = await startMonitor(options(c)).then(
        () => assert.fail('create should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ContainerStartError, String(err));
      assert.equal(err.reason, reason);
      assert.equal(err.exitStatus, status);
      assert.match(err.message, /^OCI runtime create failed: /);
      assert.equal((await runc('state', c.id)).code === 0, false);
      const left = (await readdir(c.stateDir)).filter((f) => f !== 'container.log');
      assert.deepEqual(left, []);
    }
    await until('monitors to exit', () => monitorCount() <= baseline);
  });

  void it('precompiled filter: captures the filter runc loaded; starts through the helper with it; the look-up fails a missing command as runc does', async () => {
    // Captured from a container whose filter runc compiled: a BPF program (8-byte instructions).
    const captured = join(work, 'captured.bpf');
    const first = await prepare({ args: ['true'] });
    const m1 = await start(first, { seccompCapture: captured });
    const size = statSync(captured).size;
    assert.ok(size > 0 && size % 8 === 0, `captured ${size} bytes`);
    await runc('kill', first.id, 'KILL');
    await assertGone(first.id, m1.monitorPid, first.stateDir);

    // A config through the helper: no linux.seccomp for runc, the filter still on the process.
    const viaHelper = async (args: string[]): Promise<{ id: string; bundle: string; stateDir: string }> => {
      const c = await prepare({ args });
      const config = JSON.parse(await readFile(join(c.bundle, 'config.json'), 'utf8')) as OciSpec;
      loadThroughHelper(config, captured);
      await writeFile(join(c.bundle, 'config.json'), JSON.stringify(config));
      return c;
    };
    const helper = (file: string): Partial<MonitorOptions> => ({
      seccompHelper: { helper: filterHelperPath(), filter: captured },
      lookPath: { file, cwd: '/', pathEnv: '/bin', uid: 0, gid: 0, groups: [], caps: 0xa80425fbn },
    });
    const c = await viaHelper(['sh', '-c', 'grep -E "^(Seccomp|CapEff):" /proc/self/status; unshare -m true || echo refused']);
    const m2 = await start(c, helper('sh'));
    const out = new Collect();
    const a = await attach(c.stateDir, { stdout: out, stderr: new Collect(), tty: false });
    await runcStart(c.id);
    assert.equal((await a.done)?.exitCode, 0);
    assert.equal(out.text(), 'CapEff:\t00000000a80425fb\nSeccomp:\t2\nrefused\n');
    await assertGone(c.id, m2.monitorPid, c.stateDir);

    // A command the look-up cannot find: runc's message and status, nothing left behind.
    const missing = await viaHelper(['true']);
    const err = await startMonitor(options(missing, helper('no-such-command'))).then(
      () => assert.fail('create should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ContainerStartError, String(err));
    assert.equal(err.exitStatus, 127);
    assert.equal(err.message, 'OCI runtime create failed: runc create failed: unable to start container process: exec: "no-such-command": executable file not found in $PATH');
    assert.equal((await runc('state', missing.id)).code === 0, false);
    await until('monitors to exit', () => monitorCount() <= baseline);
  });

  void it('starts the container itself (frame 6) as runc start would: running, exec.fifo gone, output attached', async () => {
    const c = await prepare({ args: ['sh', '-c', 'echo started; cat'] });
    const m = await start(c, { stdin: true });
    const fifo = join(runtimeRoot, c.id, 'exec.fifo');
    assert.ok(existsSync(fifo));
    const out = new Collect();
    const input = new PassThrough();
    const a = await attach(c.stateDir, { stdin: input, stdout: out, stderr: new Collect(), tty: false });
    assert.equal(await a.start(), 'started');
    assert.ok(!existsSync(fifo), 'the FIFO is removed, as runc start does');
    assert.match((await runc('state', c.id)).stdout, /"status": "running"/);
    await assert.rejects(a.start(), /cannot start an already running container/);
    input.end('bye\n');
    assert.equal((await a.done)?.exitCode, 0);
    assert.equal(out.text(), 'started\nbye\n');
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('a start-only connection (startThroughMonitor) starts a container that exits at once', async () => {
    const c = await prepare({ args: ['true'] });
    const m = await start(c);
    assert.equal(await startThroughMonitor(c.stateDir), 'started');
    assert.equal((await waitExit(c.stateDir, undefined, m.monitorPid)).exitCode, 0);
    await assertGone(c.id, m.monitorPid, c.stateDir);
  });

  void it('a start after the created container was killed fails as runc start does; without exec.fifo it is left to runtime start', async () => {
    const c = await prepare({ args: ['true'] });
    const m = await start(c);
    const a = await attach(c.stateDir, { stdout: new Collect(), stderr: new Collect(), tty: false });
    assert.equal((await runc('kill', c.id, 'KILL')).code, 0);
    // The monitor may have ended (and closed the connection) before the request arrives.
    await assert.rejects(a.start(), /container process is already dead|closed the connection before the container started/);
    await a.done;
    await assertGone(c.id, m.monitorPid, c.stateDir);

    const d = await prepare({ args: ['true'] });
    const n = await start(d);
    await rm(join(runtimeRoot, d.id, 'exec.fifo'));
    assert.equal(await startThroughMonitor(d.stateDir), 'no-fifo', 'nothing done: the caller runs runtime start');
    assert.match(readFileSync(`/proc/${n.pid}/cmdline`, 'latin1'), /init/, 'still runc\'s init, not the workload');
    assert.equal((await runc('kill', d.id, 'KILL')).code, 0);
    assert.equal((await waitExit(d.stateDir, undefined, n.monitorPid)).exitCode, 137);
    await assertGone(d.id, n.monitorPid, d.stateDir);
  });

  void it('attach to a container that is not running is refused', async () => {
    const dir = join(work, 'never-ran');
    await mkdir(dir, { recursive: true });
    await assert.rejects(attach(dir, { stdout: new Collect(), stderr: new Collect(), tty: false }), (e: Error & { code?: string }) => e.code === 'CONFLICT');
  });
});
