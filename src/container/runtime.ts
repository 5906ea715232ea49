/**
 * The OCI runtime (runc or crun): choosing it, and the verbs the engine uses directly. Create
 * is the monitor's job (monitor.ts), everything after it goes through here.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { MonitorStartResult } from './monitor.js';
import { promisify } from 'node:util';
import { HullError } from '../util/errors.js';

const run = promisify(execFile);

export const KNOWN_RUNTIMES = ['runc', 'crun'] as const;

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** cgroup v2 only (unified, with controllers): the one layout crun 1.8 accepts. */
function unifiedCgroups(): boolean {
  return existsSync('/sys/fs/cgroup/cgroup.controllers');
}

/**
 * `--runtime` (or HULL_RUNTIME) when given; otherwise crun where it works (faster start), else
 * runc. crun 1.8 refuses hybrid cgroup hosts, so it is only chosen on a unified hierarchy.
 */
export function chooseRuntime(requested?: string): string {
  // The same answer for the same inputs while the file is still there: a search of PATH (and
  // the cgroup check) cost ~0.5 ms, and `run` asks twice (create checks, start uses it).
  const key = `${requested ?? ''}\0${process.env.HULL_RUNTIME ?? ''}\0${process.env.PATH ?? ''}`;
  const hit = chosen.get(key);
  if (hit !== undefined && isExecutable(hit)) return hit;
  const path = searchRuntime(requested);
  chosen.set(key, path);
  return path;
}

const chosen = new Map<string, string>();

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchRuntime(requested?: string): string {
  const name = requested || process.env.HULL_RUNTIME || '';
  if (name) {
    const path = name.includes('/') ? name : onPath(name);
    if (!path) throw new HullError('INVALID_ARGUMENT', `unknown or invalid runtime name: ${name}`);
    return path;
  }
  const crun = onPath('crun');
  if (crun && unifiedCgroups()) return crun;
  const runc = onPath('runc');
  if (runc) return runc;
  if (crun) return crun;
  throw new HullError('INTERNAL', 'no OCI runtime found: install runc (apt-get install runc)');
}

export class Runtime {
  constructor(
    readonly path: string,
    readonly root: string,
  ) {}

  private async call(args: string[]): Promise<string> {
    try {
      const { stdout } = await run(this.path, ['--root', this.root, ...args], { maxBuffer: 16 << 20 });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new HullError('INTERNAL', `${args[0]} failed: ${(err.stderr ?? err.message).trim()}`, { cause: e });
    }
  }

  /**
   * Let the created container run. runc's through its monitor (`viaMonitor`, docs/monitor.md
   * frame 6), which reads runc's exec.fifo as `runc start` does, without a Go process start;
   * another runtime, or a monitor that found no FIFO, with `start`.
   */
  async start(id: string, viaMonitor?: () => Promise<MonitorStartResult>): Promise<void> {
    if (viaMonitor && basename(this.path) === 'runc' && (await viaMonitor()) === 'started') return;
    await this.call(['start', id]);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.call(['kill', ...(all ? ['--all'] : []), id, signal]);
  }

  async delete(id: string): Promise<void> {
    await this.call(['delete', '--force', id]).catch(() => undefined);
  }

  pause(id: string): Promise<string> {
    return this.call(['pause', id]);
  }

  resume(id: string): Promise<string> {
    return this.call(['resume', id]);
  }

  /** The runtime's view (`created`, `running`, `paused`, `stopped`), or undefined if unknown to it. */
  async status(id: string): Promise<string | undefined> {
    try {
      const out = await this.call(['state', id]);
      return (JSON.parse(out) as { status: string }).status;
    } catch {
      return undefined;
    }
  }

  /** The pids of every process in the container (`runc ps --format json`). */
  async pids(id: string): Promise<number[]> {
    return JSON.parse(await this.call(['ps', '--format', 'json', id])) as number[];
  }
}
