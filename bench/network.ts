/**
 * Network benchmark, hull vs docker, bounded:
 *  1. start latency: `run -d --network NET -p PORT:80 IMAGE sleep` until the command returns,
 *     then `rm -f` (untimed);
 *  2. TCP throughput container→container over the bridge: busybox `nc` pushes `--mb` MB of
 *     zeros from one container on NET to another by name; the time of that `exec` is measured.
 *
 *   node dist/bench/network.js [--runs 5] [--mb 256] [--no-docker]
 *
 * The docker peer is the private dockerd of bench/lib/peers.ts (no iptables, no default
 * bridge): its user network is a plain Linux bridge and its published port goes through
 * docker-proxy, which is how such a dockerd publishes. It never fails: exit status 0.
 */
import { parseArgs } from 'node:util';
import { buildBenchImage, cliOk, dockerEngine, hullEngine, log, msTable } from './lib/containers.js';
import type { Engine, MsSeries } from './lib/containers.js';
import { median, timeIt } from './lib/stats.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, mb: { type: 'string', default: '256' }, 'no-docker': { type: 'boolean', default: false } } });
const RUNS = Math.max(1, Math.min(50, Number(args.runs)));
const MB = Math.max(1, Math.min(2048, Number(args.mb)));
const NET = `bnet${process.pid}`;
const PORT = 30000 + (process.pid % 10000);
/** docker's network gets a subnet outside hull's pool (10.210–10.219) and docker's defaults. */
const DOCKER_SUBNET = `10.220.${process.pid % 250}.0/24`;

async function startLatency(e: Engine): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const name = `bs${process.pid}-${i}`;
    const t = await timeIt(() => cliOk(e, ['run', '-d', '--name', name, '--network', NET, '-p', `${PORT}:80`, e.image, 'sleep', '60']));
    out.push(t.ms);
    await cliOk(e, ['rm', '-f', name]);
  }
  return out;
}

async function throughput(e: Engine): Promise<number[]> {
  const srv = `bsrv${process.pid}`;
  const cli = `bcli${process.pid}`;
  await cliOk(e, ['run', '-d', '--name', srv, '--network', NET, e.image, 'sh', '-c', 'while true; do nc -l -p 5000 > /dev/null; done']);
  await cliOk(e, ['run', '-d', '--name', cli, '--network', NET, e.image, 'sleep', '600']);
  const mbps: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const t = await timeIt(() => cliOk(e, ['exec', cli, 'sh', '-c', `dd if=/dev/zero bs=65536 count=${MB * 16} 2>/dev/null | nc -w 10 ${srv} 5000`], { timeoutMs: 120_000 }));
      mbps.push(MB / (t.ms / 1000));
    }
  } finally {
    await cliOk(e, ['rm', '-f', srv, cli]);
  }
  return mbps;
}

async function measure(e: Engine, subnet?: string): Promise<{ start: number[]; mbps: number[] }> {
  await cliOk(e, ['network', 'create', ...(subnet ? ['--subnet', subnet] : []), NET]);
  try {
    return { start: await startLatency(e), mbps: await throughput(e) };
  } finally {
    await cliOk(e, ['network', 'rm', NET]).catch((err: unknown) => log(`${e.name}: ${(err as Error).message}`));
  }
}

async function main(): Promise<void> {
  const image = await buildBenchImage();
  const results: { name: string; start: number[]; mbps: number[] }[] = [];
  try {
    const hull = await hullEngine(image);
    try {
      results.push({ name: 'hull', ...(await measure(hull)) });
    } finally {
      await hull.stop();
    }
    if (!args['no-docker']) {
      try {
        const { engine } = await dockerEngine(image);
        try {
          results.push({ name: 'docker', ...(await measure(engine, DOCKER_SUBNET)) });
        } finally {
          await engine.stop();
        }
      } catch (e) {
        log(`docker: not measured: ${(e as Error).message}`);
      }
    }
  } finally {
    await image.remove();
  }
  const series: MsSeries[] = results.map((r) => ({ name: r.name, samples: r.start }));
  log(msTable(`run -d on a user network with one published port (${RUNS} runs)`, series, results.length > 1 ? 'docker' : undefined));
  for (const r of results) log(`${r.name}: container→container TCP ${median(r.mbps).toFixed(0)} MB/s median of ${r.mbps.length} × ${MB} MB (min ${Math.min(...r.mbps).toFixed(0)}, max ${Math.max(...r.mbps).toFixed(0)})`);
}

main().catch((e: unknown) => {
  log(`bench failed: ${(e as Error).stack ?? String(e)}`);
});
