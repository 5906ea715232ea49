/**
 * A VM's network: the guest takes over the interfaces netavark put in the container's network
 * namespace (docs/ARCHITECTURE.md, "Virtual machines", network). QEMU runs inside that namespace
 * with one tap device per interface; two tc rules (ingress on each side, u32 match-all, mirred
 * redirect) make the tap and the veth one wire, and the guest's virtio-net NIC gets the veth's
 * MAC, name, MTU and IPv4 addresses, and the namespace's default gateway. The namespace's own
 * stack never sees a packet (ingress is redirected before IP), so nothing answers twice.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GuestInterface {
  /** The name in the namespace (eth0, eth1…), which the guest gives its NIC too. */
  name: string;
  mac: string;
  mtu: number;
  /** IPv4 `address/prefix`. */
  addresses: string[];
}

export interface GuestNetwork {
  interfaces: GuestInterface[];
  gateway?: string;
}

/** The tap for interface `i` inside the namespace; it is QEMU's and goes with QEMU. */
export const tapName = (i: number): string => `hulltap${i}`;

/** The network namespace config.json asks for: a path (a hull network), or undefined (none: an empty namespace, no NIC). */
export function netnsPath(bundle: string): string | undefined {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { linux?: { namespaces?: { type: string; path?: string }[] } };
  return spec.linux?.namespaces?.find((n) => n.type === 'network')?.path || undefined;
}

function inNetns(ns: string, cmd: string, args: string[], input?: string): string {
  return execFileSync('nsenter', [`--net=${ns}`, '--', cmd, ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input !== undefined ? { input } : {}) });
}

interface IpAddr {
  ifname: string;
  address?: string;
  mtu: number;
  link_type: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/**
 * What netavark (or the fast path) configured in the namespace: the interfaces (not lo) and the
 * default IPv4 gateway. One `ip -json -batch` run for both listings: each nsenter + ip pair is
 * two execs on runtime create's way to QEMU's spawn. Each command prints one line of JSON.
 */
export function readNetwork(ns: string): GuestNetwork {
  const [addrs, defaults] = inNetns(ns, 'ip', ['-j', '-batch', '-'], 'addr show\nroute show default\n').trim().split('\n');
  const links = JSON.parse(addrs ?? '[]') as IpAddr[];
  const interfaces = links
    .filter((l) => l.link_type === 'ether' && l.address && !l.ifname.startsWith('hulltap'))
    .map((l) => ({
      name: l.ifname,
      mac: l.address!,
      mtu: l.mtu,
      addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    }));
  const routes = JSON.parse(defaults || '[]') as { gateway?: string }[];
  const gateway = routes.find((r) => r.gateway)?.gateway;
  return { interfaces, ...(gateway ? { gateway } : {}) };
}

/** QEMU's NICs: a tap it creates in its (the container's) namespace, and the veth's MAC. */
export function qemuNetArgs(net: GuestNetwork): string[] {
  return net.interfaces.flatMap((iface, i) => [
    '-netdev', `tap,id=net${i},ifname=${tapName(i)},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=net${i},mac=${iface.mac}`,
  ]);
}

/** Once QEMU has made the taps: bring them up and join each to its veth in both directions. */
export function wireTaps(ns: string, net: GuestNetwork): void {
  net.interfaces.forEach((iface, i) => inNetns(ns, 'ip', ['link', 'set', tapName(i), 'mtu', String(iface.mtu), 'up']));
  const batch = net.interfaces.flatMap((iface, i) =>
    [
      [iface.name, tapName(i)],
      [tapName(i), iface.name],
    ].flatMap(([from, to]) => [`qdisc replace dev ${from} ingress`, `filter add dev ${from} parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`]),
  );
  if (batch.length) inNetns(ns, 'tc', ['-batch', '-'], batch.join('\n') + '\n');
}

/** The guest init's fields (native/vm/hull-vm-init.c): N name mac mtu, then its A addresses; W gateway. */
export function networkFields(net: GuestNetwork): string[] {
  const fields = net.interfaces.flatMap((iface) => [`N${iface.name} ${iface.mac} ${iface.mtu}`, ...iface.addresses.map((a) => `A${a}`)]);
  if (net.gateway) fields.push(`W${net.gateway}`);
  return fields;
}
