/**
 * The container's root filesystem: overlayfs with the image's layer directories as lowers
 * (top layer first) and a per-container upper directory.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { HullError } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';

const MNT_DETACH = 2;
/** The kernel copies mount data into one page; longer lowerdir lists fail with EINVAL. */
const MAX_MOUNT_DATA = 4095;

/** `lowers` from bottom (base layer) to top, as the image config lists them. */
export async function mountRootfs(lowers: string[], upper: string, work: string, target: string): Promise<void> {
  await Promise.all([mkdir(upper, { recursive: true }), mkdir(work, { recursive: true }), mkdir(target, { recursive: true })]);
  if (isMounted(target)) return;
  const data = `lowerdir=${[...lowers].reverse().join(':')},upperdir=${upper},workdir=${work}`;
  if (data.length > MAX_MOUNT_DATA) {
    throw new HullError('INTERNAL', `the image has too many layers (${lowers.length}) for one overlay mount on this host`);
  }
  try {
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

function notMounted(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'ENOENT';
}

export function isMounted(target: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  const needle = ` ${target.replace(/ /g, '\\040')} `;
  return mounts.split('\n').some((l) => l.split(' ')[4] === needle.trim());
}
