import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * setpriority(2) on a pid changes one thread on Linux, and a thread inherits the nice value of
 * the thread that started it. A worker is reniced (+10) while it loads, so libuv's pool (all
 * async fs work) and V8's threads run niced too; this gives every thread of `pid` `nice`.
 */
export function reniceProcess(pid: number, nice: number): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      // exited meanwhile, or not allowed
    }
  }
}
