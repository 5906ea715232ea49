/**
 * The CLI supervisor: keeps a small pool of warm workers (cli/server/worker.ts) and hands each
 * client connection on its socket to one of them. Started in the background by the native
 * client (native/client/hull-client.c) when nothing listens; one per hull installation,
 * guarded by a flock next to the socket. It exits after HULL_SERVER_IDLE_SECONDS without a
 * request (default 300), and at once when the build on disk changes (it never serves old code).
 *
 *   node dist/src/cli/server/supervisor.js SOCKET
 *
 * It is the parent of every worker, so it alone learns how a worker ended (exit code or
 * signal) and reports that to the worker's client.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { constants, getPriority, setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { nativeAddon } from '../../util/native.js';
import { packageRoot } from '../../util/package-root.js';
import { buildId } from './build-id.js';
import { WORKER_GC_NAME, exitLine } from './protocol.js';
import { reniceProcess } from './renice.js';

const native = nativeAddon();
const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write('usage: supervisor.js SOCKET\n');
  process.exit(2);
}
const numberEnv = (name: string, dflt: number, min: number, max: number): number => {
  const n = Number(process.env[name] ?? dflt);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : dflt;
};
/** Two cores here: two ready workers serve a burst of two; more would only compete for CPU. */
const POOL = numberEnv('HULL_SERVER_WORKERS', 2, 1, 8);
const IDLE_MS = numberEnv('HULL_SERVER_IDLE_SECONDS', 300, 1, 86_400) * 1000;
/** Workers that die before becoming ready this many times in a row mean something is broken. */
const MAX_FAILED_STARTS = 3;
/** How much nicer than the supervisor an idle worker starts. */
const REFILL_NICE = 10;
/**
 * V8 flags of a worker. --no-lazy: V8 compiles every function while the worker loads (off the
 * critical path) instead of at its first call, which for a worker is always during the user's
 * command (measured: ~20 ms less CPU and markedly less wall time for a first `run --rm`).
 * --no-memory-reducer: V8's memory reducer shrinks an idle heap with a mark-sweep ~8 s after
 * allocation stops; a worker idles blocked in recvmsg, so that timer fired as the command
 * arrived: every command after a pause paid incremental marking + a mark-sweep (7-23 ms of the
 * main thread, measured with HULL_TRACE's gc rows). A worker lives for one command: its heap
 * never needs shrinking. --expose-gc-as: the worker collects once itself before it is ready
 * (worker.ts), so no collection the load began is left for the command to finish.
 */
const WORKER_V8_FLAGS = ['--no-lazy', '--no-memory-reducer', `--expose-gc-as=${WORKER_GC_NAME}`];
const WORKER_JS = join(packageRoot(), 'dist', 'src', 'cli', 'server', 'worker.js');
const build = buildId();

interface Worker {
  child: ChildProcess;
  /** Our end of the socketpair on which the worker receives its client connection. */
  ctl: number;
  ready: boolean;
  /** The client this worker serves; its exit status goes there. */
  client?: Socket;
}

/**
 * A cold command (the client execs node) costs about this fraction of the CPU a warm worker
 * spends loading (measured: `node main.js --version` 0.25-0.30 s of CPU, a `--no-lazy` worker's
 * load 0.40-0.48 s). A client waits for a loading worker only when less than that is left.
 */
const COLD_FRACTION = numberEnv('HULL_SERVER_COLD_FRACTION', 0.6, 0, 1);
/** CPU ms the last worker had used when it became ready; until one has, a guess. */
let readyCpuMs = 450;

/** utime + stime of `pid` in ms (clock ticks are 10 ms on Linux). */
function cpuMs(pid: number | undefined): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

const workers = new Set<Worker>();
let failedStarts = 0;
let lastUse = Date.now();
let closing = false;

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} hull supervisor ${process.pid}: ${msg}\n`);
}

/**
 * SOCKET.ready holds how many workers are ready: for benchmarks and tests that must know the
 * pool has refilled. Written only when the count changes, after the hand-over.
 */
function publishReady(): void {
  if (closing) return; // shutdown removed the file; killed idle workers must not bring it back
  let n = 0;
  for (const w of workers) if (w.ready) n++;
  try {
    writeFileSync(`${socketPath}.ready`, `${n}\n`);
  } catch {
    // informational only
  }
}

function spawnWorker(): void {
  const [mine, theirs] = native.socketpair();
  const child = spawn(process.execPath, [...WORKER_V8_FLAGS, '--', WORKER_JS], {
    // fd 3 is the worker's CTL_FD; fd 1 carries its one-byte "ready" until it takes the client's fds.
    stdio: ['ignore', 'pipe', 'inherit', theirs],
    env: { ...process.env, HULL_WORKER_BUILD: build, HULL_WORKER_NICE: String(getPriority()) },
  });
  native.closeFd(theirs);
  // A refill starts while a command runs: its start-up (hundreds of ms of CPU) must not slow
  // that command down. The worker returns to normal priority when it takes a request.
  try {
    if (child.pid) setPriority(child.pid, Math.min(19, getPriority() + REFILL_NICE));
  } catch {
    // not allowed to renice: start at normal priority
  }
  const w: Worker = { child, ctl: mine, ready: false };
  workers.add(w);
  child.stdout!.once('data', () => {
    const cpu = cpuMs(child.pid);
    if (cpu > 0) readyCpuMs = cpu;
    if (closing || w.client) return;
    w.ready = true;
    failedStarts = 0;
    publishReady();
  });
  child.stdout!.resume();
  child.on('exit', (code, signal) => {
    workers.delete(w);
    native.closeFd(w.ctl);
    if (w.ready) publishReady();
    if (w.client) {
      w.client.end(exitLine(code, signal ? constants.signals[signal] : undefined));
    } else if (!w.ready && !closing && ++failedStarts >= MAX_FAILED_STARTS) {
      log(`workers keep failing to start (last: ${signal ?? `exit ${code}`}); exiting`);
      shutdown();
      return;
    }
    refill();
  });
}

/**
 * None ready (a burst drained the pool): the loading worker furthest along, if what it has left
 * to load costs less than a cold start. The client then waits for it: the hand-over queues on
 * its socket until it is ready. A worker that dies first reports an exit status before any `P`,
 * which the client answers by running node itself, so a command still never runs twice.
 */
function loadingWorkerWorthWaitingFor(): Worker | undefined {
  let best: Worker | undefined;
  let bestCpu = -1;
  for (const w of workers) {
    if (w.client || w.ready) continue;
    const cpu = cpuMs(w.child.pid);
    if (cpu > bestCpu) [best, bestCpu] = [w, cpu];
  }
  return best && readyCpuMs - bestCpu <= readyCpuMs * COLD_FRACTION ? best : undefined;
}

function refill(): void {
  if (closing) return;
  let idle = 0;
  for (const w of workers) if (!w.client) idle++;
  for (; idle < POOL; idle++) spawnWorker();
}

function ownsSocket(): boolean {
  try {
    return statSync(socketPath!).ino === socketIno;
  } catch {
    return false;
  }
}

/** Stops listening, gives up the socket and the lock, kills idle workers; busy ones finish. */
function shutdown(): void {
  if (closing) return;
  closing = true;
  server.close();
  if (ownsSocket()) unlinkSync(socketPath!);
  rmSync(`${socketPath}.ready`, { force: true });
  closeSync(lockFd);
  for (const w of workers) if (!w.client) w.child.kill('SIGTERM');
  clearInterval(timer);
  // The process exits once the last busy worker has reported to its client.
}

function renicePid(pid: number, nice: number): void {
  try {
    setPriority(pid, nice);
  } catch {
    // exited meanwhile: the hand-over below fails and says so
  }
}

function onConnection(client: Socket): void {
  client.on('error', () => {});
  lastUse = Date.now();
  if (buildId() !== build) {
    shutdown();
    client.end('X\n');
    return;
  }
  const w = [...workers].find((x) => x.ready && !x.client) ?? loadingWorkerWorthWaitingFor();
  if (!w) {
    client.end('F\n');
    refill();
    return;
  }
  if (!w.ready && w.child.pid) reniceProcess(w.child.pid, getPriority());
  // A ready worker renices all its threads once it has the request; until then its main thread,
  // which takes the hand-over and reads the request, must not run at the idle nice (+10: under
  // load that thread waited for the CPU behind every normal process, 2-8 ms per command).
  else if (w.child.pid) renicePid(w.child.pid, getPriority());
  w.ready = false;
  w.client = client;
  try {
    // Node keeps its own copy of the socket (paused: the worker alone reads it).
    const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    native.sendFds(w.ctl, Buffer.from('c'), [fd]);
  } catch (e) {
    log(`handing a client to worker ${w.child.pid}: ${(e as Error).message}`);
    w.client = undefined;
    client.end('F\n');
    w.child.kill('SIGKILL');
  }
  publishReady();
  refill();
}

mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
const lockFd = openSync(`${socketPath}.lock`, 'a', 0o600);
if (!native.flockExclusive(lockFd)) process.exit(0); // another supervisor serves this socket
try {
  unlinkSync(socketPath);
} catch {
  // none left behind
}
const server = createServer({ pauseOnConnect: true }, onConnection);
let socketIno = -1;
server.on('error', (e) => {
  log(`listening on ${socketPath}: ${e.message}`);
  process.exit(1);
});
// The socket runs commands as this user: nobody else may connect.
const oldMask = process.umask(0o177);
server.listen(socketPath, () => {
  process.umask(oldMask);
  chmodSync(socketPath, 0o600);
  socketIno = statSync(socketPath).ino;
  refill();
});
const timer = setInterval(() => {
  const busy = [...workers].some((w) => w.client);
  if (!ownsSocket() || buildId() !== build || (!busy && Date.now() - lastUse > IDLE_MS)) shutdown();
}, Math.min(10_000, IDLE_MS));
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, shutdown);
