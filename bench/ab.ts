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
 * `--pause` ms. Prints the medians and min of both and their difference, then the median of
 * each traced phase (every command runs with HULL_TRACE: where a difference comes from), and
 * how long each build's worker lived on after its client had exited (its after-reply work:
 * nobody waits for it, but a worker that stays is CPU and memory the next command competes
 * with). Never fails.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBenchImage, cliOk, log, msTable } from './lib/containers.js';
import { settle, traceLines, warmHull, type WarmHull } from './lib/cli-server.js';
import { median } from './lib/stats.js';

/** Per traced `run --rm` (HULL_TRACE's rows), phase name → ms it took (a point: when it was). */
function phases(file: string): Map<string, number>[] {
  if (!existsSync(file)) return [];
  const runs: Map<string, number>[] = [];
  for (const block of readFileSync(file, 'utf8').split(/^hull trace /m).slice(1)) {
    if (!block.includes(' run --rm ')) continue;
    const m = new Map<string, number>();
    for (const row of block.split('\n').slice(2)) {
      const f = /^\s*([\d.]+)\s+([\d.]+|·)\s+([\d.]+|·)\s+(.*)$/.exec(row);
      if (!f) continue;
      const name = f[4]!.trim().replace(/\(cpu: .*\)$/, '').trim();
      if (!m.has(name)) m.set(name, f[2] === '·' ? Number(f[1]) : Number(f[2]));
    }
    runs.push(m);
  }
  return runs;
}

/** ms from now until process `pid` is gone (or a zombie not reaped yet); polled every ms, at most 10 s. */
async function msUntilEnded(pid: number): Promise<number> {
  const start = performance.now();
  const ended = (): boolean => {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z';
    } catch {
      return true;
    }
  };
  while (!ended() && performance.now() - start < 10_000) await new Promise((r) => setTimeout(r, 1));
  return performance.now() - start;
}

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
  if (!values.a) throw new Error('--a DIR is required: the checkout to compare with');
  const dirs = { A: values.a, B: values.b ?? '.' };
  const runs = Number(values.runs);
  const pauseMs = Number(values.pause);
  const network = values.network === 'none' ? 'none' : 'default';
  const image = await buildBenchImage();
  const builds: { name: 'A' | 'B'; hull: WarmHull; trace: string }[] = [];
  try {
    for (const name of ['A', 'B'] as const) {
      const dir = resolve(dirs[name]);
      // Workers take the client's environment: each build traces into a file of its own.
      const trace = join(tmpdir(), `hull-ab-${process.pid}-${name}.trace`);
      const hull = await warmHull(image, { name: `${name} ${dir}`, network, env: { HULL_TRACE: trace }, client: join(dir, 'build', 'hull-client') });
      builds.push({ name, hull, trace });
    }
    const samples = new Map<string, number[]>(builds.map((b) => [b.name, []]));
    const lingers = new Map<string, number[]>(builds.map((b) => [b.name, []]));
    log(`A/B, ${runs} rounds after one warm-up each, ${pauseMs} ms pause, network ${network}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (let round = 0; round <= runs; round++) {
      const order = round % 2 === 0 ? builds : [...builds].reverse();
      for (const b of order) {
        // Only the timed runs' traces are read.
        if (round === 1) rmSync(b.trace, { force: true });
        const e = b.hull.engine;
        const start = performance.now();
        await cliOk(e, ['run', '--rm', ...e.runFlags, e.image, 'true']);
        const ms = performance.now() - start;
        // The client has exited: its worker (from the trace line the client just wrote) ends
        // once its after-reply work is done.
        const how = traceLines(b.hull.server).at(-1) ?? '';
        const lived = how.startsWith('worker ') ? await msUntilEnded(Number(how.split(' ')[1])) : undefined;
        if (round > 0 && lived !== undefined) lingers.get(b.name)!.push(lived);
        await settle(e);
        await new Promise((r) => setTimeout(r, pauseMs));
        if (round > 0) samples.get(b.name)!.push(ms);
      }
      if (round > 0) log(`round ${round}/${runs}: ${builds.map((b) => `${b.name} ${samples.get(b.name)!.at(-1)!.toFixed(0)} ms`).join(', ')}`);
    }
    const served = builds.map((b) => `${b.name} ${b.hull.servedSince().worker} of ${runs + 1} on a warm worker`).join(', ');
    process.stdout.write(msTable(`run --rm IMAGE true, ${runs} interleaved rounds`, builds.map((b) => ({ name: b.hull.engine.name, samples: samples.get(b.name)! }))));
    const a = samples.get('A')!;
    const b = samples.get('B')!;
    const d = median(b) - median(a);
    process.stdout.write(`B - A: ${d >= 0 ? '+' : ''}${d.toFixed(1)} ms median (min ${(Math.min(...b) - Math.min(...a)).toFixed(1)}); ${served}\n`);

    // Phase medians, in B's order (rows only one build has show '-' for the other).
    const traced = builds.map((x) => phases(x.trace));
    const names = [...new Set([...traced[1]!, ...traced[0]!].flatMap((r) => [...r.keys()]))];
    const med = (runsOf: Map<string, number>[], n: string): string => {
      const v = runsOf.map((r) => r.get(n)).filter((x): x is number => x !== undefined);
      return v.length > 0 ? median(v).toFixed(1) : '-';
    };
    process.stdout.write(`\ntraced phases, median ms (took; for points, when), A ${traced[0]!.length} runs, B ${traced[1]!.length} runs\n`);
    for (const n of names) process.stdout.write(`${med(traced[0]!, n).padStart(8)} ${med(traced[1]!, n).padStart(8)}  ${n}\n`);
    const lived = (n: 'A' | 'B'): string => {
      const v = lingers.get(n)!;
      return v.length > 0 ? `${median(v).toFixed(1)} ms median (max ${Math.max(...v).toFixed(1)}, ${v.length} runs)` : 'no run on a worker';
    };
    process.stdout.write(`\nworker ended after its client: A ${lived('A')}, B ${lived('B')}\n`);
    process.stdout.write(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  } finally {
    for (const b of builds) {
      await b.hull.stop().catch((e: unknown) => log(`cleanup of ${b.name}: ${(e as Error).message}`));
      rmSync(b.trace, { force: true });
    }
  }
}

main().catch((e: unknown) => {
  log(`A/B bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 0;
});
