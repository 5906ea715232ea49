/**
 * A warm CLI worker: started by the supervisor with all of hull's CLI modules imported ahead
 * of time, it serves exactly ONE command and exits, so every command keeps plain process
 * semantics (its own fds 0/1/2, env, cwd, exit code, signal handlers).
 *
 * Until the request arrives it must not touch process.stdin/stdout/stderr: Node creates those
 * streams lazily from whatever fds 0/1/2 are at first use, and they must be the client's.
 */
import './warm.js';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareProgram, runCli } from '../main.js';
import { flushTrace, mark } from '../../util/trace.js';
import { nativeAddon } from '../../util/native.js';
import { backgroundScheduler, setAfterReplyScheduler, settleAfterReply, type AfterReplyWork } from '../../util/after-reply.js';
import { packageRoot } from '../../util/package-root.js';
import { buildId } from './build-id.js';
import { reniceProcess } from './renice.js';
import { runWorkerExitWork } from './worker-mode.js';
import { warmSqlite } from '../../state/db.js';
import { chooseRuntime } from '../../container/runtime.js';
import { kernelSeccompArches } from '../../container/spec/host-abis.js';
import { prespawnMonitor } from '../../container/monitor.js';
import { prepareSpareNetns } from '../../network/spare-netns.js';
import { CTL_FD, REQUEST_TIMEOUT_MS, WORKER_GC_NAME, exitLine, parseRequest } from './protocol.js';

const native = nativeAddon();

/** Exit status for "I was started for a build that is no longer current". */
const EXIT_STALE = 75;

/**
 * How long a worker that answered waits for its after-reply work before it ends anyway. Each
 * piece is bounded by itself (a monitor waited for 2 s at most, unmounts detach); this bound is
 * for a worker that must not live on, a leak, if one of them hangs.
 */
const AFTER_REPLY_MS = 5_000;

/**
 * The first async fs calls of a process start libuv's thread pool and initialise Node's
 * fs/promises paths: measured 6 ms of CPU on a quiet machine, ~20 ms loaded, inside the first
 * `run` (its /etc files). Paid here instead, on nothing that matters.
 */
async function warmAsyncFs(): Promise<void> {
  await readFile('/proc/self/stat').catch(() => undefined);
  await writeFile('/dev/null', 'warm').catch(() => undefined);
  await rename('/nonexistent/hull-warm', '/nonexistent/hull-warm2').catch(() => undefined);
  // The first recursive rmSync loads Node's internal rimraf (1.3 ms): `start` empties the
  // monitor's directory with one before it spawns the monitor.
  rmSync('/nonexistent/hull-warm', { recursive: true, force: true });
}

/**
 * The OCI runtime's path, searched once per process (container/runtime.ts): every create and
 * start asks for it (a search of PATH, ~0.5 ms). The command's PATH is usually the supervisor's
 * (the same user's shell); when it is not, the command searches again.
 */
function warmRuntimeChoice(): void {
  try {
    chooseRuntime();
  } catch {
    // no runtime installed: the command reports that itself
  }
}

/**
 * A full collection while idle. The load leaves V8 with garbage and sometimes with incremental
 * marking under way; while the worker blocks in recvmsg none of it can progress, so it was
 * finished by the command (a mark-sweep of 5-20 ms at the request's arrival, HULL_TRACE's gc
 * rows). Collected now, the command starts on a clean heap and an empty young generation.
 */
function collectGarbage(): void {
  const gc = (globalThis as Record<string, unknown>)[WORKER_GC_NAME];
  if (typeof gc === 'function') (gc as () => void)();
}

function closeAll(fds: number[]): void {
  for (const fd of fds) native.closeFd(fd);
}

/**
 * Points fds 0-2 at /dev/null once the command's output is complete. They are dups of the
 * client's stdio: while the worker holds them, whoever reads the client's stdout (a shell's
 * `$(hull ...)`, a pipe, a test harness) sees no EOF until the worker has finished its
 * after-reply work and Node's teardown, 50-80 ms after the client itself exited (measured).
 * Later writes (none expected) go nowhere rather than into a terminal the user got back.
 */
function releaseStdio(): void {
  try {
    const nul = openSync('/dev/null', 'r+');
    for (let fd = 0; fd < 3; fd++) native.dup2(nul, fd);
    closeSync(nul);
  } catch {
    // keep them: holding the client's stdio a little longer is only slower
  }
}

/**
 * Sends the client the command's exit status, once: flushes the trace and lets go of the
 * client's stdio first, so that it is complete when the client exits.
 */
function answerOnce(conn: number): (code: number) => void {
  let sent = false;
  return (code) => {
    if (sent) return;
    sent = true;
    flushTrace();
    releaseStdio();
    try {
      writeSync(conn, exitLine(code, undefined));
    } catch {
      // the client is gone
    }
  };
}

async function serve(): Promise<void> {
  if (buildId() !== process.env.HULL_WORKER_BUILD) process.exit(EXIT_STALE);
  // Work every command does that needs nothing from the request, done while idle.
  const program = prepareProgram();
  warmSqlite();
  warmRuntimeChoice();
  kernelSeccompArches(); // a probe per process (two vforks), cached
  await warmAsyncFs();
  // A container monitor waiting for its arguments: a `run` or `start` then forks nothing.
  prespawnMonitor();
  // A network namespace likewise: the start binds it instead of waiting for the kernel to make one.
  await prepareSpareNetns();
  collectGarbage();
  // Ready: fd 1 is still the pipe to the supervisor (fs.writeSync does not create process.stdout).
  writeSync(1, 'R');
  // Blocks until the supervisor hands over a client's connection; EOF when it went away.
  const handoff = native.recvFds(CTL_FD, -1);
  native.closeFd(CTL_FD);
  if (!handoff || handoff.fds.length !== 1) process.exit(0);
  const conn = handoff.fds[0]!;
  writeSync(conn, `P ${process.pid}\n`);
  const req = native.recvFds(conn, REQUEST_TIMEOUT_MS);
  // The client gave up before sending its request (it then runs the command itself).
  if (!req) process.exit(0);
  const answer = answerOnce(conn);
  // A command that ends with process.exit() (or an uncaught exception) gets no 'beforeExit':
  // its status goes here, and after-reply work it queued is dropped, as when a plain CLI
  // process exits that way (what it leaves is swept by the next command that needs it gone).
  process.on('exit', (code) => {
    answer(code);
    runWorkerExitWork();
    // Ends here, without Node's teardown: its cleanup hooks would close SQLite (as the last
    // connection: a checkpoint, and the WAL deleted, which the next command then recreates with
    // two fsyncs; see state/db.ts handOverDb) and free a heap nobody needs. Listeners added
    // after this one do not run: the worker's own go through atWorkerExit.
    process.exit(code);
  });
  // Work the client need not wait for is held back until it has its answer.
  const held: AfterReplyWork[] = [];
  setAfterReplyScheduler((work) => {
    held.push(work);
  });
  // The loop is empty: the command and all it started are done, its status is final. Report it
  // now, not after Node's teardown (tens of ms for a heap this size); then the held work, awaited
  // (bounded), then the end. A death by signal is reported by the supervisor, which sees it.
  let ended = false;
  process.on('beforeExit', (code) => {
    if (ended) return;
    ended = true;
    answer(code);
    setAfterReplyScheduler(backgroundScheduler);
    for (const work of held.splice(0)) backgroundScheduler(work);
    void settleAfterReply(AFTER_REPLY_MS).then(() => process.exit());
  });
  if (req.fds.length !== 3) {
    closeAll(req.fds);
    process.exit(0);
  }
  const { args, env, cwd } = parseRequest(req.data);
  req.fds.forEach((fd, i) => {
    native.dup2(fd, i);
    native.closeFd(fd);
  });
  // Through process.env's own setters, so setenv/unsetenv reach the native environment too.
  // Idle workers start niced (see supervisor.ts); the command runs at the caller's priority.
  const nice = Number(process.env.HULL_WORKER_NICE);
  // Every thread (see renice.ts): measured, libuv's pool left at +10 made the engine's start-up
  // fs work take 115-140 ms instead of ~10 under load.
  if (Number.isInteger(nice)) reniceProcess(process.pid, nice);
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, env);
  try {
    process.chdir(cwd);
  } catch {
    // The client's cwd may be gone (deleted directory); plain node starts there anyway.
  }
  process.argv = [process.execPath, join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), ...args];
  mark('worker: request received');
  await runCli(process.argv, program);
}

await serve();
