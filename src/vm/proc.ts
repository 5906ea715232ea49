/** Small process and file helpers the VM runtime and the engine's VM code share. */
import { readFileSync } from 'node:fs';

/** The pid in `path`, or 0 when there is none. */
export function readPid(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * True when `pid` runs and its command name starts with `comm` (pids are reused: a pid file
 * alone must never make hull kill a stranger). Zombies count as gone.
 */
export function aliveAs(pid: number, comm: string): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return name.startsWith(comm.slice(0, 15)) && st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true (→ true) or `ms` pass (→ false). */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, everyMs = 20): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await sleep(everyMs);
  }
}
