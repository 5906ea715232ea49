/**
 * hull-owned network namespaces: a bind-mounted namespace per container under /run/netns,
 * created before `runc create` (as podman does) so the network is set up before the
 * container's process exists, and outlives it until hull tears the network down. A VM will join
 * the same way: QEMU started inside the namespace (`ip netns exec`) with a tap device bridged
 * to the veth's peer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { HullError } from '../util/errors.js';

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

/** Create the container's namespace with loopback up (unless the caller does that); an existing one is reused. */
export function createNetns(containerId: string, o: { loopback?: boolean } = {}): string {
  const path = netnsPath(containerId);
  if (!existsSync(path)) {
    const r = ip(['netns', 'add', netnsName(containerId)]);
    if (!r.ok && !existsSync(path)) throw new HullError('INTERNAL', `creating network namespace: ${r.err}`);
  }
  if (o.loopback !== false) ip(['-n', netnsName(containerId), 'link', 'set', 'lo', 'up']);
  return path;
}

/** Unmount and remove it; idempotent. */
export function removeNetns(containerId: string): void {
  if (existsSync(netnsPath(containerId))) ip(['netns', 'delete', netnsName(containerId)]);
}

export function netnsExists(containerId: string): boolean {
  return existsSync(netnsPath(containerId));
}
