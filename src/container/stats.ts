/**
 * Resource usage of a running container, read straight from its cgroups (v1 or v2) and its
 * network namespace, in the shape of Docker's GET /containers/{id}/stats (the StatsJSON the
 * Docker CLI computes `docker stats` columns from), so the API can serve it unchanged later.
 *
 * The container's cgroups come from /proc/<init>/cgroup rather than from the spec's
 * cgroupsPath: the path is relative to whatever cgroup the engine ran in, which differs per
 * controller on hybrid hosts (memory may sit below a caller's cgroup while cpu is at the root).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export interface CpuUsage {
  total_usage: number;
  percpu_usage?: number[];
  usage_in_kernelmode: number;
  usage_in_usermode: number;
}

export interface CpuStats {
  cpu_usage: CpuUsage;
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface MemoryStats {
  usage?: number;
  max_usage?: number;
  stats?: Record<string, number>;
  failcnt?: number;
  limit?: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface BlkioStats {
  io_service_bytes_recursive: BlkioEntry[] | null;
  io_serviced_recursive: BlkioEntry[] | null;
  io_queue_recursive: BlkioEntry[] | null;
  io_service_time_recursive: BlkioEntry[] | null;
  io_wait_time_recursive: BlkioEntry[] | null;
  io_merged_recursive: BlkioEntry[] | null;
  io_time_recursive: BlkioEntry[] | null;
  sectors_recursive: BlkioEntry[] | null;
}

export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

export interface PidsStats {
  current?: number;
  limit?: number;
}

/** Docker's StatsJSON (API 1.41+, Linux). */
export interface StatsJSON {
  name: string;
  id: string;
  read: string;
  preread: string;
  pids_stats: PidsStats;
  blkio_stats: BlkioStats;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: MemoryStats;
  networks?: Record<string, NetworkStats>;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Linux's USER_HZ: /proc/stat and cpuacct.stat count in these. It is 100 on every Linux ABI Node runs on. */
const CLOCK_TICKS = 100;
const NS_PER_TICK = 1e9 / CLOCK_TICKS;

export function emptyCpuStats(): CpuStats {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

function emptyBlkio(): BlkioStats {
  return {
    io_service_bytes_recursive: null,
    io_serviced_recursive: null,
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

/** What Docker answers for a container that is not running: zeros and the zero time. */
export function emptyStats(id: string, name: string): StatsJSON {
  return {
    name: `/${name}`,
    id,
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: emptyBlkio(),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpuStats(),
    precpu_stats: emptyCpuStats(),
    memory_stats: {},
  };
}

// ---- parsers (pure) --------------------------------------------------------------------------

/** A process's cgroups: on v1 one path per controller, on v2 the single `0::` path. */
export interface CgroupMembership {
  v1: Map<string, { hierarchy: string; path: string }>;
  unified?: string;
}

export function parseProcCgroup(text: string): CgroupMembership {
  const v1 = new Map<string, { hierarchy: string; path: string }>();
  let unified: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, num, controllers, path] = m as unknown as [string, string, string, string];
    if (num === '0' && controllers === '') {
      unified = path;
      continue;
    }
    for (const c of controllers.split(',')) if (c) v1.set(c, { hierarchy: controllers, path });
  }
  return { v1, ...(unified !== undefined ? { unified } : {}) };
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat). */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/**
 * blkio.throttle.io_service_bytes (v1): `8:0 Read 4096` lines and a `Total N` line, which
 * Docker leaves out (it is the sum of the others).
 */
export function parseBlkioV1(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue;
    const dev = /^(\d+):(\d+)$/.exec(f[0]!);
    if (!dev) continue;
    out.push({ major: Number(dev[1]), minor: Number(dev[2]), op: f[1]!, value: Number(f[2]) });
  }
  return out;
}

/** io.stat (v2): `8:0 rbytes=1 wbytes=2 rios=3 …` → Docker's v2 entries with ops `read`/`write`. */
export function parseIoStatV2(text: string): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const kv = Object.fromEntries(f.slice(1).map((p) => p.split('=') as [string, string]));
    const major = Number(dev[1]);
    const minor = Number(dev[2]);
    bytes.push({ major, minor, op: 'read', value: Number(kv.rbytes ?? 0) }, { major, minor, op: 'write', value: Number(kv.wbytes ?? 0) });
    ios.push({ major, minor, op: 'read', value: Number(kv.rios ?? 0) }, { major, minor, op: 'write', value: Number(kv.wios ?? 0) });
  }
  return { bytes, ios };
}

/** /proc/<pid>/net/dev → per-interface counters, loopback left out as Docker does. */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    if (name === 'lo') continue;
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    out[name] = {
      rx_bytes: f[0] ?? 0,
      rx_packets: f[1] ?? 0,
      rx_errors: f[2] ?? 0,
      rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0,
      tx_packets: f[9] ?? 0,
      tx_errors: f[10] ?? 0,
      tx_dropped: f[11] ?? 0,
    };
  }
  return out;
}

/**
 * The host's CPU time in nanoseconds, as Docker's getSystemCPUUsage computes it: the first seven
 * fields of /proc/stat's `cpu` line (user … softirq; steal and guest are left out).
 */
export function parseSystemCpu(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line.trim().split(/\s+/).slice(1, 8).reduce((a, v) => a + Number(v), 0);
  return ticks * NS_PER_TICK;
}

/** MemTotal from /proc/meminfo, in bytes. */
export function parseMemTotal(meminfo: string): number {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : 0;
}

// ---- readers ---------------------------------------------------------------------------------

const CGROUP_ROOT = '/sys/fs/cgroup';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(path: string): number | undefined {
  const t = read(path)?.trim();
  return t !== undefined && /^-?\d+$/.test(t) ? Number(t) : undefined;
}

/**
 * The directory of `controller` for this membership on a v1 host. A co-mounted hierarchy
 * (`cpu,cpuacct`) is mounted under its joined name, with per-controller symlinks on systemd hosts.
 */
function v1Dir(m: CgroupMembership, controller: string): string | undefined {
  const entry = m.v1.get(controller);
  if (!entry) return undefined;
  for (const base of [entry.hierarchy, controller]) {
    const dir = join(CGROUP_ROOT, base, entry.path);
    if (read(join(dir, 'cgroup.procs')) !== undefined) return dir;
  }
  return undefined;
}

export interface StatsTarget {
  id: string;
  name: string;
  /** The container's init as the host sees it. */
  pid: number;
  /** Read /proc/<pid>/net/dev: false for `--network host`, whose counters are the host's. */
  ownNetwork: boolean;
}

/**
 * One sample. precpu_stats are left empty: the caller pairs consecutive samples (withPrevious).
 * Undefined when the init process is gone (the container exited meanwhile).
 */
export function sampleStats(t: StatsTarget, now = new Date()): StatsJSON | undefined {
  const procCgroup = read(`/proc/${t.pid}/cgroup`);
  if (procCgroup === undefined) return undefined;
  const m = parseProcCgroup(procCgroup);
  const hostMemory = parseMemTotal(read('/proc/meminfo') ?? '');
  const stats = emptyStats(t.id, t.name);
  stats.read = now.toISOString();
  stats.cpu_stats.system_cpu_usage = parseSystemCpu(read('/proc/stat') ?? '');
  stats.cpu_stats.online_cpus = cpus().length;
  if (m.v1.size > 0) readV1(m, stats);
  else if (m.unified !== undefined) readV2(join(CGROUP_ROOT, m.unified), stats);
  // Docker shows the host's memory when the container has no (or a larger) limit.
  if (hostMemory > 0 && (stats.memory_stats.limit === undefined || stats.memory_stats.limit > hostMemory)) stats.memory_stats.limit = hostMemory;
  if (t.ownNetwork) {
    const dev = read(`/proc/${t.pid}/net/dev`);
    if (dev !== undefined) stats.networks = parseNetDev(dev);
  }
  return stats;
}

function readV1(m: CgroupMembership, s: StatsJSON): void {
  const cpuacct = v1Dir(m, 'cpuacct');
  if (cpuacct) {
    const acct = parseKeyValues(read(join(cpuacct, 'cpuacct.stat')) ?? '');
    const percpu = (read(join(cpuacct, 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    s.cpu_stats.cpu_usage = {
      total_usage: readNumber(join(cpuacct, 'cpuacct.usage')) ?? 0,
      ...(percpu.length > 0 ? { percpu_usage: percpu } : {}),
      usage_in_kernelmode: (acct.system ?? 0) * NS_PER_TICK,
      usage_in_usermode: (acct.user ?? 0) * NS_PER_TICK,
    };
  }
  const cpu = v1Dir(m, 'cpu');
  if (cpu) {
    const st = parseKeyValues(read(join(cpu, 'cpu.stat')) ?? '');
    s.cpu_stats.throttling_data = { periods: st.nr_periods ?? 0, throttled_periods: st.nr_throttled ?? 0, throttled_time: st.throttled_time ?? 0 };
  }
  const mem = v1Dir(m, 'memory');
  if (mem) {
    const usage = readNumber(join(mem, 'memory.usage_in_bytes'));
    s.memory_stats = {
      ...(usage !== undefined ? { usage } : {}),
      max_usage: readNumber(join(mem, 'memory.max_usage_in_bytes')) ?? 0,
      stats: parseKeyValues(read(join(mem, 'memory.stat')) ?? ''),
      failcnt: readNumber(join(mem, 'memory.failcnt')) ?? 0,
      limit: readNumber(join(mem, 'memory.limit_in_bytes')) ?? 0,
    };
  }
  const blkio = v1Dir(m, 'blkio');
  if (blkio) {
    // CFQ's recursive files are empty under blk-mq schedulers; the throttle files always count.
    let bytes = parseBlkioV1(read(join(blkio, 'blkio.io_service_bytes_recursive')) ?? '');
    let ios = parseBlkioV1(read(join(blkio, 'blkio.io_serviced_recursive')) ?? '');
    if (bytes.length === 0) bytes = parseBlkioV1(read(join(blkio, 'blkio.throttle.io_service_bytes')) ?? '');
    if (ios.length === 0) ios = parseBlkioV1(read(join(blkio, 'blkio.throttle.io_serviced')) ?? '');
    s.blkio_stats.io_service_bytes_recursive = bytes;
    s.blkio_stats.io_serviced_recursive = ios;
  }
  const pids = v1Dir(m, 'pids');
  if (pids) s.pids_stats = pidsOf(pids);
}

function pidsOf(dir: string): PidsStats {
  const current = readNumber(join(dir, 'pids.current'));
  const limit = readNumber(join(dir, 'pids.max'));
  return { ...(current !== undefined ? { current } : {}), ...(limit !== undefined ? { limit } : {}) };
}

function readV2(dir: string, s: StatsJSON): void {
  const cpu = parseKeyValues(read(join(dir, 'cpu.stat')) ?? '');
  s.cpu_stats.cpu_usage = { total_usage: (cpu.usage_usec ?? 0) * 1000, usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000, usage_in_usermode: (cpu.user_usec ?? 0) * 1000 };
  s.cpu_stats.throttling_data = { periods: cpu.nr_periods ?? 0, throttled_periods: cpu.nr_throttled ?? 0, throttled_time: (cpu.throttled_usec ?? 0) * 1000 };
  const usage = readNumber(join(dir, 'memory.current'));
  const limit = readNumber(join(dir, 'memory.max'));
  s.memory_stats = {
    ...(usage !== undefined ? { usage } : {}),
    stats: parseKeyValues(read(join(dir, 'memory.stat')) ?? ''),
    ...(limit !== undefined ? { limit } : {}),
  };
  const io = parseIoStatV2(read(join(dir, 'io.stat')) ?? '');
  s.blkio_stats.io_service_bytes_recursive = io.bytes;
  s.blkio_stats.io_serviced_recursive = io.ios;
  s.pids_stats = pidsOf(dir);
}

/** Pair a sample with the one before it, as the daemon does for every sample it sends. */
export function withPrevious(cur: StatsJSON, prev: StatsJSON | undefined): StatsJSON {
  if (!prev) return cur;
  return { ...cur, preread: prev.read, precpu_stats: prev.cpu_stats };
}

// ---- Docker CLI's arithmetic (cli/command/container/stats_helpers.go) -------------------------

export interface StatsSummary {
  cpuPercent: number;
  memory: number;
  memoryLimit: number;
  memoryPercent: number;
  networkRx: number;
  networkTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
}

export function summarize(s: StatsJSON): StatsSummary {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const online = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 0;
  const cpuPercent = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;

  // Page cache the kernel can drop at once is not counted: v1's total_inactive_file, v2's inactive_file.
  const mem = s.memory_stats;
  const usage = mem.usage ?? 0;
  const stats = mem.stats ?? {};
  let memory = usage;
  const v1Inactive = stats.total_inactive_file;
  if (v1Inactive !== undefined && v1Inactive < usage) memory = usage - v1Inactive;
  else if ((stats.inactive_file ?? 0) < usage) memory = usage - (stats.inactive_file ?? 0);
  const memoryLimit = mem.limit ?? 0;

  let networkRx = 0;
  let networkTx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    networkRx += n.rx_bytes;
    networkTx += n.tx_bytes;
  }
  let blockRead = 0;
  let blockWrite = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    const c = e.op[0];
    if (c === 'r' || c === 'R') blockRead += e.value;
    else if (c === 'w' || c === 'W') blockWrite += e.value;
  }
  return {
    cpuPercent,
    memory,
    memoryLimit,
    memoryPercent: memoryLimit !== 0 ? (memory / memoryLimit) * 100 : 0,
    networkRx,
    networkTx,
    blockRead,
    blockWrite,
    pids: s.pids_stats.current ?? 0,
  };
}
