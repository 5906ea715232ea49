import assert from 'node:assert/strict';
/** Run the built `hull` binary as a user would, with its own state root. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { removeHullTree } from './leftovers.js';


/** The compiled CLI; tests run from dist/, so the build is always there. */
export const HULL_BIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/** The native client (`hull` on PATH): hands commands to a warm worker (src/cli/server/). */
export const HULL_CLIENT = join(packageRoot(), 'build', 'hull-client');

/**
 * How to start `hull ARGS`: node on the compiled CLI, or with HULL_TEST_VIA_CLIENT=1 the native
 * client, so the whole suite can run through the warm-worker path too.
 */
export function hullCommand(args: string[], viaClient = process.env.HULL_TEST_VIA_CLIENT === '1'): [string, string[]] {
  return viaClient ? [HULL_CLIENT, args] : [process.execPath, ['--', HULL_BIN, ...args]];
}

export interface HullResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HullRunOptions {
  root: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export function runHull(args: string[], opts: HullRunOptions): Promise<HullResult> {
  const [file, argv] = hullCommand(['--root', opts.root, ...args]);
  return runCollecting(file, argv, { env: opts.env, timeoutMs: opts.timeoutMs ?? 120_000, input: opts.input });
}

/**
 * Runs `file` with `argv` (this process's environment plus `env`), `input` on its stdin, and
 * collects its output; killed after timeoutMs. A command killed by a signal counts as code 128.
 */
export function runCollecting(
  file: string,
  argv: string[],
  opts: { env?: Record<string, string> | undefined; timeoutMs: number; input?: string | Buffer | undefined },
): Promise<HullResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
    // A command that does not read stdin may be gone before it is closed (EPIPE): its exit status tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Asserts that a hull run exited 0, naming the command and its stderr when not; returns the run. */
export function assertOk(args: string[], r: HullResult): HullResult {
  assert.equal(r.code, 0, `hull ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r;
}

let nameSeq = 0;
/** `<prefix>-<pid>-<n>`, new at each call: names that parallel test files and runs never share. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++nameSeq}`;
}

/** A fresh state root for one test, removed afterwards. */
export async function withRoot<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'hull-test-root-'));
  try {
    return await fn(root);
  } finally {
    await removeHullTree(root);
  }
}

/**
 * `false` when this machine can run container tests (root, the named tools, the files), else
 * the reason to skip them. CI installs everything, so there it is always false.
 */
export function containerTestSkip(tools: string[], files: string[] = ['/bin/busybox']): false | string {
  const ok =
    process.getuid?.() === 0 && tools.every((t) => spawnSync(t, ['--version']).status === 0) && files.every((f) => existsSync(f));
  return ok ? false : `needs root, ${[...tools, ...files].join(', ')}`;
}

/** Poll `probe` every 100 ms until it yields a value (not undefined/false), or fail after `ms`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * After a suite: removes every container (`rm -f`) and every custom network of a test root, through
 * the suite's own `ok` runner (which carries its root and env). Returns the removed container ids.
 */
export async function removeContainersAndNetworks(ok: (args: string[]) => Promise<string>): Promise<string[]> {
  const ids = (await ok(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean);
  if (ids.length > 0) await ok(['rm', '-f', ...ids]);
  const nets = (await ok(['network', 'ls', '--filter', 'type=custom', '-q'])).split('\n').filter(Boolean);
  if (nets.length > 0) await ok(['network', 'rm', ...nets]);
  return ids;
}
