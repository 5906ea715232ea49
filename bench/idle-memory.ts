/**
 * Idle-container memory benchmark: host memory each tool keeps per running container, beyond
 * the container's own processes.
 *
 *   node dist/bench/idle-memory.js [--count 100] [--timeout 600] [--no-docker] [--no-podman]
 *
 * Per tool, one after the other: start `--count` containers running `sleep 100000`
 * (`run -d`, no network), wait for them to settle, then sum the proportional set size (Pss,
 * from /proc/<pid>/smaps_rollup) of the processes the tool keeps per container:
 *
 *   hull    hull-monitor               (one per container; no daemon)
 *   docker  containerd-shim-runc-v2    (one per container; dockerd and containerd are shared
 *                                       and not counted, but their growth is printed)
 *   podman  conmon                     (one per container; no daemon)
 *
 * Pss divides each shared page among the processes mapping it, so a monitor's share of libc
 * or of its own text counts once across all of them: the sum over N holders divided by N is
 * what one more idle container costs. Tools run one at a time so they do not share pages with
 * each other's holders. Afterwards every container is removed (`rm -f`, in batches) and the
 * bench checks that no container, monitor, shim or conmon is left.
 *
 * Starting is bounded by `--timeout` seconds per tool; a tool that is slower is measured with
 * the containers it started by then (the table says how many).
 *
 * A benchmark reports; it never fails: the exit status is 0 whatever the budget line says.
 */
import { cleanupStack, sumRollups } from './lib/stats.js';
import type { Rollup } from './lib/stats.js';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { HULL_BIN } from '../test/helpers/hull.js';
import { PeerStartError } from './lib/peers.js';
import type { DockerdPeer } from './lib/peers.js';
import { buildBenchImage, cliOk, dockerEngine, hullEngine, log, podmanEngine, removeAllContainers } from './lib/containers.js';
import type { BenchImage, Engine } from './lib/containers.js';

/** The budget: hull's per-container memory, in KiB (0.4 MiB). */
const BUDGET_KIB = 0.4 * 1024;
/** After the last start: lets lazily started work (shim goroutines, monitor first poll) settle before measuring. */
const SETTLE_MS = 3000;


interface Result {
  name: string;
  holderName: string;
  /** Containers running when measured. */
  running: number;
  holders: Rollup & { processes: number };
  /** Start time of one container, median ms (for context: how long `--count` took). */
  startMedianMs: number;
  /** dockerd + containerd Pss growth per container (docker only). */
  daemonGrowthKiB?: number;
  note?: string;
  cleanup: string;
}

/** dockerd and its containerd: the daemons every docker container shares. */
async function daemonPids(peer: DockerdPeer): Promise<number[]> {
  const pids = [peer.pid];
  try {
    // containerd is dockerd's child; its pid is in /proc/<dockerd>/task/*/children.
    for (const task of await readdir(`/proc/${peer.pid}/task`)) {
      const children = (await readFile(`/proc/${peer.pid}/task/${task}/children`, 'utf8')).trim();
      for (const c of children.split(/\s+/).filter(Boolean)) pids.push(Number(c));
    }
  } catch {
    // dockerd gone: measured as nothing.
  }
  return [...new Set(pids)];
}

async function measureTool(engine: Engine, count: number, timeoutMs: number, peer?: DockerdPeer): Promise<Result> {
  const before = peer ? (await sumRollups(await daemonPids(peer))).pss : 0;
  const deadline = Date.now() + timeoutMs;
  const times: number[] = [];
  let note: string | undefined;
  for (let i = 0; i < count; i++) {
    if (Date.now() > deadline) {
      note = `start stopped by --timeout after ${i} of ${count}`;
      break;
    }
    const t0 = performance.now();
    try {
      await cliOk(engine, ['run', '-d', ...engine.runFlags, engine.image, 'sleep', '100000'], { timeoutMs: 120_000 });
    } catch (e) {
      // The table keeps one line per tool: the first line of the error there, all of it on stderr.
      note = `start failed after ${i} of ${count}: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}`;
      log(`${engine.name}: start failed after ${i} of ${count}: ${(e as Error).message}`);
      break;
    }
    times.push(performance.now() - t0);
    if ((i + 1) % 10 === 0) log(`${engine.name}: ${i + 1}/${count} started`);
  }
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const running = (await cliOk(engine, ['ps', '-q'])).split('\n').filter((s) => s.trim()).length;
  const holders = await sumRollups(await engine.holders());
  const after = peer ? (await sumRollups(await daemonPids(peer))).pss : 0;
  const sorted = [...times].sort((a, b) => a - b);
  const startMedianMs = sorted.length ? sorted[sorted.length >> 1]! : Number.NaN;

  log(`${engine.name}: removing ${running} containers`);
  const left = await removeAllContainers(engine);
  const cleanup =
    left.containers === 0 && left.holders === 0
      ? `clean (no containers, no ${engine.holderName} left)`
      : `NOT CLEAN: ${left.containers} containers and ${left.holders} ${engine.holderName} left`;
  return {
    name: engine.name,
    holderName: engine.holderName,
    running,
    holders,
    startMedianMs,
    ...(peer && running > 0 ? { daemonGrowthKiB: (after - before) / running } : {}),
    ...(note ? { note } : {}),
    cleanup,
  };
}

function table(results: readonly Result[]): string {
  const per = (r: Result, v: number): number => (r.running > 0 ? v / r.running : Number.NaN);
  const hull = results.find((r) => r.name === 'hull');
  const header = ['tool', 'holder', 'containers', 'holders', 'KiB/ctr Pss', 'anon', 'file', 'Rss', 'xhull', ''];
  const rows = results.map((r) => {
    const pss = per(r, r.holders.pss);
    const hullPss = hull ? per(hull, hull.holders.pss) : Number.NaN;
    return [
      r.name,
      r.holderName,
      String(r.running),
      String(r.holders.processes),
      Number.isFinite(pss) ? pss.toFixed(0) : '-',
      Number.isFinite(pss) ? per(r, r.holders.pssAnon).toFixed(0) : '-',
      Number.isFinite(pss) ? per(r, r.holders.pssFile).toFixed(0) : '-',
      Number.isFinite(pss) ? per(r, r.holders.rss).toFixed(0) : '-',
      Number.isFinite(pss / hullPss) ? `${(pss / hullPss).toFixed(1)}x` : 'n/a',
      r.note ?? '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : i === cells.length - 1 ? c : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '100' },
      timeout: { type: 'string', default: '600' },
      'no-docker': { type: 'boolean', default: false },
      'no-podman': { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(Number.isInteger(count) && count >= 1 && count <= 1000)) throw new Error('--count must be an integer from 1 to 1000');
  if (!(timeoutMs > 0 && timeoutMs <= 3_600_000)) throw new Error('--timeout must be between 0 and 3600 seconds');
  if (!existsSync(HULL_BIN)) throw new Error(`${HULL_BIN} is missing: run npm run build first`);

  const { cleanups, cleanup } = cleanupStack(log);

  const results: Result[] = [];
  const skipped: string[] = [];
  try {
    const image: BenchImage = await buildBenchImage();
    cleanups.push(() => image.remove());
    const load = loadavg()[0] ?? 0;
    log(`${count} idle containers (sleep 100000) per tool, one tool at a time; load average ${load.toFixed(1)} on ${availableParallelism()} cores`);

    // One tool at a time, each stopped before the next starts: no tool's holders share pages with another's.
    const hull = await hullEngine(image);
    cleanups.push(() => hull.stop());
    results.push(await measureTool(hull, count, timeoutMs));
    await cleanups.pop()!();

    const peerRun = async (name: string, skip: boolean, start: () => Promise<{ engine: Engine; peer?: DockerdPeer }>): Promise<void> => {
      if (skip) {
        skipped.push(`${name}: skipped (--no-${name})`);
        return;
      }
      let started: { engine: Engine; peer?: DockerdPeer };
      try {
        started = await start();
      } catch (e) {
        skipped.push(`${name}: could not start (${(e as Error).message})`);
        if (e instanceof PeerStartError && e.logTail) log(`--- ${name} log (tail) ---\n${e.logTail}\n--- end ---`);
        return;
      }
      cleanups.push(() => started.engine.stop());
      results.push(await measureTool(started.engine, count, timeoutMs, started.peer));
      await cleanups.pop()!();
    };
    await peerRun('docker', values['no-docker'], () => dockerEngine(image));
    await peerRun('podman', values['no-podman'], async () => ({ engine: (await podmanEngine(image)).engine }));
  } finally {
    await cleanup();
  }

  process.stdout.write('\n');
  process.stdout.write(`idle containers: host memory per container of what each tool keeps running for it (sum of Pss of its holders / containers), KiB\n`);
  process.stdout.write(table(results));
  for (const r of results) {
    process.stdout.write(`${r.name}: start ${Number.isFinite(r.startMedianMs) ? r.startMedianMs.toFixed(0) : '-'} ms median per run -d; cleanup ${r.cleanup}\n`);
    if (r.daemonGrowthKiB !== undefined) {
      process.stdout.write(`${r.name}: dockerd + containerd Pss grew ${r.daemonGrowthKiB.toFixed(0)} KiB per container (shared daemons, not in the table)\n`);
    }
  }
  for (const s of skipped) process.stdout.write(`${s}\n`);
  const kib = (name: string): number => {
    const r = results.find((x) => x.name === name);
    return r && r.running > 0 ? r.holders.pss / r.running : Number.NaN;
  };
  const h = kib('hull');
  for (const peer of ['docker', 'podman']) {
    const x = h / kib(peer);
    process.stdout.write(`hull / ${peer}: ${Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a'}\n`);
  }
  process.stdout.write(
    `budget: hull <= 0.4 MiB per idle container -> ${Number.isFinite(h) ? (h <= BUDGET_KIB ? 'PASS' : 'FAIL') : 'n/a'} (${Number.isFinite(h) ? `${h.toFixed(0)} KiB` : 'no hull containers'})\n`,
  );
  const dirty = results.filter((r) => !r.cleanup.startsWith('clean'));
  process.stdout.write(dirty.length === 0 ? 'cleanup: nothing left (containers, monitors, shims, conmons)\n' : `cleanup: ${dirty.map((r) => `${r.name} ${r.cleanup}`).join('; ')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/idle-memory: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 0;
});

