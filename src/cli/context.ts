/** Shared plumbing for command handlers: the engine for the chosen root, output helpers. */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Engine, resolveRoot } from '../engine/engine.js';
import { HullError } from '../util/errors.js';
import { atWorkerExit, isWarmWorker } from './server/worker-mode.js';
import { span } from '../util/trace.js';

let rootFlag: string | undefined;

export function setRootFlag(root: string | undefined): void {
  rootFlag = root;
}

/**
 * True when the chosen root holds a state database. Only for the monitor's exit command: a
 * container that outlives its root (a test or a user removed the whole directory) must not
 * make its exit command create an empty root again.
 */
export function stateExists(): boolean {
  return existsSync(join(chosenRoot(), 'hull.db'));
}

/** The state root this command works on (--root, $HULL_ROOT or the default). */
export function chosenRoot(): string {
  return resolveRoot(rootFlag);
}

/** Open the engine, run `fn`, always close the database. `existing`: see Engine.open. */
export async function withEngine<T>(fn: (engine: Engine) => Promise<T> | T, opts: { existing?: boolean } = {}): Promise<T> {
  const engine = await span('engine: open (SQLite, migrations)', () => Engine.open(chosenRoot(), opts));
  try {
    return await fn(engine);
  } finally {
    // Closing checkpoints the WAL (fsyncs: 10-40 ms here). A warm worker does its database's
    // end after the client has the command's status, off the caller's critical path, and
    // leaves the WAL ready for the next command (Engine.handOver).
    if (isWarmWorker()) atWorkerExit(() => engine.handOver());
    else engine.close();
  }
}

/** Commander's collector for repeatable options (`--filter a --filter b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Docker prints inspect results as a JSON array indented by four spaces. */
export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 4));
}

/**
 * Open a file named on the command line for reading, failing with Docker's wording before any
 * work starts (a stream created on a missing file would only fail later, as an event).
 */
export async function openInput(path: string): Promise<Readable> {
  try {
    const fh = await open(path, 'r');
    return fh.createReadStream();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new HullError('INVALID_ARGUMENT', `open ${path}: ${why}`);
  }
}

/** Docker's CLI exits 1 when the daemon refused a request. */
export const DAEMON_ERROR = 1;

/** Report an engine refusal as the docker CLI does; anything else is a real fault and is rethrown. */
export function daemonError(e: unknown): number {
  if (!(e instanceof HullError)) throw e;
  process.stderr.write(`Error response from daemon: ${e.message}\n`);
  return DAEMON_ERROR;
}

/** Apply `fn` to each named object; per-name errors, exit 1 at the end (Docker's pattern). */
export async function eachName(names: string[], fn: (engine: Engine, name: string) => Promise<void>): Promise<void> {
  let failed = false;
  await withEngine(async (engine) => {
    for (const n of names) {
      try {
        await fn(engine, n);
      } catch (e) {
        daemonError(e);
        failed = true;
      }
    }
  });
  if (failed) process.exitCode = DAEMON_ERROR;
}

/** Docker's `[y/N]` prompt; anything but y/yes (or a closed stdin) is no. */
export function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  return new Promise((resolve) => {
    process.stdin.once('data', (d) => {
      process.stdin.pause();
      resolve(/^y(es)?$/i.test(d.toString().trim()));
    });
    process.stdin.once('end', () => resolve(false));
  });
}
