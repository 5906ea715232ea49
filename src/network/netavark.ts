/**
 * netavark (Debian's, installed with podman) does the plumbing per container: bridge, veth,
 * addresses, iptables NAT/masquerade/port forwarding, and aardvark-dns, which it starts when
 * the first container with DNS joins and stops when the last one leaves. hull hands it the
 * networks and addresses from its own IPAM (static_ips), so netavark never allocates.
 *
 * aardvark-dns forwards names it does not know to the resolvers in its /etc/resolv.conf.
 * netavark runs here in a private mount namespace where that file is hull's upstream list
 * (the host's resolvers, or HULL_DNS_UPSTREAM_FILE), which aardvark, started by it, inherits.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';

const CANDIDATES = ['/usr/lib/podman/netavark', '/usr/libexec/podman/netavark', '/usr/bin/netavark'];
const LOCK_DIR = '/run/hull';
const AARDVARK = ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns', '/usr/bin/aardvark-dns'];

export interface NetavarkNetwork {
  name: string;
  id: string;
  driver: 'bridge';
  network_interface: string;
  subnets: { subnet: string; gateway?: string }[];
  ipv6_enabled: false;
  internal: boolean;
  dns_enabled: boolean;
  ipam_options: { driver: 'host-local' };
}

export interface NetavarkPort {
  host_ip: string;
  container_port: number;
  host_port: number;
  range: number;
  protocol: 'tcp' | 'udp';
}

export interface NetavarkOptions {
  container_id: string;
  container_name: string;
  port_mappings: NetavarkPort[];
  networks: Record<string, { static_ips: string[]; aliases: string[]; interface_name: string }>;
  network_info: Record<string, NetavarkNetwork>;
}

export interface NetavarkStatus {
  [network: string]: { interfaces: Record<string, { mac_address: string; subnets: { ipnet: string; gateway?: string }[] }>; dns_server_ips?: string[] };
}

function find(list: string[], what: string): string {
  const p = list.find((c) => existsSync(c));
  if (!p) throw new HullError('INTERNAL', `${what} not found: install Debian's netavark and aardvark-dns (scripts/install.sh)`);
  return p;
}

export class Netavark {
  private readonly configDir: string;
  private readonly upstream: string;

  constructor(networkDir: string) {
    this.configDir = join(networkDir, 'netavark');
    this.upstream = join(networkDir, 'upstream-resolv.conf');
  }

  private run(cmd: 'setup' | 'teardown', nsPath: string, opts: NetavarkOptions): string {
    mkdirSync(join(this.configDir, 'aardvark-dns'), { recursive: true });
    const source = process.env.HULL_DNS_UPSTREAM_FILE || '/etc/resolv.conf';
    let text = '';
    try {
      text = readFileSync(source, 'utf8');
    } catch {
      // no resolvers: aardvark answers its own names only
    }
    writeFileSync(this.upstream, text);
    const args = [find(CANDIDATES, 'netavark'), '--config', this.configDir, '--rootless', 'false', '--aardvark-binary', find(AARDVARK, 'aardvark-dns'), cmd, nsPath];
    // netavark 1.4 does not serialise its iptables changes (parallel setups fail with "Chain
    // already exists"), so every hull on the host takes one lock around it; --close keeps the
    // aardvark-dns it starts from inheriting (and holding) the lock.
    mkdirSync(LOCK_DIR, { recursive: true });
    const r = spawnSync('flock', ['--close', join(LOCK_DIR, 'netavark.lock'), 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-ec', 'mount --bind "$0" /etc/resolv.conf; exec "$@"', this.upstream, ...args], {
      input: JSON.stringify(opts),
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) {
      const msg = (r.stdout || '').trim() || (r.stderr || '').trim() || r.error?.message || `exit ${r.status}`;
      let detail = msg;
      try {
        detail = (JSON.parse(msg) as { error: string }).error;
      } catch {
        // not netavark's JSON
      }
      throw new HullError('INTERNAL', `netavark ${cmd}: ${detail}`);
    }
    return r.stdout;
  }

  setup(nsPath: string, opts: NetavarkOptions): NetavarkStatus {
    return JSON.parse(this.run('setup', nsPath, opts)) as NetavarkStatus;
  }

  teardown(nsPath: string, opts: NetavarkOptions): void {
    this.run('teardown', nsPath, opts);
  }
}
