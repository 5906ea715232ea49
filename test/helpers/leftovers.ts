/** What an instance can leave behind on the host: QEMU, virtiofsd and mounts under a hull root. */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

interface Proc {
  pid: number;
  comm: string;
  args: string[];
}

/** Live processes (zombies are gone in all but name: their parent has not reaped them yet). */
function liveProcesses(): Proc[] {
  const found: Proc[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z') continue;
      const args = readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0');
      found.push({ pid: Number(p), comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), args });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Live QEMU/virtiofsd processes whose command line mentions `root`, and mounts under it. */
export function vmLeftovers(root: string): string[] {
  const found = liveProcesses()
    .map((p) => p.args.join(' '))
    .filter((cmd) => (cmd.includes('qemu-system') || cmd.includes('virtiofsd')) && cmd.includes(root))
    .map((cmd) => cmd.slice(0, 120));
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(root));
  return [...found, ...mounts];
}

/**
 * hull's processes still at work under `dir` once its commands returned: what hull documents
 * as its work after the answer (docs/ARCHITECTURE.md, "Deleting a state root"): monitors that
 * recorded their container's exit and are finishing (runtime delete, exit command), exit
 * commands (`hull _exited`), the runtime, and any hull command or server on a root under `dir`.
 * A monitor whose container still runs is not waited for: it ends only with its container.
 */
export function rootWorkers(dir: string): string[] {
  const under = (s: string | undefined): boolean => s !== undefined && (s === dir || s.startsWith(`${dir}/`));
  const busy: string[] = [];
  for (const p of liveProcesses()) {
    if (p.pid === process.pid) continue;
    if (!p.args.some(under)) {
      // A warm CLI worker's command line names no root (it gets the command over a socket): it
      // is at work on `dir` while it holds a file there open (the database it hands over, until
      // its after-answer work — unmounts, deletions — is done and it exits).
      if (p.comm === 'node' && p.args.some((a) => a.endsWith('/worker.js')) && holdsFileUnder(p.pid, under)) busy.push(`${p.pid} warm worker`);
      continue;
    }
    if (p.comm === 'hull-monitor') {
      const i = p.args.indexOf('--state-dir');
      const state = i >= 0 ? p.args[i + 1] : undefined;
      if (!state || !existsSync(join(state, 'exit.json'))) continue;
    } else if (!p.args.includes('_exited') && !under(p.args[p.args.indexOf('--root') + 1])) {
      continue;
    }
    busy.push(`${p.pid} ${p.args.join(' ').slice(0, 160)}`);
  }
  return busy;
}

function holdsFileUnder(pid: number, under: (s: string) => boolean): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return under(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Delete a directory holding hull state roots (a test's work directory, a server's): first
 * wait (bounded) for hull's work on them to end, so that nothing writes into the tree while it
 * is deleted (that failed as ENOTEMPTY).
 */
export async function removeHullTree(dir: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (rootWorkers(dir).length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  await rm(dir, { recursive: true, force: true });
}
