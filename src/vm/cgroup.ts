/**
 * The host cgroup of a VM: QEMU and its virtiofsd processes are moved into the container's
 * cgroupsPath (config.json's linux.cgroupsPath, relative to the runtime's own cgroup per
 * controller, as runc places a container), so `stats` reads what the VM costs the host from
 * the same files it reads for a container, and `update --cpus` limits it there.
 *
 * No memory limit is set: --memory is the guest's RAM, and QEMU needs more than that on the
 * host (its own heap, TCG's translation cache); a cgroup limit at the guest's size would get
 * QEMU OOM-killed under load. The cgroup counts; the guest's RAM is the limit.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProcCgroup } from '../container/stats.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];

/** The directories (one per v1 controller hierarchy, or the v2 one) for `relPath`. */
export function cgroupDirs(relPath: string, selfCgroup = readFileSync('/proc/self/cgroup', 'utf8')): string[] {
  const m = parseProcCgroup(selfCgroup);
  if (m.v1.size > 0) {
    const dirs = new Set<string>();
    for (const c of V1_CONTROLLERS) {
      const e = m.v1.get(c);
      if (e) dirs.add(join(CGROUP_ROOT, e.hierarchy, e.path, relPath));
    }
    return [...dirs];
  }
  return m.unified !== undefined ? [join(CGROUP_ROOT, m.unified, relPath)] : [];
}

/**
 * Makes the cgroup and moves `pids` (with all their threads) into it. Best effort per
 * hierarchy: a host without one of them (or a v2 host whose controllers are not delegated)
 * still runs the VM, its stats then show less. Returns the directories made, for `remove`.
 */
export function joinCgroup(dirs: readonly string[], pids: readonly number[]): string[] {
  const made: string[] = [];
  for (const dir of dirs) {
    try {
      mkdirSync(dir, { recursive: true });
      for (const pid of pids) writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      made.push(dir);
    } catch {
      // this hierarchy is not ours to use
    }
  }
  return made;
}

export interface CpuLimits {
  /** CFS quota and period in µs (quota -1: none). */
  quota?: number;
  period?: number;
  shares?: number;
}

/** `update --cpus/--cpu-quota/--cpu-period/--cpu-shares` on the VM's host processes. */
export function applyCpuLimits(dirs: readonly string[], l: CpuLimits): void {
  // One directory that is not in a v1 hierarchy: the unified (v2) one.
  const v2 = dirs.length === 1 && !V1_CONTROLLERS.some((c) => dirs[0]!.startsWith(join(CGROUP_ROOT, c) + '/'));
  let applied = false;
  for (const dir of dirs) {
    const write = (file: string, value: string): void => {
      writeFileSync(join(dir, file), value);
      applied = true;
    };
    const has = (file: string): boolean => {
      try {
        readFileSync(join(dir, file));
        return true;
      } catch {
        return false;
      }
    };
    if (v2) {
      if (l.quota !== undefined || l.period !== undefined) write('cpu.max', `${l.quota === undefined || l.quota < 0 ? 'max' : l.quota} ${l.period ?? 100000}`);
      if (l.shares !== undefined) write('cpu.weight', String(Math.max(1, Math.min(10000, Math.round(1 + ((l.shares - 2) * 9999) / 262142)))));
      continue;
    }
    if (!has('cpu.cfs_quota_us')) continue;
    if (l.period !== undefined) write('cpu.cfs_period_us', String(l.period));
    if (l.quota !== undefined) write('cpu.cfs_quota_us', String(l.quota));
    if (l.shares !== undefined) write('cpu.shares', String(l.shares));
  }
  if (!applied) throw new Error('the VM has no cpu cgroup to limit');
}
