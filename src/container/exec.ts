/**
 * `exec`: another process in a running container, through `runc exec --process process.json`.
 *
 * The process spec starts from the container's own (config.json's `process`, as Docker starts
 * from the container's spec): rlimits, noNewPrivileges, oomScoreAdj and capabilities carry
 * over; args, env, cwd, user and terminal are the exec's.
 *
 * Terminal (`-t`): runc in the foreground allocates the pty itself (a socketpair inside runc, so
 * no fd ever has to cross into Node, which cannot receive SCM_RIGHTS), puts the caller's
 * terminal in raw mode, copies both ways, and on SIGWINCH copies the caller's window size to
 * the pty. So `hull exec -t` hands runc its own terminal and waits; resize follows for free.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OciProcess, OciSpec } from './spec/oci-types.js';
import { classifyRuntimeError } from './monitor.js';
import { HullError } from '../util/errors.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Key of an env entry (`K=V` or a bare `K`). */
function envKey(e: string): string {
  const i = e.indexOf('=');
  return i === -1 ? e : e.slice(0, i);
}

/** Docker's ReplaceOrAppendEnvValues: later entries win; a bare `K` removes K. */
export function replaceOrAppendEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  for (const kv of overrides) {
    const i = out.findIndex((e) => envKey(e) === envKey(kv));
    if (!kv.includes('=')) {
      if (i !== -1) out.splice(i, 1);
    } else if (i === -1) out.push(kv);
    else out[i] = kv;
  }
  return out;
}

/**
 * The exec's environment as Docker builds it (CreateDaemonEnvironment, then the exec's own):
 * PATH, HOSTNAME, TERM with a tty, then the container's Config.Env, then `-e`. HOME is left to
 * runc, which sets it from the exec user's passwd entry when absent, as for Docker.
 */
export function execEnv(containerEnv: readonly string[], hostname: string, tty: boolean, execEnvs: readonly string[]): string[] {
  const base = [DEFAULT_PATH, `HOSTNAME=${hostname}`, ...(tty ? ['TERM=xterm'] : [])];
  return replaceOrAppendEnv(replaceOrAppendEnv(base, containerEnv), execEnvs);
}

/**
 * `-e K=V` as given, and `-e K` from the CLI's own environment (dropped when unset there), as
 * Docker's opts.ValidateEnv does.
 */
export function expandEnvFlag(v: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (v.includes('=')) {
    if (v.startsWith('=')) throw new HullError('INVALID_ARGUMENT', `invalid environment variable: ${v}`);
    return v;
  }
  const host = env[v];
  return host === undefined ? v : `${v}=${host}`;
}

/** Docker's --env-file: `K=V` or `K` lines, `#` comments and blank lines skipped. */
export function parseEnvFile(text: string, file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    const key = i === -1 ? line : line.slice(0, i);
    if (key === '') throw new HullError('INVALID_ARGUMENT', `no variable name on line '${raw}' of ${file}:${n + 1}`);
    if (/\s/.test(key)) throw new HullError('INVALID_ARGUMENT', `variable '${key.trimEnd()}' contains whitespaces`);
    if (i !== -1) out.push(line);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  }
  return out;
}

export interface ExecProcessInput {
  /** The container's spec process (its bundle's config.json). */
  base: OciProcess;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  /** Capabilities replacing the container's (`--privileged`). */
  capabilities?: string[];
  consoleSize?: { rows: number; cols: number };
}

export function execProcess(i: ExecProcessInput): OciProcess & { consoleSize?: { height: number; width: number } } {
  const caps = i.capabilities;
  return {
    ...i.base,
    terminal: i.tty,
    args: [...i.args],
    env: [...i.env],
    cwd: i.cwd,
    user: { uid: i.user.uid, gid: i.user.gid, additionalGids: [...i.user.additionalGids] },
    capabilities: caps ? { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [] } : i.base.capabilities,
    ...(i.tty && i.consoleSize ? { consoleSize: { height: i.consoleSize.rows, width: i.consoleSize.cols } } : {}),
  };
}

/** The container's spec from its bundle. */
export async function readBundleSpec(bundleDir: string): Promise<OciSpec> {
  return JSON.parse(await readFile(join(bundleDir, 'config.json'), 'utf8')) as OciSpec;
}

/** `runc exec` could not start the process (as opposed to the process failing). */
export class ExecStartError extends HullError {
  /** What Docker exits with: 127 not found, 126 not executable or any other start failure. */
  readonly exitStatus: number;

  constructor(runtimeMessage: string) {
    const reason = classifyRuntimeError(runtimeMessage);
    // Docker's text: "OCI runtime exec failed: <runc's error>: unknown".
    super(reason === 'runtime' ? 'INTERNAL' : 'INVALID_ARGUMENT', `OCI runtime exec failed: ${runtimeMessage}: unknown`);
    this.name = 'ExecStartError';
    this.exitStatus = reason === 'command-not-found' ? 127 : 126;
  }
}

export interface RunExecOptions {
  runtime: string;
  runtimeRoot: string;
  id: string;
  process: OciProcess;
  /** Foreground: connect the caller's stdin (otherwise /dev/null). */
  stdin: boolean;
  /** Return once the process has started (`runc exec --detach`), stdio on /dev/null. */
  detach: boolean;
  /**
   * A terminal (pty slave fd) to be runc's stdio, for `-t` without a terminal of our own (the
   * API server): runc takes its host console from its stdio and relays it to the process's pty.
   */
  terminal?: number;
  /** Told runc's pid once it runs (the API resizes through it: SIGWINCH). */
  onSpawn?: (pid: number) => void;
  /** Feed this stream to the process's stdin instead of this process's own (the API's attach). */
  stdinStream?: NodeJS.ReadableStream;
  /** Where the process's stdout/stderr go in the foreground (default: this process's). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Opens the fds the process gets as its fds 3, 4, ... (`--preserve-fds`): the seccomp helper's (container/seccomp-filter.ts); closed here once runc has them. */
  openFds?: () => readonly number[];
}

/** runc ≥ 1.1 prefixes the error of a failed exec with this. */
const RUNC_EXEC_FAILED = 'exec failed: ';

/** The last error runc logged (`--log FILE --log-format json`), if any. */
export function lastLoggedError(log: string): string | undefined {
  let msg: string | undefined;
  for (const line of log.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if ((e.level === 'error' || e.level === 'fatal') && typeof e.msg === 'string') msg = e.msg;
    } catch {
      // a torn line: runc was killed while writing
    }
  }
  return msg;
}

/**
 * Run `runc exec` and resolve with the process's exit status (128+n for a signal, as runc and
 * Docker report it; 0 at once with `detach`). A start failure rejects with ExecStartError.
 *
 * runc writes its own fatal error to stderr, which (without a tty) also carries the process's
 * stderr. The error is told apart through runc's JSON log; a stderr line that starts like
 * runc's error is held back until runc exits and then dropped only if runc logged it.
 */
export async function runExec(o: RunExecOptions): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-exec-'));
  const processFile = join(dir, 'process.json');
  const logFile = join(dir, 'runc.log');
  try {
    await writeFile(processFile, JSON.stringify(o.process), { mode: 0o600 });
    const preserved = o.openFds?.() ?? [];
    const args = ['--root', o.runtimeRoot, '--log', logFile, '--log-format', 'json', 'exec', '--process', processFile, ...(o.detach ? ['--detach'] : []), ...(preserved.length ? ['--preserve-fds', String(preserved.length)] : []), o.id];
    const tty = o.process.terminal && !o.detach;
    const stdout = o.stdout ?? process.stdout;
    const stderr = o.stderr ?? process.stderr;
    // Detached, the process inherits runc's stdio, so none of it may be a pipe we wait on.
    const stdio: ('pipe' | 'inherit' | 'ignore' | number)[] = o.detach
      ? ['ignore', 'ignore', 'ignore']
      : o.terminal !== undefined
        ? [o.terminal, o.terminal, o.terminal]
        : // With a tty runc needs the caller's terminal itself (it finds it on any of the three).
        [o.stdinStream ? 'pipe' : o.stdin ? 'inherit' : 'ignore', tty || o.stdout === undefined ? 'inherit' : 'pipe', 'pipe'];
    let child: ChildProcess;
    try {
      child = spawn(o.runtime, args, {
        // A terminal of its own: a new session, so that hull's terminal (if any) stays out of it.
        detached: o.terminal !== undefined && !o.detach,
        stdio: [...stdio, ...preserved],
      });
    } finally {
      for (const fd of preserved) closeSync(fd);
    }
    if (child.pid !== undefined) o.onSpawn?.(child.pid);
    if (o.stdinStream && child.stdin) {
      child.stdin.on('error', () => undefined); // the process may exit without reading it all
      o.stdinStream.pipe(child.stdin);
    }
    if (child.stdout) child.stdout.pipe(stdout, { end: false });
    let held = '';
    let atLineStart = true;
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      if (held || (atLineStart && RUNC_EXEC_FAILED.startsWith(text.slice(0, RUNC_EXEC_FAILED.length)))) {
        held += text;
        // Only a line that really starts with runc's prefix is worth holding.
        if (held.length >= RUNC_EXEC_FAILED.length && !held.startsWith(RUNC_EXEC_FAILED)) {
          stderr.write(Buffer.from(held, 'latin1'));
          atLineStart = held.endsWith('\n');
          held = '';
        }
        return;
      }
      atLineStart = text.endsWith('\n');
      stderr.write(d);
    });
    // Signals to hull go to runc, which passes them on to the process (Docker's exec would
    // leave the process running; with runc in our foreground it would lose its stdio instead).
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    for (const s of signals) process.on(s, forward);
    let code: number;
    try {
      code = await new Promise<number>((resolve, reject) => {
        child.once('error', (e) => reject(new HullError('INTERNAL', `cannot run ${o.runtime}: ${e.message}`, { cause: e })));
        child.once(o.detach ? 'exit' : 'close', (c: number | null, sig: NodeJS.Signals | null) => resolve(c ?? 128 + (sig ? signalNumber(sig) : 0)));
      });
    } finally {
      for (const s of signals) process.off(s, forward);
    }
    const logged = lastLoggedError(await readFile(logFile, 'utf8').catch(() => ''));
    if (code !== 0 && logged !== undefined) {
      // Anything held back that is not runc's message was the process's own.
      const rest = held.split('\n').filter((l) => l !== '' && l.trim() !== logged.trim()).join('\n');
      if (rest) stderr.write(Buffer.from(`${rest}\n`, 'latin1'));
      throw new ExecStartError(logged.replace(/^runc exec failed: /, ''));
    }
    if (held) stderr.write(Buffer.from(held, 'latin1'));
    return code;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const n: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGUSR1: 10, SIGUSR2: 12 };
  return n[sig] ?? 0;
}
