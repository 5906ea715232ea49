/**
 * hull-owned network namespaces: a bind-mounted namespace per container under /run/netns,
 * created before `runc create` (as podman does) so the network is set up before the
 * container's process exists, and outlives it until hull tears the network down. A VM will join
 * the same way: QEMU started inside the namespace (`ip netns exec`) with a tap device bridged
 * to the veth's peer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { HullError } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';
import { span } from '../util/trace.js';
import { spareNetnsFd, takeSpareNetns } from './spare-netns.js';

const NETNS_DIR = '/run/netns';

export function netnsName(containerId: string): string {
  return `hull-${containerId}`;
}

export function netnsPath(containerId: string): string {
  return `${NETNS_DIR}/${netnsName(containerId)}`;
}

function ip(args: string[]): { ok: boolean; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, err: (r.stderr || r.error?.message || '').trim() };
}

/** The namespace made ahead of need by this process (spare-netns.ts), if it has one. */
function takeSpare(path: string): boolean {
  if (spareNetnsFd() === undefined) return false;
  return span('network: spare netns taken', () => takeSpareNetns(path));
}

/**
 * Create the container's namespace with loopback up (unless the caller does that); an existing
 * one is reused. Made in-process as `ip netns add` makes it (native/netlink.c), without its fork.
 */
export function createNetns(containerId: string, o: { loopback?: boolean } = {}): string {
  const path = netnsPath(containerId);
  if (!existsSync(path) && !takeSpare(path)) {
    try {
      nativeAddon().netnsCreate(path);
    } catch (e) {
      if (!existsSync(path)) throw new HullError('INTERNAL', `creating network namespace: ${(e as Error).message}`, { cause: e });
    }
  }
  if (o.loopback !== false) ip(['-n', netnsName(containerId), 'link', 'set', 'lo', 'up']);
  return path;
}

/**
 * createNetns without loopback (the fast path brings it up), the kernel's work on libuv's pool:
 * a start writes its bundle meanwhile. Resolves once the namespace is bound onto its path.
 */
export async function createNetnsAsync(containerId: string): Promise<string> {
  const path = netnsPath(containerId);
  if (existsSync(path) || takeSpare(path)) return path;
  try {
    await nativeAddon().netnsCreateAsync(path);
  } catch (e) {
    if (!existsSync(path)) throw new HullError('INTERNAL', `creating network namespace: ${(e as Error).message}`, { cause: e });
  }
  return path;
}

const MNT_DETACH = 2;

/**
 * Unmount and remove it, as `ip netns delete` does; idempotent. The kernel frees the namespace,
 * and the interfaces in it, once nothing else holds it.
 */
export function removeNetns(containerId: string): void {
  const path = netnsPath(containerId);
  if (!existsSync(path)) return;
  // Best effort, as `ip netns delete` was: a file that is no longer mounted (a create that died
  // half way, a concurrent removal) is simply removed.
  try {
    nativeAddon().umount2(path, MNT_DETACH);
  } catch {
    // not mounted
  }
  try {
    rmSync(path, { force: true });
  } catch {
    // still mounted after all: the next release tries again
  }
}

/** removeNetns for a process that serves others meanwhile: the unmount on libuv's thread pool. */
export async function removeNetnsAsync(containerId: string): Promise<void> {
  const path = netnsPath(containerId);
  if (!existsSync(path)) return;
  await nativeAddon().umount2Async(path, MNT_DETACH).catch(() => undefined);
  await rm(path, { force: true }).catch(() => undefined);
}

export function netnsExists(containerId: string): boolean {
  return existsSync(netnsPath(containerId));
}
