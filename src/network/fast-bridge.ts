/**
 * The fast path for the common case: a container joining a bridge network whose network-level
 * plumbing (the Linux bridge with its gateway address, NETAVARK_FORWARD and masquerade rules)
 * netavark has already made, with no published ports and no DNS entries to register. What is
 * left per container is what netavark's bridge driver does per container, done with two
 * `ip -batch` runs (~3 ms of CPU) instead of a netavark run under the host-wide lock (~150-250 ms:
 * netavark re-checks every network-level iptables rule, one iptables exec each, on every call).
 * The namespace exists already (the engine makes it first: runc joins it by path, so all of
 * this runs alongside `runc create` and only has to be done before `runc start`):
 *
 *   host:  link add vh<id12> type veth peer name eth0 address MAC netns hull-<id>;
 *          link set vh<id12> master BRIDGE up                      (under the netavark lock)
 *   netns: link set lo up; addr add IP/PREFIX broadcast + dev eth0; link set eth0 up;
 *          route add default via GATEWAY proto static metric 100   (what netavark configures)
 *
 * Teardown is `link del vh<id12>` (its peer goes with it) and `netns delete`. netavark's own
 * teardown of a bridge (rules, bridge) happens only when the bridge has no interface left, so
 * the two kinds of endpoints coexist on one bridge: whoever set an endpoint up tears it down
 * (recorded per endpoint: endpoints.plumber).
 *
 * A bridge whose last container was plumbed here stays up with its rules when that container
 * leaves, as docker0 does; a marker in /run/hull/bridges names its root, and bridges of roots
 * that are gone are taken down by netavark (`reclaimStaleBridges`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAddon } from '../util/native.js';
import { HullError } from '../util/errors.js';
import { span } from '../util/trace.js';
import { netnsName } from './netns.js';
import type { Netavark, NetavarkNetwork } from './netavark.js';

const LOCK_FILE = '/run/hull/netavark.lock';
const MARKERS = process.env.HULL_BRIDGE_MARKER_DIR || '/run/hull/bridges';
/** As long as netavark may hold the lock (its own spawn timeout). */
const LOCK_TIMEOUT_MS = 120_000;
const IFF_UP = 0x1;

export interface FastEndpoint {
  containerId: string;
  bridge: string;
  /** CIDR of the network, e.g. 10.210.7.0/24 */
  subnet: string;
  gateway: string;
  ip: string;
  mac: string;
}

/** The host side of a fast-path veth: `vh` + 12 hex of the id (IFNAMSIZ allows 15). */
export function hostVethName(containerId: string): string {
  return `vh${containerId.slice(0, 12)}`;
}

/** A random locally administered unicast MAC, as the kernel would pick for a veth. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function batchArgs(opts: { netns?: string; force?: boolean }): string[] {
  return [...(opts.netns ? ['-n', opts.netns] : []), ...(opts.force ? ['-force'] : []), '-batch', '-'];
}

function ipBatch(lines: string[], opts: { netns?: string; force?: boolean } = {}): { ok: boolean; err: string } {
  const r = spawnSync('ip', batchArgs(opts), { input: `${lines.join('\n')}\n`, encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, err: (r.stderr || r.error?.message || '').trim() };
}

/** `cmd args`, not blocking this process: its status and stderr. */
function runAsync(cmd: string, args: string[], input = ''): Promise<{ ok: boolean; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'], timeout: 30_000 });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve({ ok: false, err: e.message }));
    child.on('close', (code) => resolve({ ok: code === 0, err: err.trim() }));
    // A command that exits before reading all of it (an error) must not crash us with EPIPE.
    child.stdin?.on('error', () => undefined).end(input);
  });
}

function ipBatchAsync(lines: string[], opts: { netns?: string; force?: boolean } = {}): Promise<{ ok: boolean; err: string }> {
  return runAsync('ip', batchArgs(opts), `${lines.join('\n')}\n`);
}

/** Runs `fn` holding the host-wide lock netavark runs under (netavark.ts), so no netavark teardown removes the bridge meanwhile. */
async function withNetworkLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(join(LOCK_FILE, '..'), { recursive: true });
  const fd = openSync(LOCK_FILE, 'a', 0o600);
  try {
    const native = nativeAddon();
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    while (!native.flockExclusive(fd)) {
      if (Date.now() > deadline) throw new HullError('INTERNAL', `timed out waiting for ${LOCK_FILE}`);
      await new Promise((r) => setTimeout(r, 3));
    }
    return await fn();
  } finally {
    closeSync(fd); // releases the lock
  }
}

function bridgeUp(bridge: string): boolean {
  try {
    return (Number(readFileSync(`/sys/class/net/${bridge}/flags`, 'utf8').trim()) & IFF_UP) !== 0;
  } catch {
    return false;
  }
}

/** netavark's network-level rules are still there (one rule it adds with the bridge; gone after an iptables flush). */
async function forwardRuleExists(subnet: string): Promise<boolean> {
  return (await runAsync('iptables', ['-w', '-C', 'NETAVARK_FORWARD', '-s', subnet, '-j', 'ACCEPT'])).ok;
}

/**
 * Plumb the container's namespace (which must exist) onto an existing bridge. false: the bridge
 * or its rules are missing (nothing was changed; netavark must do the whole setup). Throws when
 * the kernel refuses, with the veth and the namespace deleted.
 */
export async function fastAttach(e: FastEndpoint): Promise<boolean> {
  const ns = netnsName(e.containerId);
  const veth = hostVethName(e.containerId);
  const attached = await withNetworkLock(async () => {
    if (!bridgeUp(e.bridge) || !(await span('network: rule check (iptables -C)', () => forwardRuleExists(e.subnet)))) return false;
    const r = await span('network: ip batch (host)', () => ipBatchAsync([`link add ${veth} type veth peer name eth0 address ${e.mac} netns ${ns}`, `link set ${veth} master ${e.bridge} up`]));
    if (!r.ok) {
      fastDetach(e.containerId);
      throw new HullError('INTERNAL', `setting up the container's network: ${r.err}`);
    }
    return true;
  });
  if (!attached) return false;
  const prefix = e.subnet.split('/')[1];
  const r = await span('network: ip batch (netns)', () =>
    ipBatchAsync(['link set lo up', `addr add ${e.ip}/${prefix} broadcast + dev eth0`, 'link set eth0 up', `route add default via ${e.gateway} dev eth0 proto static metric 100`], { netns: ns }),
  );
  if (!r.ok) {
    fastDetach(e.containerId);
    throw new HullError('INTERNAL', `configuring the container's interface: ${r.err}`);
  }
  return true;
}

/** Undo fastAttach: the veth pair and (unless `keepNetns`) the namespace. Idempotent. */
export function fastDetach(containerId: string, keepNetns = false): void {
  const lines = [`link del ${hostVethName(containerId)}`];
  if (!keepNetns && existsSync(`/run/netns/${netnsName(containerId)}`)) lines.push(`netns delete ${netnsName(containerId)}`);
  // -force: a veth already gone (its namespace was deleted first) must not stop the netns delete.
  ipBatch(lines, { force: true });
}

/** Delete interfaces inside the container's namespace (each takes its veth peer with it, at once). */
export function deleteInterfaces(containerId: string, ifaces: string[]): void {
  ipBatch(
    ifaces.map((i) => `link del ${i}`),
    { netns: netnsName(containerId), force: true },
  );
}

// ---- bridges outliving their root -----------------------------------------------------------

interface Marker {
  root: string;
  network: NetavarkNetwork;
}

function markerFile(bridge: string): string {
  return join(MARKERS, bridge);
}

/** After netavark set a bridge up for `root`: remember whose it is, for reclaimStaleBridges. */
export function markBridge(root: string, network: NetavarkNetwork): void {
  const file = markerFile(network.network_interface);
  if (existsSync(file)) return;
  try {
    mkdirSync(MARKERS, { recursive: true });
    writeFileSync(file, JSON.stringify({ root, network } satisfies Marker));
  } catch {
    // informational: without it a leftover bridge is only not reclaimed automatically
  }
}

function bridgePorts(bridge: string): string[] | undefined {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return undefined;
  }
}

/**
 * Take down bridges (and their netavark rules) whose hull root no longer exists and that no
 * interface uses. netavark removes network-level state only when the last container leaves, so
 * a throwaway namespace is set up on the network and torn down again. Returns the bridges removed.
 */
export function reclaimStaleBridges(netavark: Netavark): string[] {
  if (!existsSync(MARKERS)) return [];
  const gone: string[] = [];
  for (const bridge of readdirSync(MARKERS)) {
    let m: Marker;
    try {
      m = JSON.parse(readFileSync(markerFile(bridge), 'utf8')) as Marker;
    } catch {
      continue;
    }
    if (existsSync(join(m.root, 'hull.db'))) continue;
    const ports = bridgePorts(bridge);
    if (ports === undefined) {
      rmSync(markerFile(bridge), { force: true });
      continue;
    }
    if (ports.length > 0) continue;
    const id = `reclaim${process.pid}${bridge}`;
    const ns = netnsName(id);
    const subnet = m.network.subnets[0]!;
    const [a, b, c] = subnet.subnet.split('/')[0]!.split('.');
    const opts = {
      container_id: id,
      container_name: id,
      port_mappings: [],
      networks: { [m.network.name]: { static_ips: [`${a}.${b}.${c}.254`], aliases: [], interface_name: 'eth0' } },
      network_info: { [m.network.name]: m.network },
    };
    try {
      spawnSync('ip', ['netns', 'add', ns], { stdio: 'ignore' });
      netavark.setup(`/run/netns/${ns}`, opts);
      netavark.teardown(`/run/netns/${ns}`, opts);
      rmSync(markerFile(bridge), { force: true });
      gone.push(bridge);
    } catch {
      // tried again next time
    } finally {
      spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    }
  }
  return gone;
}
