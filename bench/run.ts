/**
 * Container start-up benchmark: wall time of running `true` in a fresh container and removing
 * it, one CLI command per tool, from the command's spawn to its exit:
 *
 *   hull run --rm IMAGE true                      (the native client `hull`, fresh root), twice:
 *                                                   cold: HULL_NO_SERVER=1, the client execs node
 *                                                   warm: served by a warm worker (src/cli/server/)
 *   docker run --rm IMAGE true                    (private dockerd 20.10 + containerd 1.6)
 *   podman run --rm --network none IMAGE true     (private store, cgroupfs, runc)
 *   runc run --bundle B ID                        (bare runc on an unpacked rootfs: the floor)
 *
 * hull and docker run on their DEFAULT network, as a user's `run` does: hull's `bridge`
 * (a veth on its bridge), docker's `bridge` (a private Linux bridge for the peer, see
 * lib/peer-bridge.ts; no iptables). podman stays on `--network none`: its default network
 * would share podman0 and 10.88/16 with any other podman on the host. `--network none` puts
 * hull and docker there too.
 *
 *   node dist/bench/run.js [--runs 20] [--pause 300] [--network default|none] [--no-docker] [--no-podman] [--no-breakdown]
 *
 * Each tool runs once untimed, then `--runs` times with the tools taking turns in an order that
 * rotates every round, so drift in the machine's state is spread over all of them. Between
 * runs (untimed) the bench waits until the tool's background work is over — hull's monitor and
 * its `_exited` exit command, podman's conmon and `container cleanup`, docker's shim — so that
 * one tool's tail never lands in the next tool's timed run. After the
 * comparison, hull's time is broken down by timing its pieces as separate commands: node's own
 * start-up, the CLI's start-up (`hull --version`: node plus loading hull's modules), opening
 * the state (`hull ps -a`), then `hull create`, `hull start` and `hull rm` of one container.
 * Then 20 warm runs back to back (no waiting for the pool to refill: some may run cold), the
 * CLI server's fixed memory cost (supervisor plus idle workers, PSS), and one warm run traced
 * (HULL_TRACE, src/util/trace.ts): where the time of one `run --rm` goes, phase by phase.
 *
 * A benchmark reports; it never fails: the exit status is 0 whatever the budget lines say.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { HULL_BIN, HULL_CLIENT, hullCommand } from '../test/helpers/hull.js';
import { PeerStartError, prepareRuncBundle, run, runOk } from './lib/peers.js';
import type { RuncBundle } from './lib/peers.js';
import { median, cleanupStack, sumRollups } from './lib/stats.js';
import { serverPids, settle, traceLines, warmHull, type CliServer } from './lib/cli-server.js';
import { buildBenchImage, cliOk, containerIds, dockerEngine, hullEngine, log, msTable, podmanEngine } from './lib/containers.js';
import { hullConfig } from './lib/hull-spec.js';
import type { BenchImage, Engine, MsSeries, NetworkChoice } from './lib/containers.js';

/** Back-to-back warm runs, not waiting for the pool. */
const LOOP_RUNS = 20;

/** Budgets: hull at most this fraction of docker's time, and at most this many ms above bare runc. */
const BUDGET_VS_DOCKER = 0.3;
const BUDGET_OVER_RUNC_MS = 60;
/** One run of `true` takes well under a second everywhere; a run this long is a hang. */
const RUN_TIMEOUT_MS = 60_000;

interface Tool {
  name: string;
  /** One timed run; throws on failure. */
  once(): Promise<void>;
  /** Untimed work after each run (runc: delete the container; engines: wait for their background work). */
  after?(): Promise<void>;
}

function engineTool(engine: Engine): Tool {
  const args = ['run', '--rm', ...engine.runFlags, engine.image, 'true'];
  return {
    name: engine.name,
    once: async () => {
      await cliOk(engine, args, { timeoutMs: RUN_TIMEOUT_MS });
    },
    after: () => settle(engine),
  };
}

function runcTool(bundle: RuncBundle, name = 'runc'): Tool {
  let n = 0;
  let id = '';
  return {
    name,
    once: async () => {
      id = `hull-bench-${process.pid}-${n++}`;
      const r = await bundle.run(id, { timeoutMs: RUN_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(`runc run exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
    },
    // `runc run` deletes the container when it exits; this only makes sure.
    after: () => bundle.delete(id),
  };
}

/**
 * Untimed pause after each run's own background work, for every tool alike: what no process
 * list shows still runs then — the kernel tearing down the run's network namespace and veth in
 * its workqueues, dockerd's and containerd's clean-up and GC — and lands in the next tool's
 * timed run (measured: hull warm 108 ms median with only runc between its runs, 166 ms with
 * docker and podman between them, at load 1.5-3).
 */
const DEFAULT_PAUSE_MS = 300;

async function measure(tools: Tool[], runs: number, label: string, pauseMs: number): Promise<{ samples: Map<string, number[]>; failures: Map<string, string> }> {
  const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const failures = new Map<string, string>();
  const one = async (tool: Tool, round: string): Promise<void> => {
    if (failures.has(tool.name)) return;
    try {
      const start = performance.now();
      await tool.once();
      const ms = performance.now() - start;
      await tool.after?.();
      await new Promise((r) => setTimeout(r, pauseMs));
      if (round !== 'warm-up') samples.get(tool.name)!.push(ms);
    } catch (e) {
      failures.set(tool.name, (e as Error).message);
      log(`${label} ${round}: ${tool.name} failed: ${(e as Error).message}`);
    }
  };
  for (const tool of tools) await one(tool, 'warm-up');
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < tools.length; k++) await one(tools[(i + k) % tools.length]!, `run ${i + 1}/${runs}`);
    log(`${label}: round ${i + 1}/${runs} ${tools.map((t) => `${t.name} ${(samples.get(t.name)!.at(-1) ?? Number.NaN).toFixed(0)}ms`).join(', ')}`);
  }
  return { samples, failures };
}

/**
 * Where hull's time goes, each piece as its own command (so each pays node's start-up once
 * more; the `hull --version` row is that fixed cost).
 */
async function breakdown(hull: Engine, runs: number): Promise<string> {
  const cmd = (name: string, args: string[]): Tool => ({
    name,
    once: async () => void (await cliOk(hull, args, { timeoutMs: RUN_TIMEOUT_MS })),
    after: () => settle(hull),
  });
  let id = '';
  const tools: Tool[] = [
    { name: 'node -e 0', once: async () => void (await runOk(process.execPath, ['-e', '0'])) },
    cmd('hull --version', ['--version']),
    cmd('hull ps -a', ['ps', '-a']),
    {
      name: 'hull create',
      once: async () => {
        id = (await cliOk(hull, ['create', ...hull.runFlags, hull.image, 'true'], { timeoutMs: RUN_TIMEOUT_MS })).trim();
      },
    },
    {
      name: 'hull start',
      once: async () => void (await cliOk(hull, ['start', id], { timeoutMs: RUN_TIMEOUT_MS })),
      // The container exits at once; its monitor's exit command records that. Untimed.
      after: async () => {
        await cliOk(hull, ['wait', id], { timeoutMs: RUN_TIMEOUT_MS });
        await settle(hull);
      },
    },
    // A closure, not cmd(): the id is only known once `hull create` of this round ran.
    { name: 'hull rm', once: async () => void (await cliOk(hull, ['rm', id], { timeoutMs: RUN_TIMEOUT_MS })), after: () => settle(hull) },
    cmd('hull run --rm', ['run', '--rm', ...hull.runFlags, hull.image, 'true']),
  ];
  // In order every round: create, start and rm depend on each other.
  const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  for (let i = 0; i <= runs; i++) {
    for (const t of tools) {
      const start = performance.now();
      await t.once();
      const ms = performance.now() - start;
      await t.after?.();
      if (i > 0) samples.get(t.name)!.push(ms);
    }
  }
  const m = (name: string): number => median(samples.get(name)!);
  const series: MsSeries[] = tools.map((t) => ({ name: t.name, samples: samples.get(t.name)! }));
  const fixed = m('hull --version');
  const lines = [
    msTable(`where hull's time goes: each piece as its own command, ${runs} rounds after one warm-up`, series),
    `node start-up (node -e 0, what a cold command pays): ${m('node -e 0').toFixed(0)} ms`,
    `a warm command's fixed cost (hull --version):       ${fixed.toFixed(0)} ms`,
    `opening the state (ps -a − --version):              ${(m('hull ps -a') - fixed).toFixed(0)} ms`,
    `create, start, rm beyond CLI start-up:              ${(m('hull create') - fixed).toFixed(0)} + ${(m('hull start') - fixed).toFixed(0)} + ${(m('hull rm') - fixed).toFixed(0)} ms`,
    `run --rm beyond CLI start-up:                       ${(m('hull run --rm') - fixed).toFixed(0)} ms`,
  ];
  return `${lines.join('\n')}\n`;
}

/** LOOP_RUNS warm runs back to back: nothing waits for the pool, so it may drain. */
async function loop(hull: Engine, server: CliServer): Promise<string> {
  await settle(hull);
  const traced = traceLines(server).length;
  const ms: number[] = [];
  const start = performance.now();
  for (let i = 0; i < LOOP_RUNS; i++) {
    const t = performance.now();
    await cliOk(hull, ['run', '--rm', ...hull.runFlags, hull.image, 'true'], { timeoutMs: RUN_TIMEOUT_MS });
    ms.push(performance.now() - t);
  }
  const total = performance.now() - start;
  const served = traceLines(server).slice(traced).filter((l) => l.startsWith('worker ')).length;
  return (
    msTable(`${LOOP_RUNS} warm runs back to back (no waiting for the pool or the monitors)`, [{ name: 'hull loop', samples: ms }]) +
    `loop: ${total.toFixed(0)} ms in all, ${(total / LOOP_RUNS).toFixed(0)} ms per run; ${served} of ${LOOP_RUNS} served by a warm worker\n`
  );
}

/**
 * One warm `run --rm` with HULL_TRACE (src/util/trace.ts): per phase, when it began and how
 * long it took, from the client's start. Run after settling, so a ready worker serves it.
 */
async function tracedRun(hull: Engine, server: CliServer): Promise<string> {
  await settle(hull);
  const file = join(server.dir, 'hull-trace');
  const [bin, argv] = hullCommand(['--root', hull.stateRoot!, 'run', '--rm', ...hull.runFlags, hull.image, 'true'], true);
  const t = performance.now();
  const r = await run(bin, argv, { timeoutMs: RUN_TIMEOUT_MS, env: { ...process.env, HULL_CLI_SOCKET: server.socket, HULL_TRACE: file } });
  // Spawn to exit AND end of output (what the timed runs measure): a trace that ends well before
  // this hides something after the command (until fast5, the worker held the client's stdout).
  const wall = performance.now() - t;
  if (r.code !== 0) return `traced run failed (${r.code}): ${r.stderr.trim()}\n`;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 'traced run: no trace written\n';
  }
  return `one warm run --rm, traced (load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; its wall time from spawn to exit and EOF ${wall.toFixed(1)} ms):\n${text}`;
}

/** The CLI server's fixed cost: supervisor plus its idle workers, PSS (not per container). */
async function serverMemory(hull: Engine, server: CliServer): Promise<string> {
  await settle(hull);
  const { supervisor, workers } = await serverPids(server);
  if (!supervisor) return 'CLI server memory: no supervisor running\n';
  const sup = await sumRollups([supervisor]);
  const w = await sumRollups(workers);
  const mib = (kib: number): string => (kib / 1024).toFixed(1);
  return `CLI server idle memory (fixed, not per container): supervisor ${mib(sup.pss)} MiB + ${w.processes} idle workers ${mib(w.pss)} MiB = ${mib(sup.pss + w.pss)} MiB PSS (RSS ${mib(sup.rss + w.rss)} MiB)\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      'no-docker': { type: 'boolean', default: false },
      'no-podman': { type: 'boolean', default: false },
      'no-breakdown': { type: 'boolean', default: false },
      pause: { type: 'string', default: String(DEFAULT_PAUSE_MS) },
      network: { type: 'string', default: 'default' },
    },
  });
  const network = values.network as NetworkChoice;
  if (network !== 'default' && network !== 'none') throw new Error('--network must be default or none');
  const runs = Number(values.runs);
  const pauseMs = Number(values.pause);
  if (!(Number.isInteger(pauseMs) && pauseMs >= 0 && pauseMs <= 10_000)) throw new Error('--pause must be an integer from 0 to 10000 (ms)');
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 500)) throw new Error('--runs must be an integer from 1 to 500');
  if (!existsSync(HULL_BIN)) throw new Error(`${HULL_BIN} is missing: run npm run build first`);

  const { cleanups, cleanup } = cleanupStack(log);

  try {
    const image: BenchImage = await buildBenchImage();
    cleanups.push(() => image.remove());
    if (!existsSync(HULL_CLIENT)) throw new Error(`${HULL_CLIENT} is missing: run npm run build first`);
    const cold = await hullEngine(image, { name: 'hull cold', viaClient: true, network, env: { HULL_NO_SERVER: '1' } });
    cleanups.push(() => cold.stop());
    const warm = await warmHull(image, { name: 'hull warm', network });
    cleanups.push(() => warm.stop());
    const { engine: hull, server } = warm;
    const tools: Tool[] = [engineTool(cold), engineTool(hull)];
    const missing: MsSeries[] = [];
    const engines: Engine[] = [cold, hull];

    const peer = async (name: string, skip: boolean, start: () => Promise<Engine>): Promise<void> => {
      if (skip) {
        missing.push({ name, samples: [], note: `skipped (--no-${name})` });
        return;
      }
      try {
        const e = await start();
        engines.push(e);
        cleanups.push(() => e.stop());
        tools.push(engineTool(e));
      } catch (e) {
        missing.push({ name, samples: [], note: `${name} could not start` });
        log(`${name} peer unavailable: ${(e as Error).message}`);
        if (e instanceof PeerStartError && e.logTail) log(`--- ${name} log (tail) ---\n${e.logTail}\n--- end ---`);
      }
    };
    await peer('docker', values['no-docker'], async () => (await dockerEngine(image, network)).engine);
    await peer('podman', values['no-podman'], async () => (await podmanEngine(image)).engine);
    try {
      const bundle = await prepareRuncBundle(image.layout, ['true']);
      cleanups.push(() => bundle.remove());
      tools.push(runcTool(bundle));
    } catch (e) {
      missing.push({ name: 'runc', samples: [], note: 'bundle could not be prepared' });
      log(`bare runc unavailable: ${(e as Error).message}`);
    }
    try {
      const bundle = await prepareRuncBundle(image.layout, ['true'], { config: (dir) => hullConfig(hull, dir) });
      cleanups.push(() => bundle.remove());
      tools.push(runcTool(bundle, 'runc hull-spec'));
    } catch (e) {
      missing.push({ name: 'runc hull-spec', samples: [], note: 'bundle could not be prepared' });
      log(`bare runc with hull's config unavailable: ${(e as Error).message}`);
    }

    const versions = await Promise.all([
      run('git', ['-C', HULL_BIN.replace(/\/dist\/src\/cli\/main\.js$/, ''), 'rev-parse', '--short', 'HEAD']).then((r) => `hull ${r.stdout.trim() || '?'}`),
      ...engines
        .filter((e) => !e.name.startsWith('hull'))
        .map((e) => e.cli(['version', '--format', e.name === 'docker' ? '{{.Server.Version}}' : '{{.Client.Version}}']).then((r) => `${e.name} ${r.stdout.trim()}`)),
      run('runc', ['--version']).then((r) => (r.stdout.split('\n')[0] ?? '').trim()),
    ]);
    log(`image ${hull.image} (busybox, 3 layers); ${runs} runs per tool after one warm-up, ${pauseMs} ms pause after each run's background work; node ${process.version}, ${versions.join(', ')}`);
    const load = loadavg()[0] ?? 0;
    if (load > availableParallelism() / 2) {
      log(`note: load average ${load.toFixed(1)} on ${availableParallelism()} cores: other processes compete for the CPU, so wall times are noisy`);
    }

    const traced = traceLines(server).length;
    const { samples, failures } = await measure(tools, runs, 'run', pauseMs);
    const warmServed = traceLines(server).slice(traced).filter((l) => l.startsWith('worker ')).length;
    for (const e of engines) {
      const left = await containerIds(e);
      if (left.length > 0) log(`warning: ${e.name} still has ${left.length} containers after run --rm`);
    }

    const series: MsSeries[] = [
      ...tools.map((t) => ({ name: t.name, samples: samples.get(t.name)!, note: failures.has(t.name) ? 'FAILED' : '' })),
      ...missing,
    ];
    const fmtRatio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');
    process.stdout.write('\n');
    process.stdout.write(msTable(`run --rm IMAGE true: wall time of the whole command, ${runs} runs interleaved (median, min, max)`, series, 'docker'));
    const med = (name: string): number => median(samples.get(name) ?? []);
    const h = med('hull warm');
    process.stdout.write(`hull warm: ${warmServed} of ${runs + 1} runs served by a warm worker (the rest ran cold: pool not refilled in time)\n`);
    process.stdout.write(`hull cold / docker: ${fmtRatio(med('hull cold') / med('docker'))}\n`);
    process.stdout.write(`hull warm / docker: ${fmtRatio(h / med('docker'))}\n`);
    process.stdout.write(`hull warm / podman: ${fmtRatio(h / med('podman'))}\n`);
    const overRunc = h - med('runc');
    process.stdout.write(`hull warm - runc: ${Number.isFinite(overRunc) ? `${overRunc.toFixed(0)} ms` : 'n/a'}\n`);
    const verdict = (ok: boolean, known: boolean): string => (known ? (ok ? 'PASS' : 'FAIL') : 'n/a');
    const r = h / med('docker');
    process.stdout.write(`budget: hull <= ${BUDGET_VS_DOCKER}x docker -> ${verdict(r <= BUDGET_VS_DOCKER, Number.isFinite(r))} (${fmtRatio(r)})\n`);
    process.stdout.write(
      `budget: hull within ${BUDGET_OVER_RUNC_MS} ms of bare runc -> ${verdict(overRunc <= BUDGET_OVER_RUNC_MS, Number.isFinite(overRunc))} (${Number.isFinite(overRunc) ? `+${overRunc.toFixed(0)} ms` : 'n/a'})\n`,
    );
    const overSame = h - med('runc hull-spec');
    process.stdout.write(
      `hull warm - runc hull-spec (bare runc run of hull's config.json, runc compiling the seccomp profile as for a profile's first container: mounts, cgroups, seccomp): ${Number.isFinite(overSame) ? `+${overSame.toFixed(0)} ms` : 'n/a'}\n`,
    );
    for (const [name, why] of failures) process.stdout.write(`${name} failed: ${why}\n`);

    process.stdout.write('\n');
    process.stdout.write(await loop(hull, server));
    process.stdout.write(await serverMemory(hull, server));
    process.stdout.write('\n');
    process.stdout.write(await tracedRun(hull, server));

    if (!values['no-breakdown']) {
      process.stdout.write('\n');
      process.stdout.write(await breakdown(hull, runs));
    }
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/run: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 0;
});
