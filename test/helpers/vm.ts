/** What the VM tests share: the reason to skip them on a host that cannot boot a hull VM. */
import { rm } from 'node:fs/promises';
import { findKernel } from '../../src/vm/guest-image.js';
import { containerTestSkip, runHull, until } from './hull.js';
import { vmLeftovers } from './leftovers.js';

function kernelSkip(): false | string {
  try {
    findKernel();
    return false;
  } catch {
    return 'needs a guest kernel (linux-image-cloud-amd64)';
  }
}

/** False when QEMU, virtiofsd, a guest kernel and the test image tools are all there. */
export function vmTestSkip(extraCommands: string[] = [], extraFiles: string[] = []): false | string {
  return containerTestSkip(['skopeo', 'qemu-system-x86_64', ...extraCommands], ['/bin/busybox', '/usr/lib/qemu/virtiofsd', ...extraFiles]) || kernelSkip();
}

/**
 * A VM test file's last step: `rm -f` every container of `root`, then delete `work` (which holds
 * the root), but only once no QEMU, virtiofsd or mount of the root is left. Deleting the state
 * of a VM that still runs orphans it: its row is gone while its monitor, QEMU, virtiofsd and
 * overlay mount run on, and no hull command can reach them any more.
 */
export async function removeVmWork(root: string, work: string, env: Record<string, string>): Promise<void> {
  const ids = (await runHull(['ps', '-aq'], { root, env })).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await runHull(['rm', '-f', ...ids], { root, env, timeoutMs: 240_000 });
  await until('no QEMU, virtiofsd or mount left', () => vmLeftovers(root).length === 0 || undefined, 30_000).catch(() => undefined);
  const left = vmLeftovers(root);
  if (left.length > 0) throw new Error(`kept ${work}: an instance of its root still runs (${left.join('; ')})`);
  await rm(work, { recursive: true, force: true });
}
