/**
 * Networks: Docker's bridge/host/none plus user-defined bridge networks. hull keeps the
 * networks, each container's endpoint (address, aliases) and claimed host ports in SQLite, and
 * hands netavark the result per container at start (setup) and exit (teardown).
 *
 * Lifecycle of a container's network:
 * - create: endpoints allocated (IMMEDIATE transaction: no address twice), kept until removal;
 * - start:  a hull-owned netns, host ports claimed, `netavark setup`;
 * - exit / rm -f / reconcile of a dead monitor: `netavark teardown`, netns deleted, ports freed
 *   (idempotent: whoever comes first does it, the rest find nothing left);
 * - rm: endpoints deleted, addresses free again.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerDoc } from '../container/model.js';
import type { NetworkNamespace } from '../container/spec/spec.js';
import { NetworkRecords, type EndpointRow, type NetworkRow, type PortClaim } from '../state/networks.js';
import type { Db } from '../state/db.js';
import { HullError } from '../util/errors.js';
import { contains, formatCidr, formatIp, hostRange, overlaps, parseCidr, parseIp, type Cidr } from '../network/cidr.js';
import { Netavark, type NetavarkNetwork, type NetavarkOptions } from '../network/netavark.js';
import { createNetns, createNetnsAsync, netnsExists, netnsPath, removeNetns } from '../network/netns.js';
import { foreignReservations, pickSubnet, releaseSubnet, reserveSubnet } from '../network/subnet-pool.js';
import { listeningPorts } from '../network/host-ports.js';
import { span } from '../util/trace.js';
import { deleteInterfaces, fastAttach, fastDetach, fastRelease, markBridge, randomMac, reclaimStaleBridges } from '../network/fast-bridge.js';

export interface NetworkCreateOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

/** Docker's EndpointSettings as a create request carries it. */
export interface EndpointRequest {
  IPAMConfig?: { IPv4Address?: string } | null;
  Aliases?: string[] | null;
}

/** What a starting container's bundle needs from its network. */
export interface BundleNetwork {
  namespace: NetworkNamespace;
  addresses: string[];
  /** Resolvers for resolv.conf (aardvark's address first on user networks). */
  dns: string[];
  /**
   * Plumbing still under way in the namespace (the fast path runs it alongside the bundle and
   * `runc create`, which only needs the namespace to exist). It must be awaited before the
   * workload starts (`runtime start`), and before any runtime that reads the namespace at create.
   */
  ready?: Promise<void>;
  /**
   * The namespace at `namespace.path` is being made (the fast path makes it while the bundle is
   * written): it must be awaited before the runtime creates the container. `ready` includes it.
   */
  created?: Promise<void>;
}

/** The container fields networking reads; kept narrow so containers.ts need not be imported. */
export interface NetContainer {
  id: string;
  name: string;
  doc: ContainerDoc;
  state: { Status: string; Pid: number };
}

const BUILTIN = ['bridge', 'host', 'none'];
const RANDOM_PORT_FIRST = 49153;
const RANDOM_PORT_LAST = 60999;

function invalid(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

function nowIso(): string {
  return new Date().toISOString();
}

/** `default` is Docker's spelling of the default bridge in a create request. */
export function networkModeName(mode: string): string {
  return mode === 'default' || mode === '' ? 'bridge' : mode;
}

export class NetworkService {
  readonly records: NetworkRecords;
  private readonly netavark: Netavark;
  private builtinsChecked = false;

  constructor(
    private readonly root: string,
    db: Db,
    /** Looks up a container by name/id (for container:<name> and connect). */
    private readonly findContainer: (ref: string) => NetContainer | undefined,
  ) {
    this.records = new NetworkRecords(db);
    this.netavark = new Netavark(join(root, 'network'));
  }

  /** bridge, host and none exist in every root, as in Docker; the bridge's subnet is picked once. */
  private ensureBuiltins(): void {
    if (this.builtinsChecked) return;
    this.builtinsChecked = true;
    if (BUILTIN.every((n) => this.records.byName(n))) return;
    this.records.transaction(() => {
      for (const name of BUILTIN) {
        if (this.records.byName(name)) continue;
        const id = randomBytes(32).toString('hex');
        if (name === 'bridge') {
          const subnet = pickSubnet(this.root, this.taken());
          this.records.insert(bridgeRow(id, 'bridge', subnet, undefined, undefined, false, {}, { 'com.docker.network.bridge.default_bridge': 'true' }));
        } else {
          this.records.insert({ id, name, driver: name === 'host' ? 'host' : 'null', createdAt: nowIso(), subnet: null, gateway: null, ipRange: null, internal: false, bridge: null, labels: {}, options: {} });
        }
      }
    });
  }

  private taken(): Cidr[] {
    return this.records
      .list()
      .filter((n) => n.subnet)
      .map((n) => parseCidr(n.subnet!));
  }

  list(): NetworkRow[] {
    this.ensureBuiltins();
    return this.records.list();
  }

  find(ref: string): NetworkRow | undefined {
    this.ensureBuiltins();
    const byId = /^[a-f0-9]{64}$/.test(ref) ? this.records.get(ref) : undefined;
    if (byId) return byId;
    const byName = this.records.byName(ref);
    if (byName) return byName;
    if (/^[a-f0-9]+$/.test(ref)) {
      const rows = this.records.byIdPrefix(ref);
      if (rows.length > 1) throw invalid(`network ${ref} is ambiguous (${rows.length} matches found based on ID prefix)`);
      return rows[0];
    }
    return undefined;
  }

  get(ref: string): NetworkRow {
    const n = this.find(ref);
    if (!n) throw new HullError('NOT_FOUND', `network ${ref} not found`);
    return n;
  }

  create(o: NetworkCreateOptions): NetworkRow {
    this.ensureBuiltins();
    const driver = o.driver ?? 'bridge';
    if (driver === 'host' || driver === 'null') throw new HullError('CONFLICT', `only one instance of "${driver}" network is allowed`);
    if (driver !== 'bridge') throw new HullError('NOT_FOUND', `plugin "${driver}" not found`);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(o.name)) throw invalid(`invalid network name "${o.name}"`);
    if (!o.subnet && (o.gateway || o.ipRange)) throw invalid('every ip-range or gateway must have a corresponding subnet');
    const subnet = o.subnet ? parseCidr(o.subnet) : undefined;
    if (subnet && subnet.prefix > 30) throw invalid(`invalid subnet ${o.subnet}: too small for a gateway and a container`);
    let gateway: number | undefined;
    if (o.gateway !== undefined) {
      gateway = parseIp(o.gateway);
      if (gateway === undefined) throw invalid(`invalid gateway address ${o.gateway}`);
      if (!contains(subnet!, gateway)) throw invalid(`no matching subnet for gateway ${o.gateway}`);
    }
    const ipRange = o.ipRange ? parseCidr(o.ipRange) : undefined;
    if (ipRange && !(contains(subnet!, ipRange.base) && ipRange.prefix >= subnet!.prefix)) throw invalid(`no matching subnet for range ${o.ipRange}`);
    const id = randomBytes(32).toString('hex');
    return this.records.transaction(() => {
      if (this.records.byName(o.name)) throw new HullError('CONFLICT', `network with name ${o.name} already exists`);
      let chosen: Cidr;
      if (subnet) {
        const busy = [...this.taken(), ...foreignReservations(this.root)];
        if (busy.some((b) => overlaps(b, subnet)) || !reserveSubnet(subnet, this.root)) throw new HullError('CONFLICT', 'Pool overlaps with other one on this address space');
        chosen = subnet;
      } else {
        chosen = pickSubnet(this.root, this.taken());
      }
      const row = bridgeRow(id, o.name, chosen, gateway, ipRange, o.internal ?? false, o.labels ?? {}, o.options ?? {});
      this.records.insert(row);
      return row;
    });
  }

  /** A connected container's name, for network inspect ('' once it is gone). */
  containerName(id: string): string {
    return this.findContainer(id)?.name ?? '';
  }

  /** Containers connected to a network, by endpoint. */
  endpoints(n: NetworkRow): EndpointRow[] {
    this.records.sweepOrphans();
    return this.records.endpointsOf(n.id);
  }

  remove(ref: string): void {
    const n = this.get(ref);
    if (BUILTIN.includes(n.name)) throw new HullError('CONFLICT', `${n.name} is a pre-defined network and cannot be removed`);
    this.records.transaction(() => {
      this.records.sweepOrphans();
      const users = this.records.endpointsOf(n.id);
      if (users.length > 0) {
        const names = users.map((e) => `name:"${this.findContainer(e.containerId)?.name ?? ''}" id:"${e.containerId.slice(0, 12)}"`);
        throw new HullError('CONFLICT', `error while removing network: network ${n.name} has active endpoints (${names.join(', ')})`);
      }
      this.records.delete(n.id);
    });
    if (n.subnet) releaseSubnet(parseCidr(n.subnet), this.root);
  }

  /** User networks nobody uses; returns their names. */
  prune(filter: (n: NetworkRow) => boolean = () => true): string[] {
    const gone: string[] = [];
    for (const n of this.list()) {
      if (BUILTIN.includes(n.name) || !filter(n) || this.endpoints(n).length > 0) continue;
      try {
        this.remove(n.id);
        gone.push(n.name);
      } catch {
        // a container joined meanwhile
      }
    }
    return gone;
  }

  // ---- containers -------------------------------------------------------------------------

  /**
   * Validate a new container's network mode and allocate its endpoint(s). Throws Docker's
   * errors; the caller removes the container row then.
   */
  created(c: NetContainer, endpointsConfig: Record<string, EndpointRequest> | undefined): void {
    const h = c.doc.HostConfig;
    const mode = networkModeName(h.NetworkMode);
    const hasPorts = Object.keys(h.PortBindings ?? {}).length > 0 || h.PublishAllPorts === true;
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      if (Object.keys(endpointsConfig ?? {}).some((k) => k !== mode && k !== h.NetworkMode)) throw invalid('conflicting options: network mode and additional networks');
      if (mode.startsWith('container:')) {
        if (hasPorts) throw invalid('conflicting options: port publishing and the container type network mode');
        const other = mode.slice('container:'.length);
        if (!this.findContainer(other)) throw new HullError('NOT_FOUND', `No such container: ${other}`);
      }
      if (mode === 'none' && hasPorts) throw invalid('conflicting options: port publishing and the "none" network mode');
      if (mode === 'host') {
        this.get('host');
        if (hasPorts) h.PortBindings = {};
      }
      return;
    }
    const n = this.get(mode);
    if (n.driver !== 'bridge') throw invalid(`container cannot be connected to network "${n.name}" of driver "${n.driver}"`);
    const req = endpointsConfig?.[mode] ?? endpointsConfig?.[h.NetworkMode] ?? {};
    this.connect(n.id, c, { ...(req.IPAMConfig?.IPv4Address ? { ip: req.IPAMConfig.IPv4Address } : {}), aliases: req.Aliases ?? [] });
  }

  /** `network connect` (and the first network of a new container). */
  connect(ref: string, c: NetContainer, o: { ip?: string; aliases?: string[] } = {}): EndpointRow {
    const n = this.get(ref);
    const mode = networkModeName(c.doc.HostConfig.NetworkMode);
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw new HullError('CONFLICT', `container sharing network namespace with another container or host cannot be connected to any other network`);
    }
    if (n.driver !== 'bridge') throw invalid(`container cannot be disconnected from host network or connected to host network`);
    const isDefault = n.name === 'bridge';
    if (isDefault && o.ip) throw invalid('user specified IP address is supported on user defined networks only');
    if (isDefault && o.aliases && o.aliases.length > 0) throw invalid('network-scoped alias is supported only for containers in user defined networks');
    const subnet = parseCidr(n.subnet!);
    const ep = this.records.transaction(() => {
      this.records.sweepOrphans();
      if (this.records.endpointsOf(n.id).some((e) => e.containerId === c.id)) {
        throw new HullError('CONFLICT', `endpoint with name ${c.name} already exists in network ${n.name}`);
      }
      const used = new Set(this.records.endpointsOf(n.id).map((e) => e.ip));
      used.add(n.gateway!);
      let ip: string;
      if (o.ip) {
        const want = parseIp(o.ip);
        if (want === undefined) throw invalid(`invalid IPv4 address: ${o.ip}`);
        if (!contains(subnet, want)) throw invalid(`no configured subnet or ip-range contain the IP address ${o.ip}`);
        if (used.has(o.ip)) throw new HullError('CONFLICT', 'Address already in use');
        ip = o.ip;
      } else {
        ip = this.freeAddress(n, used);
      }
      const iface = `eth${this.records.endpointsFor(c.id).length}`;
      const row: EndpointRow = {
        networkId: n.id,
        containerId: c.id,
        endpointId: randomBytes(32).toString('hex'),
        ip,
        staticIp: o.ip !== undefined,
        aliases: o.aliases ?? [],
        iface,
        mac: '',
        plumber: 'netavark',
      };
      this.records.insertEndpoint(row);
      return row;
    });
    if (c.state.Status === 'running' || c.state.Status === 'paused') {
      try {
        this.setupOne(c, n, ep);
      } catch (e) {
        this.records.deleteEndpoint(n.id, c.id);
        throw e;
      }
    }
    return ep;
  }

  disconnect(ref: string, c: NetContainer): void {
    const n = this.get(ref);
    const ep = this.records.endpointsFor(c.id).find((e) => e.networkId === n.id);
    if (!ep) throw new HullError('CONFLICT', `container ${c.id} is not connected to network ${n.name}`);
    if ((c.state.Status === 'running' || c.state.Status === 'paused') && netnsExists(c.id)) {
      if (ep.plumber === 'hull') fastDetach(c.id, true);
      else this.netavark.teardown(netnsPath(c.id), this.options(c, [ep], []));
    }
    this.records.deleteEndpoint(n.id, c.id);
  }

  private freeAddress(n: NetworkRow, used: Set<string>): string {
    const range = hostRange(n.ipRange ? parseCidr(n.ipRange) : parseCidr(n.subnet!));
    const subnet = hostRange(parseCidr(n.subnet!));
    const first = Math.max(range.first, subnet.first);
    const last = Math.min(range.last, subnet.last);
    for (let a = first; a <= last; a++) {
      if (!used.has(formatIp(a))) return formatIp(a);
    }
    throw new HullError('CONFLICT', `no available IPv4 addresses on this network's address pools: ${n.name} (${n.id})`);
  }

  private network(id: string): NetworkRow {
    const n = this.records.get(id);
    if (!n) throw new HullError('NOT_FOUND', `network ${id} not found`);
    return n;
  }

  private options(c: NetContainer, eps: EndpointRow[], claims: PortClaim[]): NetavarkOptions {
    const networks: NetavarkOptions['networks'] = {};
    const info: NetavarkOptions['network_info'] = {};
    for (const ep of eps) {
      const n = this.network(ep.networkId);
      const userDefined = n.name !== 'bridge';
      networks[n.name] = {
        static_ips: [ep.ip],
        // Docker's embedded DNS answers the name, the aliases and the short id on user networks.
        aliases: userDefined ? [c.name, c.id.slice(0, 12), ...ep.aliases] : [],
        interface_name: ep.iface,
      };
      info[n.name] = netavarkNetwork(n);
    }
    return {
      container_id: c.id,
      container_name: c.name,
      port_mappings: claims.map((p) => ({ host_ip: p.hostIp, container_port: p.containerPort, host_port: p.hostPort, range: 1, protocol: p.proto as 'tcp' | 'udp' })),
      networks,
      network_info: info,
    };
  }

  private setupOne(c: NetContainer, n: NetworkRow, ep: EndpointRow): void {
    this.records.setPlumbing(n.id, c.id, 'netavark', '');
    const status = this.netavark.setup(netnsPath(c.id), this.options(c, [ep], []));
    const mac = status[n.name]?.interfaces[ep.iface]?.mac_address;
    if (mac) this.records.setMac(n.id, c.id, mac);
  }

  /**
   * The fast path (network/fast-bridge.ts) serves a container with one endpoint, on a network
   * without DNS entries to register (the default bridge), publishing no ports.
   * HULL_NETWORK_FAST=0 turns it off (A/B measurements, tests of the netavark path).
   */
  private fastEligible(c: NetContainer, eps: EndpointRow[]): NetworkRow | undefined {
    if (process.env.HULL_NETWORK_FAST === '0' || eps.length !== 1) return undefined;
    const h = c.doc.HostConfig;
    if (Object.keys(h.PortBindings ?? {}).length > 0 || h.PublishAllPorts === true) return undefined;
    const n = this.network(eps[0]!.networkId);
    return n.name === 'bridge' && !n.internal && n.bridge ? n : undefined;
  }

  /**
   * The fast path, in the namespace already made. When the bridge or its rules are missing (the
   * first container on it), netavark does the whole setup instead, in the same namespace.
   */
  private async plumbFast(c: NetContainer, n: NetworkRow, ep: EndpointRow, path: string): Promise<void> {
    const mac = randomMac();
    this.records.setPlumbing(n.id, c.id, 'hull', mac);
    if (await span('network: fast attach', () => fastAttach({ containerId: c.id, bridge: n.bridge!, subnet: n.subnet!, gateway: n.gateway!, ip: ep.ip, mac }))) return;
    createNetns(c.id); // loopback up: netavark leaves lo alone
    this.netavarkSetup(c, [ep], [], path);
  }

  private netavarkSetup(c: NetContainer, eps: EndpointRow[], claims: PortClaim[], path: string): void {
    for (const ep of eps) this.records.setPlumbing(ep.networkId, c.id, 'netavark', '');
    const status = span('network: netavark setup', () => this.netavark.setup(path, this.options(c, eps, claims)));
    for (const ep of eps) {
      const n = this.network(ep.networkId);
      const mac = status[n.name]?.interfaces[ep.iface]?.mac_address;
      if (mac) this.records.setMac(n.id, c.id, mac);
      // A default bridge may outlive its last container (fast-path teardown): remember its root.
      if (n.name === 'bridge') markBridge(this.root, netavarkNetwork(n));
    }
    // Rare (the first container on a bridge), so this is where leftovers of deleted roots go.
    span('network: reclaim stale bridges', () => reclaimStaleBridges(this.netavark));
  }

  /** At start: the namespace to join, addresses and resolvers for /etc. */
  prepare(c: NetContainer): BundleNetwork {
    const h = c.doc.HostConfig;
    const mode = networkModeName(h.NetworkMode);
    const userDns = h.Dns ?? [];
    if (mode === 'host') return { namespace: 'host', addresses: [], dns: userDns };
    if (mode === 'none') return { namespace: 'none', addresses: [], dns: userDns };
    if (mode.startsWith('container:')) {
      const ref = mode.slice('container:'.length);
      const other = this.findContainer(ref);
      if (!other) throw new HullError('NOT_FOUND', `No such container: ${ref}`);
      if (other.state.Status !== 'running' && other.state.Status !== 'paused') {
        throw new HullError('CONFLICT', `cannot join network namespace of a non running container: ${other.id}`);
      }
      const eps = this.records.endpointsFor(other.id);
      return { namespace: { path: `/proc/${other.state.Pid}/ns/net` }, addresses: [], dns: this.resolvers(eps, other.doc.HostConfig.Dns ?? []) };
    }
    this.records.sweepOrphans();
    // A start that died half way (CLI killed) left its namespace: undo it before starting over.
    if (netnsExists(c.id)) this.release(c);
    // A create that died between the container row and its endpoint: connect it now.
    if (this.records.endpointsFor(c.id).length === 0) this.connect(mode, c);
    const eps = this.records.endpointsFor(c.id);
    const fast = this.fastEligible(c, eps);
    if (fast) {
      // The namespace is made while the bundle is written (its path is known now: the bundle
      // only names it) and awaited before `runc create` (`created`); the rest runs alongside
      // `runc create` too and is awaited before `runc start` (`ready`).
      const path = netnsPath(c.id);
      const created = span('network: netns add', () => createNetnsAsync(c.id)).then(() => undefined);
      // Not before the start's next wait for I/O (its wait for the monitor's `runc create`): a
      // namespace taken from the spare exists at once, and the plumbing (the veth's creation
      // waits for the kernel on this thread) would otherwise run ahead of the bundle.
      const ready = created.then(() => new Promise((r) => setImmediate(r))).then(() => this.plumbFast(c, fast, eps[0]!, path));
      // Both awaited by the caller; this only marks them handled meanwhile.
      created.catch(() => undefined);
      ready.catch(() => undefined);
      return { namespace: { path }, addresses: [eps[0]!.ip], dns: this.resolvers(eps, userDns), ready, created };
    }
    // The namespace first: it is what marks this container's port claims as live (claimPorts).
    const path = span('network: netns add', () => createNetns(c.id));
    try {
      this.netavarkSetup(c, eps, this.claimPorts(c), path);
    } catch (e) {
      this.records.deleteClaimsFor(c.id);
      removeNetns(c.id);
      throw e;
    }
    return { namespace: { path }, addresses: eps.map((e) => e.ip), dns: this.resolvers(eps, userDns) };
  }

  /** aardvark listens on the gateway of each user network; --dns servers follow it. */
  private resolvers(eps: EndpointRow[], userDns: string[]): string[] {
    const gateways = eps
      .map((e) => this.network(e.networkId))
      .filter((n) => n.name !== 'bridge')
      .map((n) => n.gateway!);
    return [...gateways, ...userDns];
  }

  /**
   * Claim the host ports of -p/-P in one IMMEDIATE transaction: a port another container holds,
   * or a host socket listens on, is Docker's error; random ports skip both.
   */
  private claimPorts(c: NetContainer): PortClaim[] {
    const h = c.doc.HostConfig;
    const wanted: { proto: string; containerPort: number; hostIp: string; hostPorts: [number, number] | undefined }[] = [];
    for (const [key, list] of Object.entries(h.PortBindings ?? {})) {
      const [port, proto = 'tcp'] = key.split('/');
      for (const b of list ?? []) {
        const hp = b.HostPort ? b.HostPort.split('-').map(Number) : undefined;
        wanted.push({ proto, containerPort: Number(port), hostIp: b.HostIp === '0.0.0.0' ? '' : b.HostIp, hostPorts: hp ? [hp[0]!, hp[1] ?? hp[0]!] : undefined });
      }
    }
    if (h.PublishAllPorts) {
      for (const key of Object.keys(c.doc.Config.ExposedPorts ?? {})) {
        if (h.PortBindings?.[key]?.length) continue;
        const [port, proto = 'tcp'] = key.split('/');
        wanted.push({ proto, containerPort: Number(port), hostIp: '', hostPorts: undefined });
      }
    }
    if (wanted.length === 0) return [];
    return this.records.transaction(() => {
      this.records.deleteClaimsFor(c.id);
      // A claim is live while its holder's namespace exists; others were left by a killed CLI.
      for (const x of this.records.claims()) if (!netnsExists(x.containerId)) this.records.deleteClaimsFor(x.containerId);
      const held = this.records.claims();
      const listening = listeningPorts();
      const clash = (proto: string, ip: string, port: number): PortClaim | undefined =>
        held.find((x) => x.proto === proto && x.hostPort === port && (x.hostIp === '' || ip === '' || x.hostIp === ip));
      const out: PortClaim[] = [];
      for (const w of wanted) {
        const [lo, hi] = w.hostPorts ?? [RANDOM_PORT_FIRST, RANDOM_PORT_LAST];
        let chosen: number | undefined;
        let firstClash: string | undefined;
        for (let p = lo; p <= hi && chosen === undefined; p++) {
          if (clash(w.proto, w.hostIp, p)) {
            firstClash ??= `driver failed programming external connectivity on endpoint ${c.name} (${c.id}): Bind for ${w.hostIp || '0.0.0.0'}:${p} failed: port is already allocated`;
            continue;
          }
          if (listening.has(`${w.proto}:${p}`)) {
            firstClash ??= `driver failed programming external connectivity on endpoint ${c.name} (${c.id}): Error starting userland proxy: listen ${w.proto}4 ${w.hostIp || '0.0.0.0'}:${p}: bind: address already in use`;
            continue;
          }
          chosen = p;
        }
        if (chosen === undefined) throw new HullError('CONFLICT', firstClash ?? `no free host port for ${w.containerPort}/${w.proto}`);
        const claim = { proto: w.proto, hostIp: w.hostIp, hostPort: chosen, containerId: c.id, containerPort: w.containerPort };
        this.records.insertClaim(claim);
        held.push(claim);
        out.push(claim);
      }
      return out;
    });
  }

  /**
   * After exit (and before removal): undo start; safe to call any number of times. `deferVeth`:
   * the exit path, whose caller need not wait for the kernel to delete a veth (fast-bridge.ts).
   */
  release(c: NetContainer, o: { deferVeth?: boolean; deferNetns?: boolean } = {}): void {
    const claims = this.records.claimsFor(c.id);
    if (netnsExists(c.id)) {
      const eps = this.records.endpointsFor(c.id);
      // The default bridge stays up after its last container, as docker0 does, so that the next
      // container takes the fast path. netavark would take it down with its last interface; for
      // an endpoint of it without ports (no per-container rules, no DNS entries) the veth pair is
      // all netavark made per container, and deleting it is its whole per-container teardown.
      const keepBridge = (e: EndpointRow): boolean => claims.length === 0 && this.network(e.networkId).name === 'bridge';
      const viaNetavark = eps.filter((e) => e.plumber === 'netavark' && !keepBridge(e));
      const netavarkVeths = eps.filter((e) => e.plumber === 'netavark' && keepBridge(e)).map((e) => e.iface);
      try {
        if (viaNetavark.length > 0) span('network: netavark teardown', () => this.netavark.teardown(netnsPath(c.id), this.options(c, viaNetavark, claims)));
      } catch {
        // a concurrent release got there first, or the interface is already gone
      }
      if (netavarkVeths.length > 0) span('network: veth delete', () => deleteInterfaces(c.id, netavarkVeths));
      // Whoever set an endpoint up tears it down: hull's address, namespace and veth.
      const fast = eps.find((e) => e.plumber === 'hull');
      if (fast) span('network: fast release', () => fastRelease(c.id, fast.ip, Number(this.network(fast.networkId).subnet!.split('/')[1]), o.deferVeth, o.deferNetns));
      else span('network: netns delete', () => removeNetns(c.id));
    }
    this.records.deleteClaimsFor(c.id);
  }

  /** The container is gone: its addresses are free again. `o`: see release and fastRelease. */
  removed(c: NetContainer, o: { deferVeth?: boolean; deferNetns?: boolean } = {}): void {
    this.release(c, o);
    this.records.deleteEndpointsFor(c.id);
  }

  claimsFor(id: string): PortClaim[] {
    return this.records.claimsFor(id);
  }

  endpointsFor(id: string): EndpointRow[] {
    return this.records.endpointsFor(id);
  }

  networkById(id: string): NetworkRow | undefined {
    return this.records.get(id);
  }
}

function bridgeName(id: string, name: string): string {
  return name === 'bridge' ? `hull${id.slice(0, 6)}` : `hull-${id.slice(0, 10)}`;
}

function bridgeRow(id: string, name: string, subnet: Cidr, gateway: number | undefined, ipRange: Cidr | undefined, internal: boolean, labels: Record<string, string>, options: Record<string, string>): NetworkRow {
  return {
    id,
    name,
    driver: 'bridge',
    createdAt: nowIso(),
    subnet: formatCidr(subnet),
    gateway: formatIp(gateway ?? hostRange(subnet).first),
    ipRange: ipRange ? formatCidr(ipRange) : null,
    internal,
    bridge: options['com.docker.network.bridge.name'] ?? bridgeName(id, name),
    labels,
    options,
  };
}

function netavarkNetwork(n: NetworkRow): NetavarkNetwork {
  return {
    name: n.name,
    id: n.id,
    driver: 'bridge',
    network_interface: n.bridge!,
    subnets: [{ subnet: n.subnet!, gateway: n.gateway! }],
    ipv6_enabled: false,
    internal: n.internal,
    // Docker resolves container names on user-defined networks only.
    dns_enabled: n.name !== 'bridge',
    ipam_options: { driver: 'host-local' },
  };
}
