/**
 * The runtime half of `hull run` (issue 3's start-up budget), piece by piece: from the engine
 * spawning hull-monitor until the container is gone. Every piece is run on hull's own config
 * for `IMAGE true` (taken from a container hull starts for the purpose: Docker's seccomp
 * profile, masked paths, mounts, cgroups) and all variants take turns in one interleaved loop,
 * so machine drift spreads over all of them. Reported: median wall time, and median CPU of the
 * whole process tree (`perf stat -e task-clock` follows every descendant, including the
 * daemonized monitor and runc's re-executed init), which stays meaningful on a busy machine.
 *
 *   monitor create              hull-monitor running `runc create` (what the engine does), until
 *                               its sync line; then (untimed) started and left to clean up:
 *                               with the precompiled filter (what every start but a profile's
 *                               first does: helper and filter as sealed copies, the command
 *                               looked up after create), and with runc compiling the profile
 *   runc create                 the same `runc create` without the monitor (the floor), runc
 *                               compiling the profile as in config.json; "precompiled filter":
 *                               the helper loads the filter hull captured (seccomp-filter.ts)
 *   runc create, no seccomp     the config without linux.seccomp: what the profile costs
 *   runc create, Docker's ABIs  x86_64 + x86 + x32 as Docker lists them, and x86_64 only: what
 *   runc create, seccomp 1 ABI  each ABI costs (hull lists the ones the kernel executes, which on
 *                               most kernels leaves x32 out; ARCHITECTURE.md)
 *   runc delete                 of a stopped container (the monitor's exit path)
 *   umount, durable | volatile  umount2(2) of an overlay a container wrote to, in this process
 *                               as the engine does it (its exit path; `--rm` containers are
 *                               mounted volatile: no sync of the host filesystem)
 *
 *   node dist/bench/runtime.js [--runs 12]
 *
 * A benchmark reports; it never fails.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { filterArgs, monitorPath } from '../src/container/monitor.js';
import { nativeAddon } from '../src/util/native.js';
import { buildBenchImage, hullEngine, log } from './lib/containers.js';
import { hullConfig, precompiledFilter } from './lib/hull-spec.js';
import { filterHelperPath, loadThroughHelper, lookupOf } from '../src/container/seccomp-filter.js';
import type { OciSpec } from '../src/container/spec/oci-types.js';
import { findOnPath, prepareRuncBundle, run, runOk } from './lib/peers.js';
import { cleanupStack, median } from './lib/stats.js';

interface Piece {
  name: string;
  /** Untimed set-up before each timed run. */
  before?(i: number): Promise<void>;
  /** The timed part: one shell command... */
  command?(i: number): string;
  /** ...or a call in this process (wall and this process's CPU). */
  call?(i: number): void;
  /** Untimed clean-up after each timed run. */
  after?(i: number): Promise<void>;
}

interface Sample {
  wallMs: number;
  cpuMs: number;
}

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * One timed run: wall time, and the CPU of the process tree when perf is there. With perf, the
 * wall time is perf's own `duration_time` of the command, so perf's start-up is not in it.
 */
async function timed(cmd: string, perf: string | undefined, scratch: string): Promise<Sample> {
  const out = join(scratch, 'perf.csv');
  const argv = perf ? [perf, ['stat', '-x,', '-e', 'task-clock,duration_time', '-o', out, '--', 'sh', '-c', cmd]] as const : ['sh', ['-c', cmd]] as const;
  const t0 = performance.now();
  const r = await run(argv[0], argv[1], { timeoutMs: 60_000 });
  const outerMs = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-1000)}`);
  if (!perf) return { wallMs: outerMs, cpuMs: Number.NaN };
  const field = (event: string): number => Number(readFileSync(out, 'utf8').split('\n').find((l) => l.includes(`,${event},`))?.split(',')[0]);
  return { wallMs: field('duration_time') / 1e6, cpuMs: field('task-clock') };
}

function inProcess(fn: () => void): Sample {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wallMs, cpuMs: (c.user + c.system) / 1000 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '12' } } });
  const runs = Math.max(1, Number(values.runs) || 12);
  const { cleanups, cleanup } = cleanupStack(log);
  try {
    const perf = await findOnPath('perf');
    if (!perf) log('perf not found: CPU is not measured (apt-get install linux-perf)');
    const image = await buildBenchImage();
    cleanups.push(() => image.remove());
    const hull = await hullEngine(image);
    cleanups.push(() => hull.stop());
    const bundle = await prepareRuncBundle(image.layout, ['true'], { config: (dir) => hullConfig(hull, dir) });
    cleanups.push(() => bundle.remove());
    const runcBin = (await findOnPath('runc'))!;
    const scratch = await mkdtemp(join(bundle.dir, 'scratch-'));
    const state = bundle.stateRoot;
    const runc = (args: string[]): Promise<unknown> => run(runcBin, ['--root', state, ...args], { timeoutMs: 60_000 });
    cleanups.push(async () => {
      for (const id of (await run(runcBin, ['--root', state, 'list', '-q'])).stdout.split('\n').filter(Boolean)) await runc(['delete', '--force', id]);
    });

    // One bundle directory per config variant, all on the same unpacked rootfs.
    const base = JSON.parse(await readFile(join(bundle.dir, 'config.json'), 'utf8')) as {
      root: { path: string };
      linux: { cgroupsPath?: string; seccomp?: { architectures?: string[] } };
    };
    const variant = async (name: string, change: (c: typeof base) => void): Promise<string> => {
      const dir = join(bundle.dir, `variant-${name}`);
      await mkdir(dir, { recursive: true });
      const c = structuredClone(base);
      c.root.path = join(bundle.dir, 'rootfs');
      c.linux.cgroupsPath = `hull-bench-rt-${process.pid}-${name}`;
      change(c);
      await writeFile(join(dir, 'config.json'), JSON.stringify(c));
      return dir;
    };
    const hullSpec = await variant('hull', () => undefined);
    const noSeccomp = await variant('no-seccomp', (c) => delete c.linux.seccomp);
    const dockerAbis = await variant('docker-abis', (c) => (c.linux.seccomp!.architectures = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']));
    const oneAbi = await variant('1-abi', (c) => (c.linux.seccomp!.architectures = ['SCMP_ARCH_X86_64']));
    const filter = await precompiledFilter(hull);
    const precompiled = await variant('precompiled', (c) => loadThroughHelper(c as unknown as OciSpec, filter));
    const lookPath = lookupOf((base as unknown as OciSpec).process);

    const id = (piece: string, i: number): string => `hull-bench-rt-${process.pid}-${piece}-${i}`;
    // What the monitor passes (docs/monitor.md): a JSON log file and a pid file.
    // stdio on /dev/null: the created container's init inherits it and holds it until it runs.
    // With the precompiled filter, runc gets the helper and the filter as fds 3 and 4.
    const createCommand = (dir: string, cid: string, pidFile: string, helper = false): string =>
      `exec ${runcBin} --root ${sh(state)} --log ${sh(join(scratch, 'runc.log'))} --log-format json create --bundle ${sh(dir)} --pid-file ${sh(pidFile)}` +
      `${helper ? ` --preserve-fds 2 3<${sh(filterHelperPath())} 4<${sh(filter)}` : ''} ${cid} </dev/null >/dev/null 2>&1`;
    const create = (name: string, dir: string, helper = false): Piece => {
      const slug = name.replace(/\W+/g, '-');
      return {
        name,
        command: (i) => createCommand(dir, id(slug, i), join(scratch, `pid-${slug}-${i}`), helper),
        after: async (i) => void (await runc(['delete', '--force', id(slug, i)])),
      };
    };
    const monitorState = (slug: string, i: number): string => join(scratch, `monitor-${slug}-${i}`);
    const monitorCreate = (name: string, dir: string, options: string[]): Piece => {
      const slug = name.replace(/\W+/g, '-');
      return {
        name,
        before: (i) => mkdir(monitorState(slug, i)).then(() => undefined),
        // The monitor daemonizes; its one report line arrives on fd 3 once the container exists.
        command: (i) =>
          `${sh(monitorPath())} --id ${id(slug, i)} --bundle ${sh(dir)} --runtime ${sh(runcBin)} --runtime-root ${sh(state)} --state-dir ${sh(monitorState(slug, i))} ${options.map(sh).join(' ')} --sync-fd 3 3>&1 >/dev/null | { read -r l; case "$l" in *'"pid"'*) ;; *) echo "$l" >&2; exit 1;; esac; }`,
        after: async (i) => {
          await runc(['start', id(slug, i)]);
          // The monitor removes its pid file right after its `runc delete`.
          await until('the monitor to finish', async () => !(await readFile(join(monitorState(slug, i), 'pid')).then(() => true, () => false)));
        },
      };
    };
    const pieces: Piece[] = [
      monitorCreate('monitor create, precompiled filter', precompiled, filterArgs({ seccompHelper: { helper: filterHelperPath(), filter }, lookPath })),
      monitorCreate('monitor create, runc compiles', hullSpec, []),
      create('runc create, precompiled filter', precompiled, true),
      create('runc create', hullSpec),
      create('runc create, no seccomp', noSeccomp),
      create("runc create, Docker's ABIs", dockerAbis),
      create('runc create, seccomp 1 ABI', oneAbi),
      {
        name: 'runc delete (stopped)',
        before: async (i) => {
          await runOk('sh', ['-c', createCommand(hullSpec, id('del', i), join(scratch, `pid-del-${i}`))], { timeoutMs: 60_000 });
          await runOk(runcBin, ['--root', state, 'start', id('del', i)], { timeoutMs: 60_000 });
          await until('the container to stop', async () => (await run(runcBin, ['--root', state, 'state', id('del', i)])).stdout.includes('"stopped"'));
        },
        command: (i) => `exec ${runcBin} --root ${sh(state)} delete ${id('del', i)}`,
      },
      ...(['durable', 'volatile'] as const).map((kind): Piece => {
        const dir = (i: number): string => join(scratch, `overlay-${kind}-${i}`);
        return {
          name: `umount, ${kind}`,
          before: async (i) => {
            for (const d of ['upper', 'work', 'merged']) await mkdir(join(dir(i), d), { recursive: true });
            const opts = `lowerdir=${join(bundle.dir, 'rootfs')},upperdir=${join(dir(i), 'upper')},workdir=${join(dir(i), 'work')}${kind === 'volatile' ? ',volatile' : ''}`;
            await runOk('mount', ['-t', 'overlay', 'overlay', '-o', opts, join(dir(i), 'merged')]);
            // What a container leaves in its upper directory: /etc files, a write of its own.
            await runOk('sh', ['-c', `echo data > ${sh(join(dir(i), 'merged', 'etc', 'hostname'))} && echo x > ${sh(join(dir(i), 'merged', 'tmp', 'f'))}`]);
          },
          // umount2(2) as the engine calls it (an umount(8) exec would add ~2 ms of its own).
          call: (i) => nativeAddon().umount2(join(dir(i), 'merged'), 0),
          after: (i) => rm(dir(i), { recursive: true, force: true }),
        };
      }),
    ];

    log(`${runs} rounds after one warm-up; hull's config for true (${bundle.dir}); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const samples = new Map<string, Sample[]>(pieces.map((p) => [p.name, []]));
    for (let round = 0; round <= runs; round++) {
      for (let k = 0; k < pieces.length; k++) {
        const p = pieces[(round + k) % pieces.length]!;
        await p.before?.(round);
        const s = p.call ? inProcess(() => p.call!(round)) : await timed(p.command!(round), perf, scratch);
        await p.after?.(round);
        if (round > 0) samples.get(p.name)!.push(s);
      }
      if (round > 0) log(`round ${round}/${runs} done`);
    }

    const rows = pieces.map((p) => {
      const s = samples.get(p.name)!;
      const wall = s.map((x) => x.wallMs);
      const cpu = s.map((x) => x.cpuMs);
      return [p.name, median(wall).toFixed(1), Math.min(...wall).toFixed(1), perf ? median(cpu).toFixed(1) : '-', perf ? Math.min(...cpu).toFixed(1) : '-'];
    });
    const header = ['piece', 'wall median ms', 'wall min', 'cpu median ms', 'cpu min'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const fmt = (r: string[]): string => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
    process.stdout.write(`\nruntime half of run --rm IMAGE true, ${runs} interleaved rounds (cpu: the whole process tree, perf task-clock)\n`);
    process.stdout.write(`${[fmt(header), ...rows.map(fmt)].join('\n')}\n`);
    process.stdout.write(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  log(`runtime bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 0;
});
