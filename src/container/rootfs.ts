/**
 * The container's root filesystem: overlayfs with the image's layer directories as lowers
 * (top layer first) and a per-container upper directory.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';

const MNT_DETACH = 2;
/** The kernel copies mount data into one page; longer lowerdir lists fail with EINVAL. */
const MAX_MOUNT_DATA = 4095;

export interface MountOptions {
  /**
   * overlayfs `volatile` (Linux 5.10+): no syncs of the upper filesystem, above all none at
   * unmount, where overlayfs otherwise syncs the whole host filesystem the upper directory is on
   * (0.4-40 ms here, however much other processes have left dirty). For upper directories that
   * are thrown away after one use (`--rm` containers, as Podman does for them): a host crash
   * may lose their writes, which nobody would read again anyway.
   */
  volatile?: boolean;
}

/** `lowers` from bottom (base layer) to top, as the image config lists them. */
export function mountRootfs(lowers: string[], upper: string, work: string, target: string, opts: MountOptions = {}): Promise<void> {
  // An error thrown in the executor rejects the promise, as from an async function.
  return new Promise((resolve) => {
    mountSync(lowers, upper, work, target, opts);
    resolve();
  });
}

function mountSync(lowers: string[], upper: string, work: string, target: string, opts: MountOptions): void {
  // Synchronous: three thread-pool round trips cost more than the syscalls on a loaded machine.
  for (const dir of [upper, work, target]) mkdirSync(dir, { recursive: true });
  if (isMounted(target)) return;
  // A volatile mount leaves this marker, and overlayfs refuses to mount the directories again
  // while it is there (they may have lost writes in a crash). The scratch directory under it is
  // all it guards; overlayfs empties that itself at every mount.
  const marker = join(work, 'work', 'incompat', 'volatile');
  if (existsSync(marker)) rmSync(join(work, 'work'), { recursive: true, force: true });
  const data = `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${work}`;
  if (data.length + ',volatile'.length > MAX_MOUNT_DATA) {
    throw new HullError('INTERNAL', `the image has too many layers (${lowers.length}) for one overlay mount on this host`);
  }
  try {
    if (opts.volatile) {
      try {
        nativeAddon().mount('overlay', target, 'overlay', 0, `${data},volatile`);
        return;
      } catch (e) {
        // A kernel older than 5.10 does not know the option: mount as usual.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      }
    }
    nativeAddon().mount('overlay', target, 'overlay', 0, data);
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

/** unmountRootfs for a process that serves others meanwhile (`hull serve`): on libuv's thread pool. */
export async function unmountRootfsAsync(target: string): Promise<void> {
  if (!isMounted(target)) return;
  try {
    await nativeAddon().umount2Async(target, 0);
  } catch (e) {
    if (notMounted(e)) return;
    try {
      await nativeAddon().umount2Async(target, MNT_DETACH);
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
