/**
 * Choosing a subnet the way Docker does: the first /24 of hull's pool that overlaps neither a
 * host route (docker0's 172.17/16, podman's 10.88/16, the uplink...) nor another network.
 * Several hull state roots may share a host, so every subnet in use is also reserved host-wide
 * in /run/hull/subnets (an exclusive file per subnet naming its root); a reservation whose
 * root is gone is stale and taken over.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HullError } from '../util/errors.js';
import { formatCidr, overlaps, parseCidr, type Cidr } from './cidr.js';

/** 10.210.0.0/24 … 10.219.255.0/24: clear of docker's 172.17+/192.168 pools and podman's 10.88/10.89. */
const POOL_FIRST = parseCidr('10.210.0.0/16').base;
const POOL_COUNT = 10 * 256;

const RESERVATIONS = process.env.HULL_SUBNET_DIR || '/run/hull/subnets';

function hostRoutes(): Cidr[] {
  const r = spawnSync('ip', ['-4', '-j', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const out: Cidr[] = [];
  for (const route of JSON.parse(r.stdout) as { dst: string }[]) {
    if (route.dst === 'default' || !route.dst) continue;
    try {
      out.push(parseCidr(route.dst.includes('/') ? route.dst : `${route.dst}/32`, 'route'));
    } catch {
      // broadcast/multicast entries and the like
    }
  }
  return out;
}

function fileFor(c: Cidr): string {
  return join(RESERVATIONS, formatCidr(c).replace('/', '_'));
}

function reservationRoot(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').split('\n')[0];
  } catch {
    return undefined;
  }
}

/** Subnets other roots hold (their roots still exist). */
export function foreignReservations(root: string): Cidr[] {
  if (!existsSync(RESERVATIONS)) return [];
  const out: Cidr[] = [];
  for (const f of readdirSync(RESERVATIONS)) {
    const owner = reservationRoot(join(RESERVATIONS, f));
    if (owner === undefined || owner === root || !existsSync(join(owner, 'hull.db'))) continue;
    out.push(parseCidr(f.replace('_', '/'), 'route'));
  }
  return out;
}

/** Reserve `c` for `root`; false if another live root holds it. */
export function reserveSubnet(c: Cidr, root: string): boolean {
  mkdirSync(RESERVATIONS, { recursive: true });
  const file = fileFor(c);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${root}\n`);
      closeSync(fd);
      return true;
    } catch {
      const owner = reservationRoot(file);
      if (owner === root) return true;
      if (owner !== undefined && owner !== '' && existsSync(join(owner, 'hull.db'))) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

export function releaseSubnet(c: Cidr, root: string): void {
  if (reservationRoot(fileFor(c)) === root) rmSync(fileFor(c), { force: true });
}

/** The first free /24 of the pool, reserved for `root`. */
export function pickSubnet(root: string, taken: readonly Cidr[]): Cidr {
  const busy = [...taken, ...hostRoutes(), ...foreignReservations(root)];
  for (let i = 0; i < POOL_COUNT; i++) {
    const c = { base: POOL_FIRST + i * 256, prefix: 24 };
    if (busy.some((b) => overlaps(b, c))) continue;
    if (reserveSubnet(c, root)) return c;
  }
  throw new HullError('CONFLICT', 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}
