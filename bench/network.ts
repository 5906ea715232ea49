/**
 * Network benchmark, hull vs docker, bounded:
 *  1. start latency: `run -d --network NET -p PORT:80 IMAGE sleep` until the command returns,
 *     then `rm -f` (untimed);
 *  2. TCP throughput container→container over the bridge: busybox `nc` pushes `--mb` MB of
 *     zeros from one container on NET to another by name; the transfer is timed inside the
 *     client container (busybox `time`) and the listener checks every byte arrived.
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

/**
 * One transfer, timed inside the client container so neither tool's `exec` start-up counts.
 * The listener's stdin is a pipe that never closes: busybox nc shuts the connection down when its
 * stdin ends, which (with a /dev/null stdin) used to cut transfers short after a few MB and made the
 * old figures meaningless. The listener counts what arrived (in a subshell: the pipeline itself waits
 * for `sleep`); a short transfer is an error, not a number.
 */
async function transfer(e: Engine, srv: string, cli: string, port: number): Promise<number> {
  const bytes = MB * 1024 * 1024;
  const count = `/tmp/received-${port}`;
  await cliOk(e, ['exec', '-d', srv, 'sh', '-c', `sleep 600 | nc -l -p ${port} | (wc -c > ${count}.part; mv ${count}.part ${count})`]);
  await waitListening(e, srv, port);
  const out = await cliOk(e, ['exec', cli, 'sh', '-c', `time sh -c "dd if=/dev/zero bs=65536 count=${MB * 16} 2>/dev/null | nc -w 10 ${srv} ${port}" 2>&1`], { timeoutMs: 120_000 });
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(out);
  if (!m) throw new Error(`${e.name}: no timing in ${JSON.stringify(out)}`);
  const seconds = Number(m[1]) * 60 + Number(m[2]);
  const received = await pollReceived(e, srv, count);
  if (received !== bytes) throw new Error(`${e.name}: listener received ${received} of ${bytes} bytes`);
  return MB / Math.max(seconds, 0.01);
}

/** Not every busybox build has ss/netstat: /proc/net/tcp{,6} list the socket in LISTEN (0A) state
 *  (busybox nc listens on the IPv6 wildcard where the kernel has IPv6). */
async function waitListening(e: Engine, name: string, port: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (let i = 0; i < 100; i++) {
    const tcp = await cliOk(e, ['exec', name, 'sh', '-c', 'cat /proc/net/tcp /proc/net/tcp6 2>/dev/null']);
    if (tcp.split('\n').some((l) => /^\s*\d+: [0-9A-F]+:(\w+) [0-9A-F]+:0000 0A/.exec(l)?.[1] === hex)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${e.name}: nc never listened on ${port}`);
}

async function pollReceived(e: Engine, name: string, file: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const out = await cliOk(e, ['exec', name, 'sh', '-c', `cat ${file} 2>/dev/null || true`]);
    if (out.trim()) return Number(out.trim());
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${e.name}: listener never reported what it received`);
}

async function throughput(e: Engine): Promise<number[]> {
  const srv = `bsrv${process.pid}`;
  const cli = `bcli${process.pid}`;
  await cliOk(e, ['run', '-d', '--name', srv, '--network', NET, e.image, 'sleep', '600']);
  await cliOk(e, ['run', '-d', '--name', cli, '--network', NET, e.image, 'sleep', '600']);
  const mbps: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) mbps.push(await transfer(e, srv, cli, 5000 + i));
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
