/**
 * `-p [ip:][hostPort:]containerPort[/tcp|udp]` with ranges, as the docker CLI parses it
 * (go-connections nat.ParsePortSpec), into Docker's ExposedPorts and PortBindings.
 */
import { HullError } from '../util/errors.js';
import { parseIp } from './cidr.js';

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export type PortMap = Record<string, PortBinding[] | null>;

function bad(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

function parseRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  const start = m ? Number(m[1]) : NaN;
  const end = m?.[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || end > 65535 || end < start) throw bad(`invalid ${what}: ${s}`);
  return [start, end];
}

/** One -p value → bindings keyed by "port/proto". */
export function parsePortSpec(spec: string): PortMap {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash !== -1) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw bad(`invalid proto: ${proto}`);
  }
  let ip = '';
  let hostPart = '';
  let containerPart: string;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    ip = v6[1]!;
    rest = v6[2]!;
    const i = rest.indexOf(':');
    hostPart = i === -1 ? '' : rest.slice(0, i);
    containerPart = i === -1 ? rest : rest.slice(i + 1);
  } else {
    const parts = rest.split(':');
    if (parts.length === 1) containerPart = parts[0]!;
    else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
    else if (parts.length === 3) [ip, hostPart, containerPart] = parts as [string, string, string];
    else throw bad(`invalid port format for --publish: ${spec}`);
  }
  if (ip !== '' && !v6 && parseIp(ip) === undefined) throw bad(`invalid IP address: ${ip}`);
  if (containerPart === '') throw bad(`no port specified: ${spec}<empty>`);
  const [cStart, cEnd] = parseRange(containerPart, 'containerPort');
  const [hStart, hEnd] = hostPart === '' ? [0, 0] : parseRange(hostPart, 'hostPort');
  const cCount = cEnd - cStart + 1;
  const hCount = hostPart === '' ? 0 : hEnd - hStart + 1;
  if (hostPart !== '' && hCount !== cCount && cCount !== 1) {
    throw bad(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
  }
  const out: PortMap = {};
  for (let i = 0; i < cCount; i++) {
    const key = `${cStart + i}/${proto}`;
    // A host range for one container port: Docker picks a free port of the range at start.
    const hostPort = hostPart === '' ? '' : cCount === 1 && hCount > 1 ? `${hStart}-${hEnd}` : String(hStart + i);
    (out[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
  }
  return out;
}

export function parsePublish(specs: readonly string[]): { exposed: Record<string, object>; bindings: PortMap } {
  const bindings: PortMap = {};
  for (const s of specs) {
    for (const [k, v] of Object.entries(parsePortSpec(s))) bindings[k] = [...(bindings[k] ?? []), ...(v ?? [])];
  }
  return { exposed: Object.fromEntries(Object.keys(bindings).map((k) => [k, {}])), bindings };
}

/** `--expose 80`, `--expose 7000-7002/udp`. */
export function parseExpose(specs: readonly string[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const s of specs) {
    const [range, proto = 'tcp'] = s.split('/');
    const [a, b] = parseRange(range!, 'range format for --expose');
    for (let p = a; p <= b; p++) out[`${p}/${proto}`] = {};
  }
  return out;
}
