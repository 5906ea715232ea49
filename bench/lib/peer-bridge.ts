/**
 * A private Linux bridge for the docker peer's default `bridge` network (`dockerd --bridge=NAME`),
 * so `docker run` pays for its default network as `hull run` does, without touching docker0 or
 * any other engine's bridge. The subnet is the first /24 of 10.230.0.0/16 (outside hull's pool,
 * 10.210-10.219) that overlaps no host route; dockerd takes the bridge's address as its gateway.
 * No iptables rules and no forwarding: dockerd runs with --iptables=false --ip-forward=false.
 */
import { spawnSync } from 'node:child_process';
import { formatCidr, formatIp, overlaps, parseCidr, type Cidr } from '../../src/network/cidr.js';
import { runOk } from './peers.js';

function hostRoutes(): Cidr[] {
  const r = spawnSync('ip', ['-4', '-j', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  const out: Cidr[] = [];
  for (const route of JSON.parse(r.stdout || '[]') as { dst: string }[]) {
    if (!route.dst || route.dst === 'default') continue;
    try {
      out.push(parseCidr(route.dst.includes('/') ? route.dst : `${route.dst}/32`, 'route'));
    } catch {
      // broadcast and multicast entries
    }
  }
  return out;
}

export class PeerBridge {
  private removed = false;
  private readonly onExit = (): void => void spawnSync('ip', ['link', 'del', this.name], { stdio: 'ignore' });

  private constructor(
    readonly name: string,
    readonly subnet: string,
  ) {
    process.once('exit', this.onExit);
  }

  static async create(): Promise<PeerBridge> {
    const name = `hdb${process.pid % 1_000_000}`;
    const busy = hostRoutes();
    const base = parseCidr('10.230.0.0/16').base;
    for (let i = 0; i < 256; i++) {
      const c: Cidr = { base: base + i * 256, prefix: 24 };
      if (busy.some((b) => overlaps(b, c))) continue;
      const gateway = `${formatIp(c.base + 1)}/24`;
      await runOk('ip', ['link', 'add', name, 'type', 'bridge']);
      const bridge = new PeerBridge(name, formatCidr(c));
      try {
        await runOk('ip', ['addr', 'add', gateway, 'dev', name]);
        await runOk('ip', ['link', 'set', name, 'up']);
      } catch (e) {
        await bridge.remove();
        throw e;
      }
      return bridge;
    }
    throw new Error('no free /24 in 10.230.0.0/16 for the docker peer\'s bridge');
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    process.removeListener('exit', this.onExit);
    spawnSync('ip', ['link', 'del', this.name], { stdio: 'ignore' });
    await Promise.resolve();
  }
}
