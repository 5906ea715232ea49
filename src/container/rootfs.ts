/**
 * The container's root filesystem: overlayfs with the image's layer directories as lowers
 * (top layer first) and a per-container upper directory.
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';

const MNT_DETACH = 2;
/** The kernel copies mount data into one page; longer lowerdir lists fail with EINVAL. */
const MAX_MOUNT_DATA = 4095;

export interface RootfsOptions {
  /**
   * Mount with overlayfs's `volatile`: the upper directory is never synced. Unmounting a normal
   * overlay syncs the whole upper filesystem, which costs ~3 ms on a quiet host and tens of ms
   * while other writers keep the disk busy, on the critical path of `run --rm`. For a container
   * whose files go away when it exits (`--rm`, as Podman does) durability buys nothing.
   */
  volatile?: boolean;
}

/** `lowers` from bottom (base layer) to top, as the image config lists them. */
export async function mountRootfs(lowers: string[], upper: string, work: string, target: string, opts: RootfsOptions = {}): Promise<void> {
  await Promise.all([mkdir(upper, { recursive: true }), mkdir(work, { recursive: true }), mkdir(target, { recursive: true })]);
  if (isMounted(target)) return;
  const base = `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${work}`;
  if (base.length + ',volatile'.length > MAX_MOUNT_DATA) {
    throw new HullError('INTERNAL', `the image has too many layers (${lowers.length}) for one overlay mount on this host`);
  }
  // A volatile mount leaves this marker behind even after a clean unmount, and the kernel then
  // refuses every later mount of the same work directory (a `restart`). Unmounted cleanly on
  // this boot, nothing was lost (unsynced pages are still in the page cache); after a crash the
  // container is a `--rm` one, whose files were disposable anyway.
  rmSync(join(work, 'work', 'incompat', 'volatile'), { recursive: true, force: true });
  try {
    try {
      nativeAddon().mount('overlay', target, 'overlay', 0, opts.volatile ? `${base},volatile` : base);
    } catch (e) {
      // Kernels before 5.10 do not know `volatile` (EINVAL): the durable mount then.
      if (!opts.volatile || (e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      nativeAddon().mount('overlay', target, 'overlay', 0, base);
    }
  } catch (e) {
    throw new HullError('INTERNAL', `cannot mount the container's root filesystem: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Idempotent: several processes may see a container exit at once (its exit command, `ps`,
 * `wait`), so "not mounted" (EINVAL, ENOENT) when another got there first is success.
 */
export function unmountRootfs(target: string): void {
  if (!isMounted(target)) return;
  try {
    nativeAddon().umount2(target, 0);
  } catch (e) {
    if (notMounted(e)) return;
    // Busy (a process still has a cwd there): detach now, the kernel frees it when released.
    try {
      nativeAddon().umount2(target, MNT_DETACH);
    } catch (e2) {
      if (!notMounted(e2)) throw e2;
    }
  }
}

function notMounted(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'ENOENT';
}

export function isMounted(target: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  const needle = ` ${target.replace(/ /g, '\\040')} `;
  return mounts.split('\n').some((l) => l.split(' ')[4] === needle.trim());
}
