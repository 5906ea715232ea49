/** Docker API shapes for networks: GET /networks/{id}, container NetworkSettings and Ports. */
import { parseCidr } from '../network/cidr.js';
import { netnsPath } from '../network/netns.js';
import type { NetworkRow } from '../state/networks.js';
import { networkModeName, type NetContainer, type NetworkService } from './networks.js';

export function networkInspect(ns: NetworkService, n: NetworkRow): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  if (n.driver === 'bridge') {
    for (const e of ns.endpoints(n)) {
      containers[e.containerId] = {
        Name: ns.containerName(e.containerId),
        EndpointID: e.endpointId,
        MacAddress: e.mac,
        IPv4Address: `${e.ip}/${parseCidr(n.subnet!).prefix}`,
        IPv6Address: '',
      };
    }
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: n.subnet ? [{ Subnet: n.subnet, ...(n.ipRange ? { IPRange: n.ipRange } : {}), Gateway: n.gateway }] : [],
    },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.driver === 'bridge' ? { 'com.docker.network.bridge.name': n.bridge, ...n.options } : n.options,
    Labels: n.labels,
  };
}

type PortMap = Record<string, { HostIp: string; HostPort: string }[] | null>;

function running(c: NetContainer): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused';
}

/** NetworkSettings.Ports: exposed ports, with the host ports actually bound while running. */
export function portMap(ns: NetworkService, c: NetContainer): PortMap {
  const out: PortMap = {};
  for (const key of Object.keys(c.doc.Config.ExposedPorts ?? {})) out[key] = null;
  if (!running(c)) return out;
  for (const p of ns.claimsFor(c.id)) {
    const key = `${p.containerPort}/${p.proto}`;
    out[key] = [...(out[key] ?? []), { HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) }];
  }
  return out;
}

export function networkSettings(ns: NetworkService, c: NetContainer): Record<string, unknown> {
  const live = running(c);
  const networks: Record<string, unknown> = {};
  let primary: Record<string, unknown> | undefined;
  for (const e of ns.endpointsFor(c.id)) {
    const n = ns.networkById(e.networkId);
    if (!n) continue;
    const entry = {
      IPAMConfig: e.staticIp ? { IPv4Address: e.ip } : null,
      Links: null,
      Aliases: n.name === 'bridge' ? null : [...e.aliases, c.id.slice(0, 12)],
      MacAddress: live ? e.mac : '',
      NetworkID: n.id,
      EndpointID: live ? e.endpointId : '',
      Gateway: live ? n.gateway : '',
      IPAddress: live ? e.ip : '',
      IPPrefixLen: live ? parseCidr(n.subnet!).prefix : 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DriverOpts: null,
      DNSNames: n.name === 'bridge' ? null : [c.name, c.id.slice(0, 12), ...e.aliases],
    };
    networks[n.name] = entry;
    if (n.name === 'bridge') primary = entry;
  }
  const mode = networkModeName(c.doc.HostConfig.NetworkMode);
  if (mode === 'host' || mode === 'none') {
    networks[mode] = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', NetworkID: ns.find(mode)?.id ?? '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DriverOpts: null, DNSNames: null };
  }
  const p = primary as { EndpointID?: string; Gateway?: string; IPAddress?: string; IPPrefixLen?: number; MacAddress?: string } | undefined;
  return {
    Bridge: '',
    SandboxID: live && mode !== 'host' && !mode.startsWith('container:') ? c.id : '',
    SandboxKey: live && !['host', 'none'].includes(mode) && !mode.startsWith('container:') ? netnsPath(c.id) : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: portMap(ns, c),
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: p?.EndpointID ?? '',
    Gateway: p?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: p?.IPAddress ?? '',
    IPPrefixLen: p?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: p?.MacAddress ?? '',
    Networks: networks,
  };
}

/** /containers/json Ports: one entry per exposed port, with IP/PublicPort when bound. */
export function portSummary(ns: NetworkService, c: NetContainer): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  for (const [key, list] of Object.entries(portMap(ns, c))) {
    const [port, proto = 'tcp'] = key.split('/');
    if (!list || list.length === 0) out.push({ PrivatePort: Number(port), Type: proto });
    else for (const b of list) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
  }
  return out;
}

/** `docker ps` PORTS column: "0.0.0.0:8080->80/tcp, 443/tcp". */
export function portsText(ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[]): string {
  return ports
    .slice()
    .sort((a, b) => a.PrivatePort - b.PrivatePort || a.Type.localeCompare(b.Type))
    .map((p) => (p.PublicPort !== undefined ? `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`))
    .join(', ');
}

/** Names of the networks a container is on (ps's Networks). */
export function networkNames(ns: NetworkService, c: NetContainer): string {
  const names = ns
    .endpointsFor(c.id)
    .map((e) => ns.networkById(e.networkId)?.name)
    .filter((x): x is string => x !== undefined);
  return names.length > 0 ? names.join(',') : networkModeName(c.doc.HostConfig.NetworkMode);
}
