/**
 * Two hull builds, A/B: `hull run --rm IMAGE true` through each build's own native client and
 * warm CLI server (bench/lib/cli-server.ts), each on a fresh root of its own, in one interleaved
 * loop (the order alternates every round), so that the machine's drift — other processes,
 * the load average — spreads over both. For deciding whether a change to the start path wins:
 * on a shared machine two separate bench runs minutes apart differ by more than most cuts.
 *
 *   node dist/bench/ab.js --a /path/to/other/checkout [--b .] [--runs 20] [--pause 300] [--network default|none]
 *
 * A checkout is a built hull tree (`npm run build`: its build/hull-client and dist/). Timed:
 * spawn of the client to its exit and EOF, as bench/run.ts; after each run (untimed) until
 * the build's monitors and `_exited` are gone and its worker pool is full again, then
 * `--pause` ms. Prints the medians and min of both and their difference. Never fails.
 */
import { resolve } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { buildBenchImage, cliOk, log, msTable } from './lib/containers.js';
import { settle, warmHull, type WarmHull } from './lib/cli-server.js';
import { median } from './lib/stats.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      a: { type: 'string' },
      b: { type: 'string', default: '.' },
      runs: { type: 'string', default: '20' },
      pause: { type: 'string', default: '300' },
      network: { type: 'string', default: 'default' },
    },
  });
  const dirs = { A: values.a, B: values.b ?? '.' };
  if (!dirs.A) throw new Error('--a DIR is required: the checkout to compare with');
  const runs = Number(values.runs);
  const pauseMs = Number(values.pause);
  const network = values.network === 'none' ? 'none' : 'default';
  const image = await buildBenchImage();
  const builds: { name: string; hull: WarmHull }[] = [];
  try {
    for (const [name, dir] of [['A', dirs.A], ['B', dirs.B]] as const) {
      const hull = await warmHull(image, { name: `${name} ${resolve(dir)}`, network, client: resolve(dir, 'build', 'hull-client') });
      builds.push({ name, hull });
    }
    const samples = new Map<string, number[]>(builds.map((b) => [b.name, []]));
    log(`A/B, ${runs} rounds after one warm-up each, ${pauseMs} ms pause, network ${network}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (let round = 0; round <= runs; round++) {
      const order = round % 2 === 0 ? builds : [...builds].reverse();
      for (const b of order) {
        const e = b.hull.engine;
        const start = performance.now();
        await cliOk(e, ['run', '--rm', ...e.runFlags, e.image, 'true']);
        const ms = performance.now() - start;
        await settle(e);
        await new Promise((r) => setTimeout(r, pauseMs));
        if (round > 0) samples.get(b.name)!.push(ms);
      }
      if (round > 0) log(`round ${round}/${runs}: ${builds.map((b) => `${b.name} ${samples.get(b.name)!.at(-1)!.toFixed(0)} ms`).join(', ')}`);
    }
    const served = builds.map((b) => `${b.name} ${b.hull.servedSince().worker} of ${runs + 1} on a warm worker`).join(', ');
    process.stdout.write(msTable(`run --rm IMAGE true, ${runs} interleaved rounds`, builds.map((b) => ({ name: b.hull.engine.name, samples: samples.get(b.name)! }))));
    const d = median(samples.get('B')!) - median(samples.get('A')!);
    process.stdout.write(`B - A: ${d >= 0 ? '+' : ''}${d.toFixed(1)} ms median (min ${(Math.min(...samples.get('B')!) - Math.min(...samples.get('A')!)).toFixed(1)}); ${served}\n`);
    process.stdout.write(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  } finally {
    for (const b of builds) await b.hull.stop().catch((e: unknown) => log(`cleanup of ${b.name}: ${(e as Error).message}`));
  }
}

main().catch((e: unknown) => {
  log(`A/B bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 0;
});
