/**
 * Build benchmark: a 10-step Dockerfile (FROM, ENV, WORKDIR, three COPYs, three RUNs, CMD) on
 * the offline busybox image, hull vs docker build (private dockerd 20.10, classic builder:
 * its BuildKit cannot resolve FROM offline), in one run:
 *
 *   cold     a build with no cache (`--no-cache` for both)
 *   rebuild  the same build again, unchanged: every step from the cache
 *
 * Both build with `--network none`: the docker peer runs with `--bridge=none` (no iptables on a
 * shared host), so its RUN steps get no network whatever the flag says; hull's default would
 * be its default bridge (a netns and `netavark setup` per RUN). So that the tools do the same
 * work, both are given none; hull's cold build on its default bridge is timed too, as an
 * extra row (`hull (bridge)`) that shows what RUN's network set-up costs.
 *
 *   node dist/bench/build.js [--runs 5] [--no-docker]
 *
 * hull runs as a user runs it: the native client (`build/hull-client`) with a warm worker of
 * its own CLI server (bench/lib/cli-server.ts); the output says how many timed commands a warm
 * worker served. Tools take turns, each measured from the CLI's spawn to its exit; between runs
 * (untimed) the bench waits for hull's worker pool to refill. Budgets: hull cold ≤ 1× docker's,
 * rebuild ≤ 0.5×. hull's own phases (HULL_BUILD_TRACE, src/build/spans.ts) are summed per
 * rebuild and printed as medians, so a regression shows where it is.
 * A benchmark reports; it never fails (exit status 0).
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { settle, warmHull } from './lib/cli-server.js';
import { buildBenchImage, cliOk, dockerEngine, log } from './lib/containers.js';
import type { Engine } from './lib/containers.js';
import { median, cleanupStack } from './lib/stats.js';

const BUDGET_COLD = 1;
const BUDGET_REBUILD = 0.5;
/** Like for like with the docker peer, which has no bridge (see above). */
const NET = ['--network', 'none'];

const DOCKERFILE = (image: string): string =>
  [
    `FROM ${image}`,
    'ENV APP=/srv/app MODE=bench',
    'WORKDIR /srv/app',
    'COPY conf/ ./conf/',
    'COPY data.bin ./',
    'RUN mkdir -p out && for i in $(seq 1 200); do echo line $i >> out/log.txt; done',
    'COPY run.sh ./',
    'RUN chmod +x run.sh && sha256sum data.bin > out/sum',
    'RUN tar -czf /srv/out.tgz out',
    'CMD ["./run.sh"]',
    '',
  ].join('\n');

async function makeContext(image: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-bench-build-'));
  await mkdir(join(dir, 'conf'));
  for (let i = 0; i < 20; i++) await writeFile(join(dir, 'conf', `c${i}.conf`), `key${i}=value${i}\n`);
  // 4 MiB of varied bytes: enough for the layer packing and hashing to count.
  const data = Buffer.alloc(4 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  await writeFile(join(dir, 'data.bin'), data);
  await writeFile(join(dir, 'run.sh'), '#!/bin/sh\necho running\n');
  await writeFile(join(dir, 'Dockerfile'), DOCKERFILE(image));
  return dir;
}

async function timed(engine: Engine, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await cliOk(engine, args, { timeoutMs: 600_000 });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The spans of the last build in the trace file, with `total` (the engine's whole build) first. */
function lastSpans(trace: string): Record<string, number> {
  const last = readFileSync(trace, 'utf8').trim().split('\n').at(-1)!;
  const { total, spans } = JSON.parse(last) as { total: number; spans: Record<string, number> };
  return { total, ...spans };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'no-docker': { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  const { cleanups, cleanup } = cleanupStack(log);
  try {
    const image = await buildBenchImage();
    cleanups.push(() => image.remove());
    const traceDir = await mkdtemp(join(tmpdir(), 'hull-bench-build-trace-'));
    cleanups.push(() => rm(traceDir, { recursive: true, force: true }));
    const trace = join(traceDir, 'spans');
    const hull = await warmHull(image, { env: { HULL_BUILD_TRACE: trace } });
    cleanups.push(() => hull.stop());
    const engines: Engine[] = [hull.engine];
    if (!values['no-docker']) {
      try {
        const d = await dockerEngine(image);
        engines.push(d.engine);
        cleanups.push(() => d.engine.stop());
      } catch (e) {
        log(`docker: not available (${(e as Error).message}); hull only`);
      }
    }
    const ctx = await makeContext(engines[0]!.image);
    cleanups.push(() => rm(ctx, { recursive: true, force: true }));
    process.env.DOCKER_BUILDKIT = '0';
    log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${availableParallelism()} cores${(loadavg()[0] ?? 0) > availableParallelism() / 2 ? ': other processes compete for the CPU, wall times are noisy' : ''}`);
    const cold: Record<string, number[]> = {};
    const rebuild: Record<string, number[]> = {};
    for (const e of engines) {
      // Untimed warm-up: page cache, the base image's first use.
      await cliOk(e, ['build', '-q', ...NET, '-t', 'bench/build:latest', ctx], { timeoutMs: 600_000 });
      await settle(e);
      cold[e.name] = [];
      rebuild[e.name] = [];
    }
    hull.servedSince();
    const rebuildSpans: Record<string, number>[] = [];
    const coldBridge: number[] = [];
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        cold[e.name]!.push(await timed(e, ['build', '-q', ...NET, '--no-cache', '-t', 'bench/build:latest', ctx]));
        await settle(e);
        rebuild[e.name]!.push(await timed(e, ['build', '-q', ...NET, '-t', 'bench/build:latest', ctx]));
        if (e === hull.engine) {
          rebuildSpans.push(lastSpans(trace));
          await settle(e);
          coldBridge.push(await timed(e, ['build', '-q', '--no-cache', '-t', 'bench/build:bridge', ctx]));
        }
        await settle(e);
      }
      log(`run ${r + 1}/${runs}: ${engines.map((e) => `${e.name} cold ${cold[e.name]!.at(-1)!.toFixed(0)} ms, rebuild ${rebuild[e.name]!.at(-1)!.toFixed(0)} ms`).join('; ')}; hull cold on its bridge ${coldBridge.at(-1)!.toFixed(0)} ms`);
    }
    const lines = ['', '| tool | cold build (median ms) | unchanged rebuild (median ms) |', '|---|---|---|'];
    for (const e of engines) lines.push(`| ${e.name} | ${median(cold[e.name]!).toFixed(0)} | ${median(rebuild[e.name]!).toFixed(0)} |`);
    lines.push(`| hull (bridge) | ${median(coldBridge).toFixed(0)} | (not timed: the same cache hits) |`);
    if (cold.docker) {
      const rc = median(cold.hull!) / median(cold.docker);
      const rr = median(rebuild.hull!) / median(rebuild.docker!);
      lines.push('', `cold: hull/docker = ${rc.toFixed(2)} (budget ≤ ${BUDGET_COLD}) ${rc <= BUDGET_COLD ? 'PASS' : 'FAIL'}`);
      lines.push(`rebuild: hull/docker = ${rr.toFixed(2)} (budget ≤ ${BUDGET_REBUILD}) ${rr <= BUDGET_REBUILD ? 'PASS' : 'FAIL'}`);
    }
    const served = hull.servedSince();
    lines.push('', `hull commands served by a warm worker: ${served.worker}/${served.total}`);
    lines.push('', `load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    lines.push('', 'hull unchanged rebuild, inside the engine (median ms over the runs; HULL_BUILD_TRACE):');
    for (const name of Object.keys(rebuildSpans[0] ?? {})) lines.push(`  ${name.padEnd(14)} ${median(rebuildSpans.map((s) => s[name] ?? 0)).toFixed(1)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await cleanup();
  }
}

await main();
