/** Network, endpoint and host-port rows. Writers call `transaction` (IMMEDIATE) around read-then-write. */
import type { Db } from './db.js';

export interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  createdAt: string;
  subnet: string | null;
  gateway: string | null;
  ipRange: string | null;
  internal: boolean;
  bridge: string | null;
  labels: Record<string, string>;
  options: Record<string, string>;
}

export interface EndpointRow {
  networkId: string;
  containerId: string;
  endpointId: string;
  ip: string;
  staticIp: boolean;
  aliases: string[];
  iface: string;
  mac: string;
  /** Who set the interface up at the last start (and so tears it down). */
  plumber: Plumber;
}

export type Plumber = 'netavark' | 'hull';

export interface PortClaim {
  proto: string;
  hostIp: string;
  hostPort: number;
  containerId: string;
  containerPort: number;
}

interface RawNetwork {
  id: string;
  name: string;
  driver: string;
  created_at: string;
  subnet: string | null;
  gateway: string | null;
  ip_range: string | null;
  internal: number;
  bridge: string | null;
  labels: string;
  options: string;
}

interface RawEndpoint {
  network_id: string;
  container_id: string;
  endpoint_id: string;
  ip: string;
  static_ip: number;
  aliases: string;
  interface: string;
  mac: string;
  plumber: string;
}

interface RawClaim {
  proto: string;
  host_ip: string;
  host_port: number;
  container_id: string;
  container_port: number;
}

const toNetwork = (r: RawNetwork): NetworkRow => ({
  id: r.id,
  name: r.name,
  driver: r.driver,
  createdAt: r.created_at,
  subnet: r.subnet,
  gateway: r.gateway,
  ipRange: r.ip_range,
  internal: r.internal === 1,
  bridge: r.bridge,
  labels: JSON.parse(r.labels) as Record<string, string>,
  options: JSON.parse(r.options) as Record<string, string>,
});

const toEndpoint = (r: RawEndpoint): EndpointRow => ({
  networkId: r.network_id,
  containerId: r.container_id,
  endpointId: r.endpoint_id,
  ip: r.ip,
  staticIp: r.static_ip === 1,
  aliases: JSON.parse(r.aliases) as string[],
  iface: r.interface,
  mac: r.mac,
  plumber: r.plumber === 'hull' ? 'hull' : 'netavark',
});

const toClaim = (r: RawClaim): PortClaim => ({ proto: r.proto, hostIp: r.host_ip, hostPort: r.host_port, containerId: r.container_id, containerPort: r.container_port });

export class NetworkRecords {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  insert(n: NetworkRow): void {
    this.db
      .prepare(
        'INSERT INTO networks (id, name, driver, created_at, subnet, gateway, ip_range, internal, bridge, labels, options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(n.id, n.name, n.driver, n.createdAt, n.subnet, n.gateway, n.ipRange, n.internal ? 1 : 0, n.bridge, JSON.stringify(n.labels), JSON.stringify(n.options));
  }

  list(): NetworkRow[] {
    return this.db.prepare('SELECT * FROM networks ORDER BY created_at, name').all().map((r) => toNetwork(r as RawNetwork));
  }

  get(id: string): NetworkRow | undefined {
    const r = this.db.prepare('SELECT * FROM networks WHERE id = ?').get(id);
    return r ? toNetwork(r as RawNetwork) : undefined;
  }

  byName(name: string): NetworkRow | undefined {
    const r = this.db.prepare('SELECT * FROM networks WHERE name = ?').get(name);
    return r ? toNetwork(r as RawNetwork) : undefined;
  }

  byIdPrefix(prefix: string): NetworkRow[] {
    return this.db.prepare("SELECT * FROM networks WHERE id LIKE ? || '%'").all(prefix).map((r) => toNetwork(r as RawNetwork));
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM networks WHERE id = ?').run(id);
  }

  endpointsOf(networkId: string): EndpointRow[] {
    return this.db.prepare('SELECT * FROM endpoints WHERE network_id = ? ORDER BY ip').all(networkId).map((r) => toEndpoint(r as RawEndpoint));
  }

  endpointsFor(containerId: string): EndpointRow[] {
    return this.db.prepare('SELECT * FROM endpoints WHERE container_id = ? ORDER BY interface').all(containerId).map((r) => toEndpoint(r as RawEndpoint));
  }

  insertEndpoint(e: EndpointRow): void {
    this.db
      .prepare('INSERT INTO endpoints (network_id, container_id, endpoint_id, ip, static_ip, aliases, interface, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.networkId, e.containerId, e.endpointId, e.ip, e.staticIp ? 1 : 0, JSON.stringify(e.aliases), e.iface, e.mac);
  }

  setMac(networkId: string, containerId: string, mac: string): void {
    this.db.prepare('UPDATE endpoints SET mac = ? WHERE network_id = ? AND container_id = ?').run(mac, networkId, containerId);
  }

  /** Recorded before the plumbing is done, so a crash midway leaves the right party to undo it. */
  setPlumbing(networkId: string, containerId: string, plumber: Plumber, mac: string): void {
    this.db.prepare('UPDATE endpoints SET plumber = ?, mac = ? WHERE network_id = ? AND container_id = ?').run(plumber, mac, networkId, containerId);
  }

  deleteEndpoint(networkId: string, containerId: string): void {
    this.db.prepare('DELETE FROM endpoints WHERE network_id = ? AND container_id = ?').run(networkId, containerId);
  }

  deleteEndpointsFor(containerId: string): void {
    this.db.prepare('DELETE FROM endpoints WHERE container_id = ?').run(containerId);
  }

  /** Endpoints and claims of containers whose row is gone (a CLI died between the two writes). */
  sweepOrphans(): void {
    // A build's RUN step has an endpoint but no container row (build/run-network.ts).
    this.db.prepare('DELETE FROM endpoints WHERE container_id NOT IN (SELECT id FROM containers UNION SELECT container_id FROM build_steps)').run();
    this.db.prepare('DELETE FROM port_claims WHERE container_id NOT IN (SELECT id FROM containers)').run();
  }

  claims(): PortClaim[] {
    return this.db.prepare('SELECT * FROM port_claims').all().map((r) => toClaim(r as RawClaim));
  }

  claimsFor(containerId: string): PortClaim[] {
    return this.db.prepare('SELECT * FROM port_claims WHERE container_id = ? ORDER BY container_port, proto').all(containerId).map((r) => toClaim(r as RawClaim));
  }

  insertClaim(c: PortClaim): void {
    this.db.prepare('INSERT INTO port_claims (proto, host_ip, host_port, container_id, container_port) VALUES (?, ?, ?, ?, ?)').run(c.proto, c.hostIp, c.hostPort, c.containerId, c.containerPort);
  }

  deleteClaimsFor(containerId: string): void {
    this.db.prepare('DELETE FROM port_claims WHERE container_id = ?').run(containerId);
  }
}
