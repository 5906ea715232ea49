/** What an instance can leave behind on the host: QEMU, virtiofsd and mounts under a hull root. */
import { readdirSync, readFileSync } from 'node:fs';

/** Live QEMU/virtiofsd processes whose command line mentions `root`, and mounts under it. */
export function vmLeftovers(root: string): string[] {
  const found: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1');
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      // A zombie is gone in all but name: its parent has not reaped it yet.
      if (st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z') continue;
      if ((cmd.includes('qemu-system') || cmd.includes('virtiofsd')) && cmd.includes(root)) found.push(cmd.replace(/\0/g, ' ').slice(0, 120));
    } catch {
      // exited meanwhile
    }
  }
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(root));
  return [...found, ...mounts];
}
