/**
 * The driver for hull-monitor (native/monitor/hull-monitor.c), the small C process that holds
 * a running container's stdio, writes its log, serves attach clients and records its exit. One
 * monitor per container, outliving the CLI that started it; the protocol is docs/monitor.md.
 *
 * Start sequence (the engine's): startMonitor() → the container exists, created but not
 * running, with the monitor holding its stdio → optionally attach() → start: the monitor reads
 * runc's exec.fifo (Attachment.start(), startThroughMonitor()), or `runtime start ID` for other
 * runtimes → waitExit()/attach().done. Attaching before start loses no output.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import { Writable as NodeWritable } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { HullError, messageOf } from '../util/errors.js';
import type { CommandLookup } from './seccomp-filter.js';
import { packageRoot } from '../util/package-root.js';
import { record, span, traceDepth } from '../util/trace.js';

/** Frame types on the attach socket (docs/monitor.md). */
export const FRAME = { stdin: 0, stdout: 1, stderr: 2, closeStdin: 3, resize: 4, claimExit: 5, start: 6 } as const;

/** A start asked on a connection the monitor closed (it ended: the container died before starting). */
const CLOSED_BEFORE_START = "OCI runtime start failed: the container's monitor closed the connection before the container started";

/** The first payload byte of the monitor's answer to a start (frame 6). */
const START_REPLY = { ok: 0, noFifo: 1, failed: 2 } as const;

/**
 * How a start through the monitor ended: `started` (runc's exec.fifo was read: the workload is
 * on its way), or `no-fifo` (nothing was done: not runc's created state, as with the VM runtime;
 * the caller runs `runtime start`). A failure rejects.
 */
export type MonitorStartResult = 'started' | 'no-fifo';
export const FRAME_HEADER = 5;

/** Files the monitor keeps in its state directory. */
export const STATE_FILES = { pid: 'pid', attach: 'attach', exit: 'exit.json', runtimeLog: 'runtime.log' } as const;

export interface MonitorOptions {
  /** Container id, as the OCI runtime knows it. */
  id: string;
  /** Bundle directory (config.json + rootfs). */
  bundle: string;
  /** OCI runtime binary: a path, or a name looked up in PATH. */
  runtime: string;
  /** The runtime's `--root` (its state directory). */
  runtimeRoot: string;
  /** The monitor's own directory: pid, attach, exit.json. At most ~100 bytes (unix socket paths). */
  stateDir: string;
  /** Allocate a pty (the spec's process.terminal must be true as well). */
  terminal?: boolean;
  /** Keep the container's stdin open for attach clients (`-i`); otherwise it is /dev/null. */
  stdin?: boolean;
  /** json-file log; none when absent. */
  logPath?: string;
  /** Rotate when a line would make the file larger than this (bytes); 0 or absent: never. */
  logMaxSize?: number;
  /** Files kept, the live one included (Docker's max-file); 1 truncates instead of rotating. */
  logMaxFiles?: number;
  /** Run after the container is gone and deleted: `[path, ...args]`. */
  exitCommand?: readonly string[];
  /** Kill `runtime create` after this long. Default 120; 0 disables. */
  timeoutCreateSeconds?: number;
  /**
   * The exit status comes from this file (a line `exit N` or `signal N`) rather than from the
   * runtime's process: the VM runtime's process is QEMU, whose own status says nothing about the
   * guest's workload. No cgroup OOM check then (the VM's memory is its own).
   */
  exitStatusFile?: string;
  /** With `stdin`: a socket rather than a pipe (the VM runtime needs EOF to reach QEMU's chardev). */
  stdinSocket?: boolean;
  /** With `terminal`: resizes are also written here as `winsize ROWS COLS` lines (a VM's ctl.in). */
  resizeFifo?: string;
  /** The monitor binary; monitorPath() by default. */
  binary?: string;
  /** The precompiled seccomp filter's helper and filter: runc gets sealed copies as the container's fds 3 and 4 (container/seccomp-filter.ts). */
  seccompHelper?: { helper: string; filter: string };
  /** Once created, capture the seccomp filter runc loaded into this file (container/seccomp-filter.ts). */
  seccompCapture?: string;
  /** Once created, look this command up as runc's init would (lookupOf), failing the create when it cannot run. */
  lookPath?: CommandLookup;
}

/** The monitor options of a start's seccomp filter plan (container/seccomp-filter.ts). */
export type FilterMonitorOptions = Pick<MonitorOptions, 'seccompHelper' | 'seccompCapture' | 'lookPath'>;

export interface MonitorStarted {
  /** The container's init, as the host sees it. */
  pid: number;
  /** The daemonized monitor (not the process spawned, which exits at once). */
  monitorPid: number;
}

/** Where the monitor's start-up went, as it reports it (docs/monitor.md, "times"). */
export interface MonitorTimes {
  /** Epoch µs: the monitor's start, `runtime create` spawned, exited, the report written. */
  start: number;
  create: number;
  created: number;
  report: number;
  /** CPU of `runtime create` and the processes it waited for. */
  runtimeCpuMs: number;
  /** CPU of the container's init so far: the runtime's setup inside the container (mounts, seccomp). */
  initCpuMs: number;
}

/** The monitor's phases as HULL_TRACE rows, nested under the span that started it. */
function traceMonitorTimes(t: MonitorTimes, depth: number): void {
  const ms = (us: number): number => us / 1000;
  record('monitor: start, daemonize', ms(t.start), ms(t.create - t.start), undefined, depth);
  record(`runtime create (cpu: runtime ${t.runtimeCpuMs.toFixed(1)} + its init ${t.initCpuMs.toFixed(1)})`, ms(t.create), ms(t.created - t.create), t.runtimeCpuMs + t.initCpuMs, depth);
  record('monitor: pid file, attach socket, report', ms(t.created), ms(t.report - t.created), undefined, depth);
}

export interface ExitInfo {
  /** The status, or 128 + signal, as Docker reports it. */
  exitCode: number;
  signal: number | null;
  oomKilled: boolean;
  /** RFC 3339, nanoseconds, UTC. */
  finishedAt: string;
}

/** Why the runtime could not create the container; the first two map to Docker's 127 and 126. */
export type StartFailureReason = 'command-not-found' | 'permission-denied' | 'runtime';

/**
 * `runtime create` failed. `exitStatus` is what Docker reports for the container (and `docker
 * run` exits with) when the command cannot be run: 127 not found, 126 not executable.
 */
export class ContainerStartError extends HullError {
  readonly reason: StartFailureReason;
  readonly exitStatus: 126 | 127 | undefined;
  /** The runtime's own message, unprefixed. */
  readonly runtimeMessage: string;

  constructor(runtimeMessage: string) {
    const reason = classifyRuntimeError(runtimeMessage);
    // Docker answers 400 for a command that cannot run (a configuration error), 500 otherwise.
    super(reason === 'runtime' ? 'INTERNAL' : 'INVALID_ARGUMENT', `OCI runtime create failed: ${runtimeMessage}`);
    this.name = 'ContainerStartError';
    this.reason = reason;
    this.exitStatus = reason === 'command-not-found' ? 127 : reason === 'permission-denied' ? 126 : undefined;
    this.runtimeMessage = runtimeMessage;
  }
}

/** Docker's rule (daemon/start.go translateContainerdStartErr), substring for substring. */
export function classifyRuntimeError(message: string): StartFailureReason {
  const m = message.toLowerCase();
  // Checked last in Docker, so it wins when both appear.
  if (m.includes('permission denied')) return 'permission-denied';
  if (m.includes('executable file not found') || m.includes('no such file or directory') || m.includes('system cannot find the file specified')) {
    return 'command-not-found';
  }
  return 'runtime';
}

/** The built monitor: <package root>/build/hull-monitor (scripts/build-monitor.sh). */
export function monitorPath(): string {
  return join(packageRoot(), 'build', 'hull-monitor');
}

/** Options whose values are paths the monitor would resolve against its working directory. */
const PATH_OPTIONS = new Set(['--bundle', '--runtime-root', '--state-dir', '--log-path', '--exit-status-file', '--resize-fifo', '--seccomp-helper', '--seccomp-filter', '--seccomp-capture']);

function absoluteArgs(args: readonly string[]): string[] {
  return args.map((a, i) => {
    const opt = args[i - 1] ?? '';
    const isPath = PATH_OPTIONS.has(opt) || ((opt === '--runtime' || opt === '--exit-command') && a.includes('/'));
    return isPath ? resolvePath(a) : a;
  });
}

export function monitorArgs(opts: MonitorOptions): string[] {
  const args = ['--id', opts.id, '--bundle', opts.bundle, '--runtime', opts.runtime, '--runtime-root', opts.runtimeRoot, '--state-dir', opts.stateDir, '--sync-fd', '3'];
  if (opts.terminal) args.push('--terminal');
  if (opts.stdin) args.push('--stdin');
  if (opts.logPath !== undefined) {
    args.push('--log-path', opts.logPath);
    if (opts.logMaxSize) args.push('--log-max-size', String(opts.logMaxSize));
    if (opts.logMaxFiles) args.push('--log-max-files', String(opts.logMaxFiles));
  }
  if (opts.exitCommand && opts.exitCommand.length > 0) {
    const [cmd, ...rest] = opts.exitCommand;
    args.push('--exit-command', cmd!);
    for (const a of rest) args.push('--exit-arg', a);
  }
  if (opts.stdinSocket) args.push('--stdin-socket');
  if (opts.exitStatusFile) args.push('--exit-status-file', opts.exitStatusFile);
  if (opts.resizeFifo) args.push('--resize-fifo', opts.resizeFifo);
  args.push(...filterArgs(opts));
  const timeout = opts.timeoutCreateSeconds ?? 120;
  if (timeout > 0) args.push('--timeout-create', String(Math.ceil(timeout)));
  return args;
}

/** The monitor's options for a seccomp filter plan (docs/monitor.md). */
export function filterArgs(opts: FilterMonitorOptions): string[] {
  const args: string[] = [];
  if (opts.seccompHelper) args.push('--seccomp-helper', opts.seccompHelper.helper, '--seccomp-filter', opts.seccompHelper.filter);
  if (opts.seccompCapture) args.push('--seccomp-capture', opts.seccompCapture);
  // `--opt=value`: a value may be empty, and the prespawned monitor's argument block ends at an empty argument.
  if (opts.lookPath) {
    const l = opts.lookPath;
    const user = `${l.uid}:${l.gid}${l.groups.length ? `:${l.groups.join(',')}` : ''}`;
    args.push(`--look-path=${l.file}`, `--look-path-cwd=${l.cwd}`, `--look-path-env=${l.pathEnv}`, `--look-path-user=${user}`, `--look-path-caps=${l.caps.toString(16)}`);
  }
  return args;
}

/** The stdio every monitor is spawned with: fd 3 is the sync pipe (stdin: see prespawnMonitor). */
const MONITOR_STDIO = ['ignore', 'ignore', 'pipe', 'pipe'] as const;

/** A monitor spawned ahead of need, waiting for its command line (prespawnMonitor). */
let ready: { child: ChildProcess; binary: string } | undefined;
let refill = false;

/**
 * Spawn a monitor now that waits (`--args-fd 0`) for the command line of a later startMonitor,
 * which then costs no fork+exec of this process: libuv's spawn is synchronous and forks this
 * whole process (~90 MB in a CLI worker), which held the thread 6-22 ms under load (1.3 ms of
 * CPU quiet). Called while idle: by a warm CLI worker before it announces itself, and by
 * `hull serve` (`keepOne`: a new one after each use, while that start waits for its runtime). A monitor never used exits at the EOF
 * of its stdin, when this process ends. Its priority is made this process's at use (an idle
 * worker runs niced). Anything that goes wrong here only means startMonitor spawns as before.
 */
export function prespawnMonitor(o: { keepOne?: boolean; binary?: string } = {}): void {
  if (o.keepOne) refill = true;
  if (ready) return;
  const binary = o.binary ?? monitorPath();
  let child: ChildProcess;
  try {
    child = spawn(binary, ['--args-fd', '0'], { detached: true, stdio: ['pipe', ...MONITOR_STDIO.slice(1)] as StdioOptions });
  } catch {
    return;
  }
  const mine = { child, binary };
  child.on('error', () => {
    if (ready === mine) ready = undefined;
  });
  child.on('exit', () => {
    if (ready === mine) ready = undefined;
  });
  // Nothing of it may keep this process alive.
  child.unref();
  for (const s of child.stdio) (s as Socket | null)?.unref?.();
  ready = mine;
}

/** The prespawned monitor, handed `args` (and this process's environment), or undefined. */
function takePrespawned(binary: string, args: readonly string[]): ChildProcess | undefined {
  const r = ready;
  ready = undefined;
  // The refill is itself a fork of this process, holding its thread for a while: now, while this
  // start waits for `runtime create` (~50 ms), not later, when it would delay an answer (measured:
  // 100 ms later it landed on the `wait` answer and the docker CLI's exit, +20 ms).
  if (refill) setImmediate(() => prespawnMonitor());
  if (!r || r.binary !== binary || r.child.pid === undefined || r.child.exitCode !== null || r.child.signalCode !== null) {
    r?.child.stdin?.destroy();
    return undefined;
  }
  try {
    setPriority(r.child.pid, getPriority());
  } catch {
    // at worst it runs niced
  }
  // Its pipes were unref'd while it waited: now the reply must keep this process alive.
  for (const s of r.child.stdio) (s as Socket | null)?.ref?.();
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}\0`);
  const block = Buffer.from(`${args.map((a) => `${a}\0`).join('')}\0${env.join('')}`);
  // Counted (docs/monitor.md, --args-fd): the pipe's close waits for this event loop.
  r.child.stdin!.end(Buffer.concat([Buffer.from(`${block.length}\n`), block]));
  return r.child;
}

/**
 * Start a monitor, which creates the container (`runtime create`) and reports back on fd 3.
 * Resolves once the container exists; the caller then runs `runtime start ID`. The monitor is
 * detached and unref'd: this process may exit and the container keeps its monitor.
 */
export function startMonitor(opts: MonitorOptions): Promise<MonitorStarted> {
  const binary = opts.binary ?? monitorPath();
  const depth = traceDepth();
  return new Promise<MonitorStarted>((resolve, reject) => {
    const args = monitorArgs(opts);
    // A prespawned monitor has its own working directory: paths go absolute (the monitor
    // resolves relative ones against its own).
    const child =
      span('monitor: prespawned, handed its arguments', () => takePrespawned(binary, absoluteArgs(args))) ??
      // Synchronous in libuv (fork, then a wait for the child's exec): it holds this thread.
      span('monitor: spawn (fork + exec, in this process)', () => spawn(binary, args, { detached: true, stdio: [...MONITOR_STDIO] }));
    const sync = child.stdio[3] as Readable;
    const stderr = child.stderr!;
    let line = '';
    let errText = '';
    let settled = false;

    const finish = (err: Error | undefined, value?: MonitorStarted): void => {
      if (settled) return;
      settled = true;
      sync.destroy();
      stderr.destroy();
      child.unref();
      if (err) reject(err);
      else resolve(value!);
    };

    child.on('error', (e) => {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      finish(new HullError('INTERNAL', missing ? `container monitor ${binary} is not built: run npm run build:monitor` : `cannot start ${binary}: ${messageOf(e)}`, { cause: e }));
    });
    stderr.setEncoding('utf8');
    stderr.on('data', (d: string) => {
      if (errText.length < 4096) errText += d;
    });
    sync.setEncoding('utf8');
    sync.on('data', (d: string) => {
      line += d;
      const nl = line.indexOf('\n');
      if (nl >= 0) finish(...parseSyncLine(line.slice(0, nl), depth));
    });
    sync.on('error', () => {});
    // EOF with no line: the monitor died before reporting (its stderr may say why).
    sync.on('close', () => {
      const why = errText.trim() || line.trim() || 'no report on the sync pipe';
      finish(new HullError('INTERNAL', `container monitor failed: ${why}`));
    });
  });
}

function parseSyncLine(text: string, traceDepthAtStart: number): [Error | undefined, MonitorStarted?] {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return [new HullError('INTERNAL', `container monitor sent an unreadable report: ${text.slice(0, 200)}`)];
  }
  const m = msg as { pid?: unknown; monitorPid?: unknown; error?: unknown; times?: MonitorTimes };
  if (typeof m.error === 'string') return [new ContainerStartError(m.error)];
  if (typeof m.pid === 'number' && typeof m.monitorPid === 'number') {
    if (m.times && typeof m.times.create === 'number') traceMonitorTimes(m.times, traceDepthAtStart);
    return [undefined, { pid: m.pid, monitorPid: m.monitorPid }];
  }
  return [new HullError('INTERNAL', `container monitor sent an unexpected report: ${text.slice(0, 200)}`)];
}

/** The recorded exit, or undefined while the container runs (or if it never ran). */
export function readExit(stateDir: string): ExitInfo | undefined {
  let text: string;
  try {
    text = readFileSync(join(stateDir, STATE_FILES.exit), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as ExitInfo;
    if (typeof v.exitCode !== 'number' || typeof v.oomKilled !== 'boolean' || typeof v.finishedAt !== 'string') throw new Error('missing fields');
    return { exitCode: v.exitCode, signal: typeof v.signal === 'number' ? v.signal : null, oomKilled: v.oomKilled, finishedAt: v.finishedAt };
  } catch (e) {
    // Written by rename, so a torn file means something else wrote it.
    throw new HullError('STATE_CORRUPT', `${join(stateDir, STATE_FILES.exit)} is unreadable: ${messageOf(e)}`);
  }
}

/**
 * True when `pid` is a running hull-monitor: not merely a live pid (pids are reused), and not a
 * zombie (a monitor that has exited stays one until init reaps it, which some inits do late).
 */
export function isMonitorAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) S …": comm may hold spaces and parentheses, so split at the last ')'.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(open + 1, close);
  const state = stat.slice(close + 2, close + 3);
  return comm === 'hull-monitor' && state !== 'Z' && state !== 'X';
}

const POLL_MS = 250;

/**
 * Resolves with the exit once the monitor records it. fs.watch on the state directory makes it
 * prompt; a poll covers filesystems where watching misses the rename. With `monitorPid`, a
 * monitor that died without recording the exit (SIGKILL) is an error instead of a wait forever.
 */
export function waitExit(stateDir: string, signal?: AbortSignal, monitorPid?: number): Promise<ExitInfo> {
  return new Promise<ExitInfo>((resolve, reject) => {
    let watcher: FSWatcher | undefined;
    let done = false;
    const finish = (err: unknown, v?: ExitInfo): void => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err instanceof Error ? err : new Error(messageOf(err)));
      else resolve(v!);
    };
    const timer = setInterval(() => check(), POLL_MS);
    const check = (): void => {
      try {
        const exit = readExit(stateDir);
        if (exit) return finish(undefined, exit);
        if (monitorPid !== undefined && !isMonitorAlive(monitorPid)) {
          // It may have written the file between the two looks.
          const late = readExit(stateDir);
          if (late) return finish(undefined, late);
          finish(new HullError('STATE_CORRUPT', `the container's monitor (pid ${monitorPid}) is gone without recording an exit status`));
        }
      } catch (e) {
        finish(e);
      }
    };
    const onAbort = (): void => finish(signal?.reason ?? new Error('aborted'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    try {
      watcher = watch(stateDir, { persistent: true }, (_event, name) => {
        if (name === null || name === STATE_FILES.exit) check();
      });
      watcher.on('error', () => {});
    } catch {
      // No watch (directory gone, inotify limits): the poll alone.
    }
    check();
  });
}

// ---- attach ----------------------------------------------------------------------------------

export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out[0] = type;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, FRAME_HEADER);
  return out;
}

export function encodeResize(rows: number, cols: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.trunc(rows))), 0);
  p.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.trunc(cols))), 2);
  return encodeFrame(FRAME.resize, p);
}

/** Splits a byte stream into frames; a frame may arrive in any number of pieces. */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingLength = 0;

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const frames: { type: number; payload: Buffer }[] = [];
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    let off = 0;
    while (buf.length - off >= FRAME_HEADER) {
      const len = buf.readUInt32BE(off + 1);
      if (buf.length - off < FRAME_HEADER + len) break;
      frames.push({ type: buf[off]!, payload: buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len) });
      off += FRAME_HEADER + len;
    }
    buf = buf.subarray(off);
    this.pending = buf.length > 0 ? [buf] : [];
    this.pendingLength = buf.length;
    return frames;
  }
}

export interface AttachOptions {
  /** Sent to the container's stdin (the monitor must have been started with `stdin`). */
  stdin?: Readable;
  stdout: Writable;
  /** Unused with a tty, where everything arrives as stdout. */
  stderr: Writable;
  tty: boolean;
  /** When `stdin` ends, close the container's stdin (`docker run -i` does). Default true. */
  closeStdinOnEnd?: boolean;
  /** Initial terminal size, sent first. */
  size?: { rows: number; cols: number };
  /**
   * Subscribe to terminal size changes: called once with a listener to call on each change;
   * may return an unsubscribe function, called when the attachment ends.
   */
  onResize?: (listener: (rows: number, cols: number) => void) => (() => void) | void;
  /**
   * This process records the exit itself once `done` resolves (engine `exited`): tell the
   * monitor, which then skips its exit command when the claim appears (docs/monitor.md).
   */
  claimExit?: boolean;
}

export interface Attachment {
  /**
   * Settles when the monitor closes the connection (the container has exited and its output
   * is fully delivered: resolves with the exit) or after detach() (resolves undefined; also
   * undefined if the monitor dropped this client for reading too slowly).
   */
  done: Promise<ExitInfo | undefined>;
  resize(rows: number, cols: number): void;
  closeStdin(): void;
  /** Leave the container running; output stops. */
  detach(): void;
  /**
   * Ask the monitor to let the created container run (docs/monitor.md, frame 6): it reads
   * runc's exec.fifo as `runc start` does, without starting runc. Resolves once init has
   * exec'd the workload, or with `no-fifo` when there is nothing to read (use `runtime start`).
   */
  start(): Promise<MonitorStartResult>;
}

/**
 * Attach to a container's stdio through its monitor. Resolves once connected: output produced
 * after that is delivered, so attaching before `runtime start` loses nothing (the monitor
 * accepts waiting clients before it reads container output). Rejects with CONFLICT when the
 * container is not running.
 */
export function attach(stateDir: string, opts: AttachOptions): Promise<Attachment> {
  const path = join(stateDir, STATE_FILES.attach);
  return new Promise<Attachment>((resolveAttach, rejectAttach) => {
    const sock: Socket = connect({ path });
    let connected = false;
    sock.once('error', (e) => {
      if (connected) return;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        rejectAttach(new HullError('CONFLICT', 'You cannot attach to a stopped container, start it first'));
      } else {
        rejectAttach(new HullError('INTERNAL', `attach ${path}: ${messageOf(e)}`, { cause: e }));
      }
    });
    sock.once('connect', () => {
      connected = true;
      resolveAttach(wire(sock, stateDir, opts));
    });
  });
}

function wire(sock: Socket, stateDir: string, opts: AttachOptions): Attachment {
  const decoder = new FrameDecoder();
  let detached = false;
  let stdinClosed = false;
  let waitingDrain = 0;
  let lastWrite: Promise<void> = Promise.resolve();
  let unsubscribe: (() => void) | void = undefined;

  const send = (buf: Buffer): boolean => (sock.writable ? sock.write(buf) : true);
  const resize = (rows: number, cols: number): void => {
    if (opts.tty) send(encodeResize(rows, cols));
  };
  const closeStdin = (): void => {
    if (stdinClosed) return;
    stdinClosed = true;
    send(encodeFrame(FRAME.closeStdin));
  };

  if (opts.claimExit) {
    const pid = Buffer.alloc(4);
    pid.writeUInt32BE(process.pid);
    send(encodeFrame(FRAME.claimExit, pid));
  }
  if (opts.size) resize(opts.size.rows, opts.size.cols);
  if (opts.onResize) unsubscribe = opts.onResize(resize);

  // At most one start at a time: a second one is the monitor's to refuse.
  let starting: { resolve(r: MonitorStartResult): void; reject(e: Error): void } | undefined;
  const startReply = (payload: Buffer): void => {
    const waiter = starting;
    starting = undefined;
    if (!waiter) return;
    if (payload[0] === START_REPLY.ok) waiter.resolve('started');
    else if (payload[0] === START_REPLY.noFifo) waiter.resolve('no-fifo');
    else waiter.reject(new HullError('INTERNAL', `OCI runtime start failed: ${payload.subarray(1).toString('utf8') || 'unknown error'}`));
  };

  // Output: a slow local writer pauses the socket; the monitor then drops us if we fall far
  // behind, rather than ever slowing the container.
  sock.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      if (f.type === FRAME.start) {
        startReply(f.payload);
        continue;
      }
      const target = f.type === FRAME.stderr && !opts.tty ? opts.stderr : f.type === FRAME.stdout || f.type === FRAME.stderr ? opts.stdout : undefined;
      if (!target) continue;
      lastWrite = new Promise<void>((res) => {
        const ok = target.write(f.payload, () => res());
        if (!ok) {
          waitingDrain++;
          sock.pause();
          target.once('drain', () => {
            if (--waitingDrain === 0) sock.resume();
          });
        }
      });
    }
  });

  const onStdinData = (d: Buffer | string): void => {
    if (stdinClosed) return;
    const buf = typeof d === 'string' ? Buffer.from(d) : d;
    if (!send(encodeFrame(FRAME.stdin, buf))) {
      opts.stdin!.pause();
      sock.once('drain', () => opts.stdin!.resume());
    }
  };
  const onStdinEnd = (): void => {
    if (opts.closeStdinOnEnd ?? true) closeStdin();
  };
  if (opts.stdin) {
    opts.stdin.on('data', onStdinData);
    opts.stdin.once('end', onStdinEnd);
  }

  const done = new Promise<ExitInfo | undefined>((resolve, reject) => {
    let failed: Error | undefined;
    sock.on('error', (e) => {
      // The monitor closing first is not a failure (writes racing its exit get EPIPE).
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPIPE' && code !== 'ECONNRESET') failed = e;
    });
    sock.once('close', () => {
      starting?.reject(new HullError('INTERNAL', CLOSED_BEFORE_START));
      starting = undefined;
      if (opts.stdin) {
        opts.stdin.off('data', onStdinData);
        opts.stdin.off('end', onStdinEnd);
      }
      if (typeof unsubscribe === 'function') unsubscribe();
      // Output already handed to the writers is waited for, except after detach (a writer
      // that never drains must not keep a detached attachment pending).
      void (detached ? Promise.resolve() : lastWrite).then(() => {
        if (failed && !detached) return reject(new HullError('INTERNAL', `attach: ${messageOf(failed)}`, { cause: failed }));
        try {
          resolve(detached ? undefined : readExit(stateDir));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(messageOf(e)));
        }
      });
    });
  });

  return {
    done,
    resize,
    closeStdin,
    detach: () => {
      detached = true;
      sock.destroy();
    },
    start: () =>
      new Promise<MonitorStartResult>((resolve, reject) => {
        if (starting) return reject(new HullError('INTERNAL', 'OCI runtime start failed: a start is already on its way'));
        if (sock.destroyed) return reject(new HullError('INTERNAL', CLOSED_BEFORE_START));
        starting = { resolve, reject };
        send(encodeFrame(FRAME.start));
      }),
  };
}

/** Discards what it is given (the output a start-only connection receives). */
const discard = (): Writable => new NodeWritable({ write: (_chunk, _enc, cb) => cb() });

/**
 * Start the created container through its monitor without attaching (`start`, `run -d`): a
 * connection that only asks for the start (Attachment.start()) and leaves.
 */
export async function startThroughMonitor(stateDir: string): Promise<MonitorStartResult> {
  const a = await attach(stateDir, { stdout: discard(), stderr: discard(), tty: false });
  try {
    return await a.start();
  } finally {
    a.detach();
  }
}
