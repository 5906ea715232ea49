/** What the VM tests share: the reason to skip them, their state root, and removing every VM of it. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findKernel } from '../../src/vm/guest-image.js';
import { containerTestSkip, runHull, until } from './hull.js';
import { loadBusybox } from './images.js';
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
 * A VM test file's work directory (under tmpdir, named from `prefix`) and state root, busybox
 * loaded. Names the network's DNS does not know go upstream to a loopback address nobody serves
 * (`dnsHost` its last byte, one per file), never to the host's resolver: this sets
 * env.HULL_DNS_UPSTREAM_FILE to say so.
 */
export async function makeVmWork(prefix: string, env: Record<string, string>, dnsHost: number): Promise<{ work: string; root: string }> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const root = join(work, 'root');
  await loadBusybox(root, work);
  await writeFile(join(work, 'upstream-resolv.conf'), `nameserver 127.53.${process.pid % 250}.${dnsHost}\n`);
  env.HULL_DNS_UPSTREAM_FILE = join(work, 'upstream-resolv.conf');
  return { work, root };
}

/**
 * `rm -f` every container of `root`, then waits (30 s at most: the monitor's exit command
 * finishes after the CLI returns) until no QEMU, virtiofsd or mount of the root is left.
 * Returns what is still left (nothing, when rm -f cleaned up as it must).
 */
export async function removeAllVms(root: string, env: Record<string, string>, timeoutMs = 240_000): Promise<string[]> {
  const ids = (await runHull(['ps', '-aq'], { root, env })).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await runHull(['rm', '-f', ...ids], { root, env, timeoutMs });
  await until('no QEMU, virtiofsd or mount left', () => vmLeftovers(root).length === 0 || undefined, 30_000).catch(() => undefined);
  return vmLeftovers(root);
}

/**
 * A VM test file's last step: removeAllVms, then delete `work` (which holds the root), but only
 * once no QEMU, virtiofsd or mount of the root is left. Deleting the state of a VM that still
 * runs orphans it: its row is gone while its monitor, QEMU, virtiofsd and overlay mount run on,
 * and no hull command can reach them any more.
 */
export async function removeVmWork(root: string, work: string, env: Record<string, string>): Promise<void> {
  const left = await removeAllVms(root, env);
  if (left.length > 0) throw new Error(`kept ${work}: an instance of its root still runs (${left.join('; ')})`);
  await rm(work, { recursive: true, force: true });
}
