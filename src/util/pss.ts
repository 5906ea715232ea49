/**
 * What processes cost the host in memory: the proportional set size (Pss) from
 * /proc/<pid>/smaps_rollup. Pss divides each shared page among the processes mapping it, so
 * summing it over a group of processes counts shared libraries once across everyone holding
 * them, not once per process. Used by `hull compare` and the idle-memory benchmark.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** Memory of one process in KiB, from /proc/<pid>/smaps_rollup. */
export interface Rollup {
  pss: number;
  pssAnon: number;
  pssFile: number;
  rss: number;
}

/** Pss, Pss_Anon, Pss_File and Rss in KiB from /proc/<pid>/smaps_rollup; undefined if the process is gone. */
export async function rollup(pid: number): Promise<Rollup | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { pss: field('Pss'), pssAnon: field('Pss_Anon'), pssFile: field('Pss_File'), rss: field('Rss') };
}

/** Rollups summed over `pids` (those still alive), with how many were counted. */
export async function sumRollups(pids: readonly number[]): Promise<Rollup & { processes: number }> {
  const total = { pss: 0, pssAnon: 0, pssFile: 0, rss: 0, processes: 0 };
  for (const pid of pids) {
    const r = await rollup(pid);
    if (!r) continue;
    total.pss += r.pss;
    total.pssAnon += r.pssAnon;
    total.pssFile += r.pssFile;
    total.rss += r.rss;
    total.processes++;
  }
  return total;
}

/** Parent pid of a process from /proc/<pid>/stat; undefined if it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parens: the fields start after the last ')'.
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** `root` and every process below it (children, grandchildren…), by walking /proc once. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** MemAvailable from /proc/meminfo, in KiB: what the kernel estimates new work can use without swapping. */
export function memAvailableKiB(): number {
  const text = readFileSync('/proc/meminfo', 'utf8');
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}
