/**
 * The fast path for the common case: a container joining a bridge network whose network-level
 * plumbing (the Linux bridge with its gateway address, NETAVARK_FORWARD and masquerade rules)
 * netavark has already made, with no published ports and no DNS entries to register. What is
 * left per container is what netavark's bridge driver does per container, done in-process over
 * rtnetlink (native/netlink.c: no `ip` fork, ~1 ms in all) instead of a netavark run under the
 * host-wide lock (~150-250 ms: netavark re-checks every network-level iptables rule, one
 * iptables exec each, on every call). The namespace exists already (the engine makes it first:
 * runc joins it by path, so all of this runs alongside `runc create` and only has to be done
 * before `runc start`):
 *
 *   host:  link add vh<id12> type veth peer name eth0 address MAC netns hull-<id>;
 *          link set vh<id12> master BRIDGE up                      (under the netavark lock)
 *   netns: link set lo up; addr add IP/PREFIX broadcast + dev eth0; link set eth0 up;
 *          route add default via GATEWAY proto static metric 100   (what netavark configures)
 *
 * Teardown after the container exited (`fastRelease`) takes its address away and deletes the
 * namespace: from then on nothing answers for the address, which may be given out again. The
 * veth pair itself goes with the namespace, but the kernel frees that asynchronously, tens of
 * ms later; its explicit `link del` (an RCU grace period, 20-30 ms of waiting) is done after the
 * caller got its answer (util/after-reply.ts). netavark's own
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
import { afterReply } from '../util/after-reply.js';
import { HullError } from '../util/errors.js';
import { span } from '../util/trace.js';
import { netnsName, netnsPath, removeNetns, removeNetnsAsync } from './netns.js';
import { rulesStillThere } from './rule-check.js';
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

/** Routes hull adds get netavark's metric, so that both kinds of endpoint look alike. */
const ROUTE_METRIC = 100;

/** The host side of a veth, if the kernel still has it. */
function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The host-side link's index, if the kernel still has it. */
function ifindexOf(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** `ip link del` (only the link with `ifindex`, when given), where "already gone" is success. */
function deleteLink(name: string, ifindex = 0): void {
  try {
    nativeAddon().linkDelete(name, ifindex);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENODEV') throw e;
  }
}

/**
 * Plumb the container's namespace (which must exist) onto an existing bridge. false: the bridge
 * or its rules are missing (nothing was changed; netavark must do the whole setup). Throws when
 * the kernel refuses, with the veth and the namespace deleted.
 */
export async function fastAttach(e: FastEndpoint): Promise<boolean> {
  const ns = netnsPath(e.containerId);
  const veth = hostVethName(e.containerId);
  const native = nativeAddon();
  const attached = await withNetworkLock(async () => {
    if (!bridgeUp(e.bridge) || !(await span('network: rule check', () => rulesStillThere(e.bridge, e.subnet, () => forwardRuleExists(e.subnet))))) return false;
    span('network: veth (host)', () => {
      try {
        // This container's previous veth, when the kernel has not freed it yet (fastRelease).
        if (linkExists(veth)) deleteLink(veth);
        native.vethCreate(veth, 'eth0', e.mac, ns, e.bridge);
      } catch (err) {
        fastDetach(e.containerId);
        throw new HullError('INTERNAL', `setting up the container's network: ${(err as Error).message}`, { cause: err });
      }
    });
    return true;
  });
  if (!attached) return false;
  span('network: address, route (netns)', () => {
    try {
      native.netnsConfigure(ns, 'eth0', e.ip, Number(e.subnet.split('/')[1]), e.gateway, ROUTE_METRIC);
    } catch (err) {
      fastDetach(e.containerId);
      throw new HullError('INTERNAL', `configuring the container's interface: ${(err as Error).message}`, { cause: err });
    }
  });
  return true;
}

/** Undo fastAttach at once: the veth pair and (unless `keepNetns`) the namespace. Idempotent. */
export function fastDetach(containerId: string, keepNetns = false): void {
  try {
    deleteLink(hostVethName(containerId));
  } catch {
    // the namespace delete below takes it along
  }
  if (!keepNetns) removeNetns(containerId);
}

/**
 * Teardown after the container exited: its address goes (nothing in the dying namespace may
 * answer for an address that is free again), then the namespace, then the veth pair: with
 * `deferVeth` (the exit path) its explicit delete, the slow part, after the caller was answered.
 * `deferNetns` (a --rm container's removal after its exit: its id is never used again) moves the
 * namespace's unmount there too (it waits for an RCU grace period: 1-10 ms here); what a process
 * killed before that leaves is removed by the sweep of its removal area (engine/containers.ts).
 */
export function fastRelease(containerId: string, ip: string, prefix: number, deferVeth = false, deferNetns = false): void {
  try {
    nativeAddon().addrDelete(netnsPath(containerId), 'eth0', ip, prefix);
  } catch {
    // never configured (a start that failed early), or gone already
  }
  const veth = hostVethName(containerId);
  // By index: a restart of the container (in this very process, before the deferred delete
  // runs) makes a new veth of the same name, which must be left alone.
  const index = ifindexOf(veth);
  if (deferNetns) {
    // On libuv's thread pool: `hull serve`'s loop stays free to answer meanwhile.
    afterReply(async () => {
      await removeNetnsAsync(containerId);
      // The pair normally dies with the namespace; one left (say, moved) goes by its index.
      if (index !== undefined && ifindexOf(veth) === index) await deleteLinkAsync(veth, index);
    });
    return;
  }
  removeNetns(containerId);
  if (index === undefined) return;
  if (deferVeth) return afterReply(() => deleteLinkAsync(veth, index));
  try {
    deleteLink(veth, index);
  } catch {
    // the kernel frees the pair with the namespace anyway
  }
}

/** deleteLink after the answer: any error ignored, the kernel frees the pair with the namespace anyway. */
function deleteLinkAsync(veth: string, index: number): Promise<void> {
  return nativeAddon().linkDeleteAsync(veth, index).catch(() => undefined);
}

/** Delete interfaces inside the container's namespace (each takes its veth peer with it, at once). */
export function deleteInterfaces(containerId: string, ifaces: string[]): void {
  spawnSync('ip', ['-n', netnsName(containerId), '-force', '-batch', '-'], { input: ifaces.map((i) => `link del ${i}\n`).join(''), stdio: ['pipe', 'ignore', 'ignore'], timeout: 30_000 });
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
