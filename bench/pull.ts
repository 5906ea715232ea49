/**
 * Pull benchmark: a cold `hull pull` of a ~200 MB multi-layer gzip image from a local registry,
 * against `docker pull` (Debian's dockerd, private instance) and `skopeo copy` to an OCI layout
 * (download and verify only, no unpack: the floor any puller can reach).
 *
 *   node dist/bench/pull.js [--runs 5] [--mb 200] [--layers 5] [--no-docker]
 *
 * Every timed run is cold for its tool (fresh hull root, fresh skopeo target, image and layers
 * removed from dockerd), and the tools take turns in a rotating order so that drift in the
 * machine's state (page cache, writeback, thermal) is spread over all of them. The page cache
 * is not dropped, since that cannot be made equally fair for all tools; instead each tool
 * pulls once untimed first, so the registry's blobs are cached for everyone, and `sync` runs
 * between pulls so no tool pays for the previous one's writeback.
 *
 * A benchmark reports; it never fails: the exit status is 0 whatever the budget line says.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Digest } from '../src/image/digest.js';
import { bigImage, pushWithSkopeo } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import type { TestRegistry } from '../test/helpers/registry.js';
import { HULL_BIN, runHull } from '../test/helpers/hull.js';
import { PeerStartError, run, runOk, startDockerd } from './lib/peers.js';
import type { DockerdPeer } from './lib/peers.js';
import { median, printTable, processCpu, reapedChildrenCpu, timeIt, cleanupStack } from './lib/stats.js';
import type { Series } from './lib/stats.js';

const PULL_TIMEOUT_MS = 10 * 60_000;
/** The budget: hull must pull in at most this fraction of docker's time. */
const BUDGET_VS_DOCKER = 0.5;

interface Tool {
  name: string;
  /** One cold pull; throws on failure. Only this is timed. */
  pull(): Promise<void>;
  /** Removes what the pull stored, so the next pull is cold again. Untimed. */
  reset(): Promise<void>;
  /** A CPU-seconds counter whose increase over a pull is the CPU the tool spent on it. */
  cpu(): number;
}

interface CachedImage {
  manifestDigest: Digest;
  /** Sum of the compressed layer blob sizes: what a puller downloads. */
  blobBytes: number;
  layers: number;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Building 200 MB of layers takes a while, and the bytes are deterministic, so the OCI layout
 * is kept in the temp dir across invocations; `complete.json` is written last, so a build that
 * was interrupted is never mistaken for a finished one.
 */
async function cachedBigImage(mb: number, layers: number): Promise<{ dir: string; image: CachedImage }> {
  const dir = join(tmpdir(), 'hull-bench-cache', `big-${mb}mb-${layers}l-gzip`);
  const marker = join(dir, 'complete.json');
  if (existsSync(marker)) return { dir, image: JSON.parse(await readFile(marker, 'utf8')) as CachedImage };
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  log(`building a ${mb} MB image with ${layers} data layers in ${dir} (once; cached for later runs)`);
  const built = await bigImage(dir, mb, layers, 'gzip');
  const image: CachedImage = {
    manifestDigest: built.manifestDigest,
    blobBytes: built.layers.reduce((a, l) => a + l.size, 0),
    layers: built.layers.length,
  };
  await writeFile(marker, JSON.stringify(image));
  return { dir, image };
}

function hullTool(ref: string): Tool {
  let root: string | undefined;
  return {
    name: 'hull',
    cpu: reapedChildrenCpu,
    async pull() {
      root = await mkdtemp(join(tmpdir(), 'hull-bench-root-'));
      const r = await runHull(['pull', ref], { root, timeoutMs: PULL_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(`hull pull exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
    },
    async reset() {
      if (root) await rm(root, { recursive: true, force: true });
      root = undefined;
    },
  };
}

function skopeoTool(ref: string): Tool {
  let dir: string | undefined;
  return {
    name: 'skopeo',
    cpu: reapedChildrenCpu,
    async pull() {
      dir = await mkdtemp(join(tmpdir(), 'hull-bench-skopeo-'));
      await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(dir, 'layout')}`], {
        timeoutMs: PULL_TIMEOUT_MS,
      });
    },
    async reset() {
      if (dir) await rm(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

function dockerTool(peer: DockerdPeer, ref: string): Tool {
  const ok = async (args: string[]): Promise<string> => {
    const r = await peer.docker(args, { timeoutMs: PULL_TIMEOUT_MS });
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
    return r.stdout;
  };
  return {
    name: 'docker',
    // The CLI only asks; dockerd downloads, decompresses and unpacks.
    cpu: () => processCpu(peer.pid) + reapedChildrenCpu(),
    async pull() {
      // Cold means cold: a leftover layer would turn the pull into "Already exists".
      const left = (await ok(['image', 'ls', '-aq'])).trim();
      if (left) throw new Error(`dockerd still has images before a cold pull: ${left.replace(/\n/g, ' ')}`);
      await ok(['pull', '-q', ref]);
    },
    async reset() {
      await peer.docker(['rmi', '-f', ref]);
      await ok(['image', 'prune', '-af']);
      await ok(['builder', 'prune', '-af']);
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      mb: { type: 'string', default: '200' },
      layers: { type: 'string', default: '5' },
      'no-docker': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const mb = Number(values.mb);
  const layers = Number(values.layers);
  if (!(Number.isInteger(runs) && runs >= 1 && runs <= 100)) throw new Error('--runs must be an integer from 1 to 100');
  if (!(mb > 0 && mb <= 10_000)) throw new Error('--mb must be between 0 and 10000');
  if (!(Number.isInteger(layers) && layers >= 1 && layers <= 100)) throw new Error('--layers must be an integer from 1 to 100');
  if (!existsSync(HULL_BIN)) throw new Error(`${HULL_BIN} is missing: run npm run build first`);

  const { cleanups, cleanup } = cleanupStack(log);

  try {
    const { dir: layout, image } = await cachedBigImage(mb, layers);
    const registry: TestRegistry = await startRegistry();
    cleanups.push(() => registry.stop());
    const ref = `${registry.host}/big:latest`;
    await pushWithSkopeo(layout, ref, image.manifestDigest);

    const tools: Tool[] = [hullTool(ref), skopeoTool(ref)];
    let dockerNote: string | undefined;
    if (values['no-docker']) {
      dockerNote = 'skipped (--no-docker)';
    } else {
      try {
        const peer = await startDockerd();
        cleanups.push(() => peer.stop());
        const version = (await peer.docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
        log(`dockerd ${version} running privately on ${peer.socket}`);
        tools.push(dockerTool(peer, ref));
      } catch (e) {
        dockerNote = 'dockerd could not start';
        log(`docker peer unavailable: ${(e as Error).message}`);
        if (e instanceof PeerStartError) log(`--- dockerd log (tail) ---\n${e.logTail}\n--- end of dockerd log ---`);
      }
    }
    const skopeoVersion = (await run('skopeo', ['--version'])).stdout.trim();
    const hullCommit = (await run('git', ['-C', join(HULL_BIN, '..', '..', '..', '..'), 'rev-parse', '--short', 'HEAD'])).stdout.trim();
    log(
      `image: ${ref}, ${image.layers} layers, ${(image.blobBytes / 1e6).toFixed(1)} MB compressed (gzip); ` +
        `${runs} cold runs per tool after one warm-up; node ${process.version}, hull ${hullCommit || '?'}, ${skopeoVersion}`,
    );

    const load = loadavg()[0] ?? 0;
    if (load > availableParallelism() / 2) {
      log(`note: load average ${load.toFixed(1)} on ${availableParallelism()} cores: other processes compete for the CPU, so wall times are noisy; the cpu column (each tool's own CPU seconds) is not`);
    }
    const samples = new Map<string, number[]>(tools.map((t) => [t.name, []]));
    const cpu = new Map<string, number[]>(tools.map((t) => [t.name, []]));
    const failures = new Map<string, string>();
    const once = async (tool: Tool, label: string): Promise<void> => {
      if (failures.has(tool.name)) return;
      try {
        await tool.reset();
        await runOk('sync', []);
        const cpu0 = tool.cpu();
        const { ms } = await timeIt(() => tool.pull());
        const cpuSeconds = tool.cpu() - cpu0;
        log(`${label}: ${tool.name.padEnd(6)} ${(ms / 1000).toFixed(2)}s (cpu ${cpuSeconds.toFixed(2)}s)`);
        if (label !== 'warm-up') {
          samples.get(tool.name)!.push(ms);
          cpu.get(tool.name)!.push(cpuSeconds);
        }
      } catch (e) {
        failures.set(tool.name, (e as Error).message);
        log(`${label}: ${tool.name} failed: ${(e as Error).message}`);
      }
    };
    for (const tool of tools) await once(tool, 'warm-up');
    for (let i = 0; i < runs; i++) {
      // Rotate the order each run so no tool always goes first (or always right after docker's writeback).
      for (let k = 0; k < tools.length; k++) await once(tools[(i + k) % tools.length]!, `run ${i + 1}/${runs}`);
    }
    for (const tool of tools) await tool.reset().catch(() => undefined);

    const series: Series[] = tools.map((t) => ({
      name: t.name,
      samples: samples.get(t.name)!,
      cpu: cpu.get(t.name)!,
      note: failures.has(t.name) ? 'FAILED' : '',
    }));
    if (dockerNote) series.push({ name: 'docker', samples: [], note: dockerNote });
    process.stdout.write('\n');
    printTable(series, {
      title: `pull ${ref.replace(/^[^/]+\//, '')}: ${image.layers} layers, ${(image.blobBytes / 1e6).toFixed(1)} MB gzip, ${runs} cold runs (wall: median, min, max; cpu: the tool's own CPU seconds, median)`,
      baseline: 'docker',
      bytesPerRun: image.blobBytes,
      ratios: [
        ['hull', 'docker'],
        ['hull', 'skopeo'],
      ],
    });
    const hull = samples.get('hull') ?? [];
    const docker = samples.get('docker') ?? [];
    if (hull.length > 0 && docker.length > 0) {
      const r = median(hull) / median(docker);
      process.stdout.write(`budget: hull <= ${BUDGET_VS_DOCKER}x docker -> ${r <= BUDGET_VS_DOCKER ? 'PASS' : 'FAIL'} (${r.toFixed(2)}x)\n`);
    } else {
      process.stdout.write(`budget: hull <= ${BUDGET_VS_DOCKER}x docker -> n/a (${hull.length === 0 ? 'no hull samples' : `docker ${dockerNote ?? 'failed'}`})\n`);
    }
    for (const [name, why] of failures) process.stdout.write(`${name} failed: ${why}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  // A benchmark that cannot run says why; it still does not fail whatever runs it.
  process.stderr.write(`bench/pull: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 0;
});
