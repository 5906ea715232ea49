/**
 * The verbs around a running container: exec, top, stats, pause/unpause, rename, update, port,
 * prune. Each takes the ContainerService and answers in Docker's API shapes and with Docker's
 * error texts, so the CLI now and the API later render the same results.
 */
import { portMap } from './network-views.js';
import { execFile } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerService, Container } from './containers.js';
import type { HostConfig, RestartPolicy } from '../container/model.js';
import { NAME_PATTERN } from '../container/names.js';
import { containerPaths, runtimeRoot } from '../container/paths.js';
import { ExecStartError, execEnv, execProcess, readBundleSpec, runExec } from '../container/exec.js';
import { execThroughHelper, filterOf, helperFds, lookUp, lookupOf } from '../container/seccomp-filter.js';
import { allCapabilities } from '../container/spec/capabilities.js';
import { CPU_PERIOD } from '../container/spec/spec.js';
import { resolveUser } from '../container/spec/user.js';
import { emptyStats, sampleStats, withPrevious, type StatsJSON } from '../container/stats.js';
import { HullError } from '../util/errors.js';
import { isVm } from '../vm/prepare.js';
import { vmGuestProcesses } from '../vm/top.js';

const runFile = promisify(execFile);

function isLive(c: Container): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused';
}

/** Docker's errNotRunning. */
function notRunning(c: Container): HullError {
  return new HullError('CONFLICT', `container ${c.id} is not running`);
}

// ---- exec --------------------------------------------------------------------------------

export interface ExecRequest {
  cmd: string[];
  /** `-e` entries, already expanded (`K=V`, or a bare `K` that removes K). */
  env?: string[];
  user?: string;
  workingDir?: string;
  privileged?: boolean;
  tty?: boolean;
  /** Connect the caller's stdin (`-i`). */
  stdin?: boolean;
  detach?: boolean;
  consoleSize?: { rows: number; cols: number };
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** With `stdin`: the stream to feed (the API's hijacked connection) instead of this process's stdin. */
  stdinStream?: NodeJS.ReadableStream;
  /** With `tty` and no terminal of the caller's: the pty slave runc uses as its stdio (container/exec.ts). */
  terminal?: number;
  onSpawn?: (pid: number) => void;
}

/** Run a process in the container; resolves with its exit status (0 at once when detached). */
export async function execInContainer(svc: ContainerService, ref: string, req: ExecRequest): Promise<number> {
  const c = svc.get(ref);
  if (c.state.Status === 'paused') throw new HullError('CONFLICT', `Container ${ref} is paused, unpause the container before exec`);
  if (c.state.Status === 'restarting') throw new HullError('CONFLICT', `Container ${c.id} is restarting, wait until the container is running`);
  if (!isLive(c)) throw notRunning(c);
  if (req.cmd.length === 0) throw new HullError('INVALID_ARGUMENT', 'No exec command specified');
  const paths = containerPaths(svc.root, c.id);
  const spec = await readBundleSpec(paths.dir);
  const tty = req.tty ?? false;
  const user = await resolveUser(paths.rootfs, (req.user ?? c.doc.Config.User) || undefined, c.doc.HostConfig.GroupAdd ?? []);
  const proc = execProcess({
    base: spec.process,
    args: req.cmd,
    env: execEnv(c.doc.Config.Env, c.doc.Config.Hostname, tty, req.env ?? []),
    cwd: req.workingDir || c.doc.Config.WorkingDir || '/',
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    tty,
    ...(req.privileged ? { capabilities: allCapabilities() } : {}),
    ...(req.consoleSize ? { consoleSize: req.consoleSize } : {}),
  });
  // A container whose seccomp filter hull loads: runc starts the helper, which loads it for
  // this process too; runc no longer looks the command up, so it is looked up here.
  const filter = filterOf(spec);
  if (filter) {
    const lookup = lookupOf(proc);
    // The container's own sets carry the helper's two capabilities; its command never has them.
    if (!req.privileged) lookup.caps &= filter.bounding;
    const missing = lookUp(c.state.Pid, lookup);
    if (missing) throw new ExecStartError(`exec failed: unable to start container process: ${missing.message}`);
    execThroughHelper(proc, filter, req.privileged ?? false);
  }
  const runtime = svc.runtimeFor(c);
  return runExec({
    ...(filter ? { openFds: () => helperFds(filter.filter) } : {}),
    runtime: runtime.path,
    runtimeRoot: runtimeRoot(svc.root),
    id: c.id,
    process: proc,
    stdin: req.stdin ?? false,
    detach: req.detach ?? false,
    ...(req.stdout ? { stdout: req.stdout } : {}),
    ...(req.stderr ? { stderr: req.stderr } : {}),
    ...(req.stdinStream ? { stdinStream: req.stdinStream } : {}),
    ...(req.terminal !== undefined ? { terminal: req.terminal } : {}),
    ...(req.onSpawn ? { onSpawn: req.onSpawn } : {}),
  });
}

// ---- top ---------------------------------------------------------------------------------

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** Docker refuses ps arguments that would rename the PID column (it must find it). */
export function validatePsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (m[1] !== 'pid') throw new HullError('INVALID_ARGUMENT', `specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

/** Docker's parsePSOutput: the rows whose PID is one of the container's (and their thread lines). */
export function parsePsOutput(output: string, pids: readonly number[]): TopResult {
  const lines = output.split('\n');
  const fields = (l: string): string[] => l.split(/[ \t\n\v\f\r]+/).filter((f) => f !== '');
  const titles = fields(lines[0] ?? '');
  const pidIndex = titles.indexOf('PID');
  if (pidIndex === -1) throw new HullError('INTERNAL', "Couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const processes: string[][] = [];
  const add = (f: string[]): void => {
    processes.push([...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')]);
  };
  let previousWanted = false;
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const f = fields(line);
    const p = f[pidIndex] ?? '';
    // `ps -m` prints threads as lines with "-" for a PID, under their process.
    if (p === '-') {
      if (previousWanted) add(f);
      continue;
    }
    if (!/^\d+$/.test(p)) throw new HullError('INTERNAL', `Unexpected pid '${p}': strconv.Atoi: parsing "${p}": invalid syntax`);
    previousWanted = wanted.has(Number(p));
    if (previousWanted) add(f);
  }
  return { Titles: titles, Processes: processes };
}

export async function containerTop(svc: ContainerService, ref: string, psArgs = '-ef'): Promise<TopResult> {
  validatePsArgs(psArgs);
  const c = svc.get(ref);
  if (c.state.Status === 'restarting') throw new HullError('CONFLICT', `Container ${c.id} is restarting, wait until the container is running`);
  if (!isLive(c)) throw notRunning(c);
  if (isVm(c.doc)) {
    const guest = await vmGuestProcesses(svc.runtimeFor(c), c.id, psArgs);
    return parsePsOutput(guest.output, guest.pids);
  }
  const pids = await svc.runtimeFor(c).pids(c.id);
  const args = psArgs.split(' ');
  let output: string;
  try {
    // `-q` limits ps to the container's pids; some options (f) refuse it, so retry without.
    output = (await runFile('ps', [...args, '-q', pids.join(',')], { maxBuffer: 64 << 20 })).stdout;
  } catch {
    try {
      output = (await runFile('ps', args, { maxBuffer: 64 << 20 })).stdout;
    } catch (e) {
      const stderr = ((e as { stderr?: string }).stderr ?? '').split('\n')[0];
      throw new HullError('INTERNAL', `ps: ${stderr || (e as Error).message}`, { cause: e });
    }
  }
  return parsePsOutput(output, pids);
}

// ---- stats -------------------------------------------------------------------------------

/**
 * One StatsJSON sample (GET /containers/{id}/stats). Pass the previous sample of the same
 * container to fill precpu_stats, from which CPU % is computed. Not running: Docker's zeros.
 */
export function containerStats(svc: ContainerService, ref: string, previous?: StatsJSON): StatsJSON {
  const c = svc.get(ref);
  if (!isLive(c) || c.state.Pid <= 0) return emptyStats(c.id, c.name);
  const s = sampleStats({ id: c.id, name: c.name, pid: c.state.Pid, ownNetwork: c.doc.HostConfig.NetworkMode !== 'host' });
  return s ? withPrevious(s, previous) : emptyStats(c.id, c.name);
}

// ---- pause / unpause ---------------------------------------------------------------------

export async function pauseContainer(svc: ContainerService, ref: string): Promise<void> {
  const c = svc.get(ref);
  if (c.state.Status === 'paused') throw new HullError('CONFLICT', `Container ${c.id} is already paused`);
  if (c.state.Status === 'restarting') throw new HullError('CONFLICT', `Container ${c.id} is restarting, wait until the container is running`);
  if (!isLive(c)) throw notRunning(c);
  try {
    await svc.runtimeFor(c).pause(c.id);
  } catch (e) {
    throw new HullError('INTERNAL', `Cannot pause container ${c.id}: ${(e as Error).message}`, { cause: e });
  }
  svc.setPaused(c.id, true);
  svc.events.container(c, 'pause');
}

export async function unpauseContainer(svc: ContainerService, ref: string): Promise<void> {
  const c = svc.get(ref);
  if (c.state.Status !== 'paused') throw new HullError('CONFLICT', `Container ${c.id} is not paused`);
  try {
    await svc.runtimeFor(c).resume(c.id);
  } catch (e) {
    throw new HullError('INTERNAL', `Cannot unpause container ${c.id}: ${(e as Error).message}`, { cause: e });
  }
  svc.setPaused(c.id, false);
  svc.events.container(c, 'unpause');
}

// ---- rename ------------------------------------------------------------------------------

export function renameContainer(svc: ContainerService, oldRef: string, newName: string): void {
  if (oldRef === '' || newName === '') throw new HullError('INVALID_ARGUMENT', 'Neither old nor new names may be empty');
  const name = newName.startsWith('/') ? newName.slice(1) : newName;
  const c = svc.get(oldRef);
  if (c.name === name) throw new HullError('INVALID_ARGUMENT', 'Renaming a container with the same name as its current name');
  if (!NAME_PATTERN.test(name)) throw new HullError('INVALID_ARGUMENT', `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  try {
    svc.records.rename(c.id, name);
    svc.events.container({ ...c, name }, 'rename', { oldName: `/${c.name}` });
  } catch (e) {
    if (!(e instanceof Error) || !/UNIQUE constraint failed: containers.name/.test(e.message)) throw e;
    const holder = svc.records.byName(name);
    throw new HullError(
      'CONFLICT',
      `Conflict. The container name "/${name}" is already in use by container "${holder?.id ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  }
}

// ---- update ------------------------------------------------------------------------------

/** POST /containers/{id}/update: the fields given change, the others stay. */
export interface UpdateRequest {
  Memory?: number;
  /** -1: unlimited swap. */
  MemorySwap?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  /** 0 or -1: unlimited. */
  PidsLimit?: number;
  RestartPolicy?: RestartPolicy;
}

const MIN_MEMORY = 6 * 1024 * 1024;

/** The HostConfig after an update, with Docker's checks (container/container_unix.go UpdateContainer). */
export function mergeUpdate(h: HostConfig, u: UpdateRequest, hostCpus: number): HostConfig {
  const next: HostConfig = { ...h };
  if (u.Memory !== undefined && u.Memory !== 0) {
    if (u.Memory < MIN_MEMORY) throw new HullError('INVALID_ARGUMENT', 'Minimum memory limit allowed is 6MB');
    if (h.MemorySwap > 0 && u.Memory > h.MemorySwap && !u.MemorySwap) {
      throw new HullError('CONFLICT', 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    }
    next.Memory = u.Memory;
  }
  if (u.MemorySwap !== undefined && u.MemorySwap !== 0) next.MemorySwap = u.MemorySwap;
  if (next.MemorySwap > 0 && next.Memory > 0 && next.MemorySwap < next.Memory) {
    throw new HullError('INVALID_ARGUMENT', 'Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (next.MemorySwap > 0 && next.Memory === 0) {
    throw new HullError('INVALID_ARGUMENT', 'You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  if (u.NanoCpus !== undefined && u.NanoCpus !== 0) {
    if (u.NanoCpus < 0 || u.NanoCpus > hostCpus * 1e9) {
      throw new HullError('INVALID_ARGUMENT', `Range of CPUs is from 0.01 to ${hostCpus.toFixed(2)}, as there are only ${hostCpus} CPUs available`);
    }
    // NanoCPUs is a quota/period pair in disguise: once one form is set, the other is refused.
    if (h.CpuPeriod > 0) throw new HullError('CONFLICT', 'Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
    if (h.CpuQuota > 0) throw new HullError('CONFLICT', 'Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
    next.NanoCpus = u.NanoCpus;
  }
  if (u.CpuQuota !== undefined && u.CpuQuota !== 0) {
    if (h.NanoCpus > 0) throw new HullError('CONFLICT', 'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
    next.CpuQuota = u.CpuQuota;
  }
  if (u.CpuPeriod !== undefined && u.CpuPeriod !== 0) {
    if (h.NanoCpus > 0) throw new HullError('CONFLICT', 'Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
    next.CpuPeriod = u.CpuPeriod;
  }
  if (u.CpuShares !== undefined && u.CpuShares !== 0) {
    if (u.CpuShares < 0) throw new HullError('INVALID_ARGUMENT', 'invalid CPU shares');
    next.CpuShares = u.CpuShares;
  }
  if (u.PidsLimit !== undefined) next.PidsLimit = u.PidsLimit;
  if (u.RestartPolicy !== undefined) {
    if (h.AutoRemove && u.RestartPolicy.Name !== '' && u.RestartPolicy.Name !== 'no') {
      throw new HullError('INVALID_ARGUMENT', 'Restart policy cannot be updated because AutoRemove is enabled for the container');
    }
    next.RestartPolicy = { ...u.RestartPolicy };
  }
  return next;
}

/** What `runc update -r` takes (an OCI LinuxResources): only what the update touches. */
export function updateResources(h: HostConfig, u: UpdateRequest): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  if (u.Memory || u.MemorySwap) {
    r.memory = { ...(h.Memory ? { limit: h.Memory } : {}), ...(h.MemorySwap ? { swap: h.MemorySwap } : {}) };
  }
  const cpu: Record<string, number> = {};
  if (u.CpuShares) cpu.shares = h.CpuShares;
  if (u.NanoCpus) {
    cpu.quota = Math.floor((h.NanoCpus * CPU_PERIOD) / 1e9);
    cpu.period = CPU_PERIOD;
  }
  if (u.CpuQuota) cpu.quota = h.CpuQuota;
  if (u.CpuPeriod) cpu.period = h.CpuPeriod;
  if (Object.keys(cpu).length > 0) r.cpu = cpu;
  if (u.PidsLimit !== undefined) r.pids = { limit: u.PidsLimit > 0 ? u.PidsLimit : -1 };
  return r;
}

export async function updateContainer(svc: ContainerService, ref: string, u: UpdateRequest, hostCpus: number): Promise<{ Warnings: string[] }> {
  const c = svc.get(ref);
  const next = mergeUpdate(c.doc.HostConfig, u, hostCpus);
  const resources = updateResources(next, u);
  if (isLive(c) && Object.keys(resources).length > 0) {
    try {
      await runUpdate(svc, c, resources);
    } catch (e) {
      throw new HullError('INTERNAL', `Cannot update container ${c.id}: ${(e as Error).message}`, { cause: e });
    }
  }
  // Stored after the runtime accepted it, so a refused update changes nothing.
  svc.records.transaction(() => {
    const row = svc.records.get(c.id);
    if (!row) return;
    const doc = JSON.parse(row.config) as Container['doc'];
    svc.records.setConfig(c.id, JSON.stringify({ ...doc, HostConfig: { ...doc.HostConfig, ...pickUpdated(next) } }));
  });
  return { Warnings: [] };
}

function pickUpdated(h: HostConfig): Partial<HostConfig> {
  const { Memory, MemorySwap, NanoCpus, CpuShares, CpuQuota, CpuPeriod, PidsLimit, RestartPolicy } = h;
  return { Memory, MemorySwap, NanoCpus, CpuShares, CpuQuota, CpuPeriod, PidsLimit, RestartPolicy };
}

async function runUpdate(svc: ContainerService, c: Container, resources: Record<string, unknown>): Promise<void> {
  const runtime = svc.runtimeFor(c);
  await new Promise<void>((resolve, reject) => {
    const child = execFile(runtime.path, ['--root', runtime.root, 'update', '-r', '-', c.id], (err, _stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || err.message));
      else resolve();
    });
    child.stdin?.end(JSON.stringify(resources));
  });
}

// ---- port --------------------------------------------------------------------------------

/** NetworkSettings.Ports: the exposed ports and, while running, the host ports bound to them. */
export function containerPorts(svc: ContainerService, ref: string): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const c = svc.get(ref);
  return svc.networks ? portMap(svc.networks, c) : {};
}

// ---- prune -------------------------------------------------------------------------------

export interface PruneFilters {
  until?: number;
  labels: { key: string; value?: string; negate: boolean }[];
}

/** `until=<time>`, `label=k`, `label=k=v`, `label!=k[=v]` (Docker's container prune filters). */
export function parsePruneFilters(filters: readonly string[], parseTime: (v: string) => number): PruneFilters {
  const out: PruneFilters = { labels: [] };
  for (const f of filters) {
    const i = f.indexOf('=');
    if (i <= 0) throw new HullError('INVALID_ARGUMENT', `bad format of filter (expected name=value)`);
    let key = f.slice(0, i);
    const value = f.slice(i + 1);
    const negate = key.endsWith('!');
    if (negate) key = key.slice(0, -1);
    if (key === 'until' && !negate) {
      out.until = parseTime(value);
    } else if (key === 'label') {
      const j = value.indexOf('=');
      out.labels.push(j === -1 ? { key: value, negate } : { key: value.slice(0, j), value: value.slice(j + 1), negate });
    } else {
      throw new HullError('INVALID_ARGUMENT', `invalid filter '${key}${negate ? '!' : ''}'`);
    }
  }
  return out;
}

export function matchesPrune(c: Container, f: PruneFilters): boolean {
  if (f.until !== undefined && !(Date.parse(c.createdAt) < f.until)) return false;
  for (const l of f.labels) {
    const has = l.value === undefined ? l.key in c.doc.Config.Labels : c.doc.Config.Labels[l.key] === l.value;
    if (has === l.negate) return false;
  }
  return true;
}

/** Bytes under a directory (the container's writable layer: Docker's SizeRw). */
async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(p);
    else if (e.isFile()) total += await lstat(p).then((s) => s.size).catch(() => 0);
  }
  return total;
}

/** POST /containers/prune: every container that is not running (created, exited, dead). */
export async function pruneContainers(svc: ContainerService, filters: PruneFilters): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
  const deleted: string[] = [];
  let space = 0;
  for (const c of svc.list()) {
    if (c.state.Status !== 'created' && c.state.Status !== 'exited' && c.state.Status !== 'dead') continue;
    if (!matchesPrune(c, filters)) continue;
    const size = await treeSize(containerPaths(svc.root, c.id).upper);
    try {
      await svc.remove(c.id);
    } catch {
      // started or removed meanwhile: not ours to prune any more
      continue;
    }
    deleted.push(c.id);
    space += size;
  }
  return { ContainersDeleted: deleted, SpaceReclaimed: space };
}
