/**
 * /etc/hosts, /etc/hostname and /etc/resolv.conf as Docker generates them, written in the
 * container's directory and bind-mounted over the image's.
 */
import { readFileSync } from 'node:fs';
import { replaceFileSync } from '../util/fs.js';

const HOSTS_HEADER = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
`;

/** Docker's fallback when the host has only loopback resolvers (which a container cannot reach). */
const DEFAULT_DNS = ['8.8.8.8', '8.8.4.4'];

export interface EtcInput {
  hostname: string;
  /** `--add-host name:ip` entries, already validated. */
  extraHosts: { name: string; ip: string }[];
  /** The container's own addresses (bridge networks); none with `--network none`. */
  addresses: string[];
  /** `--dns`; otherwise the host's resolvers. */
  dns: string[];
  /** With `--network host` the host's files are used as they are. */
  hostNetwork: boolean;
}

export function hostsFile(input: EtcInput): string {
  let s = HOSTS_HEADER;
  for (const h of input.extraHosts) s += `${h.ip}\t${h.name}\n`;
  for (const a of input.addresses) s += `${a}\t${input.hostname}\n`;
  return s;
}

/** The host's resolv.conf without loopback nameservers, as Docker filters it. */
export function resolvConf(host: string, dns: string[]): string {
  const lines = host.split('\n');
  const kept = lines.filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1]!.startsWith('127.') || m[1] === '::1');
  });
  let servers = dns.length > 0 ? dns : kept.filter((l) => /^\s*nameserver\s/.test(l)).map((l) => l.trim().split(/\s+/)[1]!);
  if (servers.length === 0) servers = DEFAULT_DNS;
  const rest = kept.filter((l) => !/^\s*nameserver\s/.test(l) && l.trim() !== '');
  return [...rest, ...servers.map((s) => `nameserver ${s}`)].join('\n') + '\n';
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Synchronous, as replaceFileSync says why: three small files on a container's start path. */
export function writeEtcFiles(paths: { hosts: string; hostname: string; resolvConf: string }, input: EtcInput): Promise<void> {
  const hostResolv = readOr('/etc/resolv.conf', '');
  const hosts = input.hostNetwork ? readOr('/etc/hosts', HOSTS_HEADER) : hostsFile(input);
  replaceFileSync(paths.hosts, hosts);
  replaceFileSync(paths.hostname, `${input.hostname}\n`);
  replaceFileSync(paths.resolvConf, input.hostNetwork ? hostResolv : resolvConf(hostResolv, input.dns));
  return Promise.resolve();
}
