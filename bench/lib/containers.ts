/**
 * Shared setup of the container benchmarks (`run.ts`, `idle-memory.ts`): one test image, built
 * offline, loaded into every tool, and each tool's verbs behind one small interface so the
 * benchmarks treat hull, docker and podman alike.
 *
 * The image is the busybox image of the tests (`busyboxImage()`), written as an OCI layout,
 * then turned by skopeo into an OCI archive (for `hull load` and `podman load`) and a
 * docker-archive (for dockerd 20.10's `docker load`, which predates OCI archives).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOciLayout, busyboxImage } from '../../test/helpers/images.js';
import { hullCommand } from '../../test/helpers/hull.js';
import { alignedLines, median, spread } from './stats.js';
import { processesMatching, run, runOk, startDockerd, startPodman, unmountAll } from './peers.js';
import type { DockerdPeer, PodmanPeer, RunOptions, RunResult } from './peers.js';
import { PeerBridge } from './peer-bridge.js';

export const BENCH_IMAGE = 'bench/busybox:latest';

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

export interface BenchImage {
  /** Temp dir holding the layout and both archives. */
  dir: string;
  layout: string;
  ociArchive: string;
  dockerArchive: string;
  remove(): Promise<void>;
}

export async function buildBenchImage(): Promise<BenchImage> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-bench-image-'));
  const layout = join(dir, 'layout');
  const ociArchive = join(dir, 'busybox.oci.tar');
  const dockerArchive = join(dir, 'busybox.docker.tar');
  await mkdir(layout);
  await buildOciLayout(layout, busyboxImage());
  await runOk('skopeo', ['copy', '--quiet', `oci:${layout}`, `oci-archive:${ociArchive}:${BENCH_IMAGE}`], { timeoutMs: 120_000 });
  await runOk('skopeo', ['copy', '--quiet', `oci:${layout}`, `docker-archive:${dockerArchive}:${BENCH_IMAGE}`], { timeoutMs: 120_000 });
  return { dir, layout, ociArchive, dockerArchive, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** One engine under test, as the benchmarks drive it: a CLI whose commands run to completion. */
export interface Engine {
  /** hull's state root (hull engines only). */
  stateRoot?: string;
  /** 'hull', or a hull variant ('hull cold', 'hull warm'), 'docker' or 'podman'. */
  name: string;
  /** Runs the engine's CLI with `args` (the engine's own global flags are added). */
  cli(args: readonly string[], opts?: Omit<RunOptions, 'env'>): Promise<RunResult>;
  /**
   * Flags `run`/`create` get: `--network none` (no engine touches the network), or none at all
   * when the engine was made with `network: 'default'` (its default bridge network).
   */
  runFlags: string[];
  /** The image name as this engine knows it after the load. */
  image: string;
  /**
   * Pids of what the engine keeps running per container, outside the container itself: hull's
   * monitors, containerd's shims, podman's conmons.
   */
  holders(): Promise<number[]>;
  /** What `holders` are called, for messages. */
  holderName: string;
  /**
   * Pids of work the engine still does after a command returned: holders plus exit commands
   * (hull's `_exited`, podman's `container cleanup`). A benchmark waits for these to finish so
   * one tool's tail does not slow down the next tool's timed run.
   */
  background(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Runs `cli` and throws with its stderr unless it exits 0. */
export async function cliOk(engine: Engine, args: readonly string[], opts: Omit<RunOptions, 'env'> = {}): Promise<string> {
  const r = await engine.cli(args, { timeoutMs: 120_000, ...opts });
  if (r.code !== 0) throw new Error(`${engine.name} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r.stdout;
}

/**
 * How the bench starts hull: node on the compiled CLI (as the old `hull` shebang did), or the
 * native client (`hull` on PATH) with extra environment, e.g. its own server socket.
 */
export interface HullVariant {
  name: string;
  viaClient: boolean;
  env?: Record<string, string>;
  /** 'default': containers join hull's default `bridge` network (no --network flag). */
  network?: NetworkChoice;
  /** Another build's native client (with viaClient): bench/ab.ts compares two builds. */
  client?: string;
}

/** `none` (the default for benchmarks) or each engine's default network. */
export type NetworkChoice = 'none' | 'default';

function runFlagsFor(network: NetworkChoice | undefined): string[] {
  return network === 'default' ? [] : ['--network', 'none'];
}

/** A fresh hull root with the bench image loaded. */
export async function hullEngine(image: BenchImage, variant: HullVariant = { name: 'hull', viaClient: false }): Promise<Engine> {
  const root = await mkdtemp(join(tmpdir(), 'hull-bench-root-'));
  const env = { ...process.env, ...variant.env };
  const cli = (args: readonly string[], opts: Omit<RunOptions, 'env'> = {}): Promise<RunResult> => {
    // No shell or env lookup in the way.
    const [file, argv] = variant.client ? [variant.client, ['--root', root, ...args]] : hullCommand(['--root', root, ...args], variant.viaClient);
    return run(file, argv, { ...opts, env });
  };
  const engine: Engine = {
    name: variant.name,
    stateRoot: root,
    cli,
    runFlags: runFlagsFor(variant.network),
    image: BENCH_IMAGE,
    holders: () => processesMatching('hull-monitor', `${root}/`),
    holderName: 'hull-monitor',
    background: async () => [...(await processesMatching('hull-monitor', `${root}/`)), ...(await processesMatching('node', `--root ${root} _exited`))],
    stop: async () => {
      await removeAllContainers(engine);
      const left = await unmountAll(root);
      if (left.length > 0) throw new Error(`hull: could not unmount ${left.join(', ')}; left ${root} in place`);
      await rm(root, { recursive: true, force: true });
    },
  };
  await cliOk(engine, ['load', '-i', image.ociArchive]);
  return engine;
}

export async function dockerEngine(image: BenchImage, network: NetworkChoice = 'none'): Promise<{ engine: Engine; peer: DockerdPeer }> {
  const bridge = network === 'default' ? await PeerBridge.create() : undefined;
  let peer: DockerdPeer;
  try {
    peer = await startDockerd(bridge ? { bridge: bridge.name } : {});
  } catch (e) {
    await bridge?.remove();
    throw e;
  }
  const engine: Engine = {
    name: 'docker',
    cli: (args, opts = {}) => peer.docker(args, opts),
    runFlags: runFlagsFor(network),
    image: BENCH_IMAGE,
    // containerd-shim-runc-v2, one per container (dockerd does not group them); the comm is cut at 15 characters.
    holders: () => processesMatching('containerd-shim', `${peer.execRoot}/`),
    holderName: 'containerd-shim-runc-v2',
    background: () => processesMatching('containerd-shim', `${peer.execRoot}/`),
    stop: async () => {
      await removeAllContainers(engine).catch((e: unknown) => log(`docker cleanup: ${(e as Error).message}`));
      await peer.stop();
      await bridge?.remove();
    },
  };
  try {
    await cliOk(engine, ['load', '-q', '-i', image.dockerArchive]);
  } catch (e) {
    await peer.stop();
    await bridge?.remove();
    throw e;
  }
  return { engine, peer };
}

export async function podmanEngine(image: BenchImage): Promise<{ engine: Engine; peer: PodmanPeer }> {
  const peer = await startPodman();
  const engine: Engine = {
    name: 'podman',
    cli: (args, opts = {}) => peer.podman(args, opts),
    runFlags: ['--network', 'none'],
    // podman names a loaded image without a registry localhost/…
    image: `localhost/${BENCH_IMAGE}`,
    holders: () => peer.conmons(),
    holderName: 'conmon',
    background: async () => [...(await peer.conmons()), ...(await processesMatching('podman', `${peer.root}`))],
    stop: async () => {
      await removeAllContainers(engine).catch((e: unknown) => log(`podman cleanup: ${(e as Error).message}`));
      await peer.stop();
    },
  };
  try {
    await cliOk(engine, ['load', '-q', '-i', image.ociArchive]);
  } catch (e) {
    await peer.stop();
    throw e;
  }
  return { engine, peer };
}

/** `rm -f` flags per engine: podman waits for its stop timeout unless told `-t 0`. */
function forceRemoveArgs(engine: Engine): string[] {
  return engine.name === 'podman' ? ['rm', '-f', '-t', '0'] : ['rm', '-f'];
}

const RM_BATCH = 20;

/** Removes containers `ids` with `rm -f`, RM_BATCH per command (keeps command lines and each command's time bounded). */
export async function removeContainers(engine: Engine, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += RM_BATCH) {
    await cliOk(engine, [...forceRemoveArgs(engine), ...ids.slice(i, i + RM_BATCH)], { timeoutMs: 300_000 });
  }
}

/** Every container the engine knows of (running or not). */
export async function containerIds(engine: Engine): Promise<string[]> {
  return (await cliOk(engine, ['ps', '-aq', '--no-trunc'])).split('\n').map((s) => s.trim()).filter(Boolean);
}

/**
 * Removes every container, then checks that nothing is left: no container in `ps -a` and no
 * monitor/shim/conmon process (waits up to 10 s for them to exit). Returns what is left.
 */
export async function removeAllContainers(engine: Engine): Promise<{ containers: number; holders: number }> {
  await removeContainers(engine, await containerIds(engine));
  let holders = await engine.holders();
  for (let i = 0; i < 100 && holders.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    holders = await engine.holders();
  }
  return { containers: (await containerIds(engine)).length, holders: holders.length };
}

// ---------------------------------------------------------------------------------------------
// Reporting in milliseconds (container start-up is tens to hundreds of ms; stats.printTable
// shows seconds with two decimals, too coarse for a 60 ms budget).

export interface MsSeries {
  name: string;
  samples: number[];
  note?: string;
}

function ms(x: number): string {
  return Number.isFinite(x) ? x.toFixed(0) : '-';
}

/** An aligned table: runs, median, min, max (ms) and the ratio to `baseline`'s median. */
export function msTable(title: string, series: readonly MsSeries[], baseline?: string): string {
  const base = series.find((s) => s.name === baseline);
  const header = ['tool', 'runs', 'median ms', 'min ms', 'max ms', ...(base ? [`x${base.name}`] : []), ''];
  const rows = series.map((s) => {
    const m = median(s.samples);
    const sp = spread(s.samples);
    const b = base ? median(base.samples) : Number.NaN;
    return [
      s.name,
      String(s.samples.length),
      ms(m),
      ms(sp.min),
      ms(sp.max),
      ...(base ? [Number.isFinite(m / b) ? `${(m / b).toFixed(2)}x` : 'n/a'] : []),
      s.note ?? '',
    ];
  });
  return [title, ...alignedLines(header, rows)].join('\n') + '\n';
}
