/**
 * VM start-up benchmark, in one run, tools taking turns each round:
 *
 *   hull run --rm --isolation vm IMAGE true   twice: cold (node on the compiled CLI, one node
 *                                             start-up per command) and warm (`hull` on PATH: the
 *                                             native client served by a warm worker of a private
 *                                             CLI server, bench/lib/cli-server.ts, as bench/run.ts
 *                                             measures containers)
 *   floor: virtiofsd + qemu-system-x86_64 booting the same kernel and hull's initramfs, same
 *          machine (q35), vCPUs, RAM (memfd, shared, as virtio-fs needs) and accelerator, with
 *          hull.probe=root: the guest init loads the virtio modules, mounts the virtio-fs root
 *          (the image's rootfs, served by virtiofsd) and powers off. What it leaves out is
 *          what hull adds: the engine, monitor and runtime processes, the overlay and network
 *          set-up and teardown, the NIC, the stdio/ctl/exec ports, running the workload.
 *   boot, no root: the floor without virtiofsd and the root mount (hull.probe=1), for reference
 *   hull run --rm IMAGE true                   (the same image as a container)
 *
 *   node dist/bench/vm.js [--runs 3]
 *
 * Budget (issue 7): hull's VM run ≤ 1.2× the floor, printed for both CLI paths. Acceleration as
 * hull chooses it (HULL_VM_ACCEL forces). Between timed runs (untimed) the bench waits until the
 * warm hull's background work is over (its monitors, the pool's refill), as bench/run.ts does.
 * A benchmark reports; it never fails: exit status 0.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { HULL_BIN } from '../test/helpers/hull.js';
import { buildOciLayout, busyboxImage } from '../test/helpers/images.js';
import { chooseAccel } from '../src/vm/accel.js';
import { findKernel, guestInitramfs } from '../src/vm/guest-image.js';
import { QEMU_BINARY, VM_FILES, qemuArgs, virtiofsdCommand } from '../src/vm/qemu.js';
import { median } from './lib/stats.js';
import { settle, warmHull } from './lib/cli-server.js';
import { buildBenchImage, cliOk } from './lib/containers.js';

const execFileP = promisify(execFile);

function timed(cmd: string, args: string[]): Promise<number> {
  return timedIn(undefined, cmd, args);
}

function timedIn(cwd: string | undefined, cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000, ...(cwd ? { cwd } : {}) });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')} exited ${code}: ${err.trim()}`));
      resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  });
}

/** virtiofsd up (its socket there), then QEMU to its power-off: the floor, timed from the first spawn. */
async function floor(work: string, root: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const socket = join(work, VM_FILES.virtiofs);
  const [cmd, ...vargs] = virtiofsdCommand(root, socket);
  const vfsd = spawn(cmd!, vargs, { stdio: 'ignore' });
  try {
    while (!existsSync(socket)) {
      if (vfsd.exitCode !== null) throw new Error('virtiofsd for the floor exited');
      await new Promise((r) => setTimeout(r, 5));
    }
    await timedIn(work, QEMU_BINARY, args);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    vfsd.kill('SIGKILL');
    await rm(socket, { force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const runs = Math.max(1, Number(values.runs));
  const work = await mkdtemp(join(tmpdir(), 'hull-bench-vm-'));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const root = join(work, 'root');
    await buildOciLayout(join(work, 'layout'), busyboxImage({ refName: 'latest' }));
    await execFileP('skopeo', ['copy', '--quiet', `oci:${join(work, 'layout')}`, `oci-archive:${join(work, 'bb.tar')}:busybox:latest`]);
    await execFileP(process.execPath, ['--', HULL_BIN, '--root', root, 'load', '-i', join(work, 'bb.tar')]);
    const kernel = findKernel();
    const initrd = await guestInitramfs(join(root, 'vm'), kernel);
    const accel = await chooseAccel(join(root, 'vm'), kernel.path, initrd, (l) => console.error(l));
    const settings = { kernel: kernel.path, initrd, accel, cpus: 1, memoryMiB: 512, consoleLog: join(work, 'floor.log'), bootTimeoutSeconds: 0, stdin: false };
    // For reference, not the budget: the kernel and init alone, no root share.
    const bareArgs = qemuArgs(settings, { paused: false, probe: true });
    const floorArgs = qemuArgs(settings, { paused: false, probe: 'root' });
    // The floor's root: the image's filesystem (`hull export` of a container of it), a plain directory.
    const floorRoot = join(work, 'floor-root');
    await mkdir(floorRoot);
    const hullCli = (args: string[]): Promise<{ stdout: string }> => execFileP(process.execPath, ['--', HULL_BIN, '--root', root, ...args]);
    const cid = (await hullCli(['create', 'busybox', 'true'])).stdout.trim();
    await hullCli(['export', '-o', join(work, 'rootfs.tar'), cid]);
    await hullCli(['rm', cid]);
    await execFileP('tar', ['-xf', join(work, 'rootfs.tar'), '-C', floorRoot]);
    const hull = (extra: string[]): string[] => ['--', HULL_BIN, '--root', root, 'run', '--rm', ...extra, 'busybox', 'true'];
    // `hull` as on PATH: the native client and a warm worker (a root of its own, same image).
    const image = await buildBenchImage();
    const warm = await warmHull(image, { name: 'hull warm' });
    cleanups.push(async () => {
      await warm.stop();
      await image.remove();
    });
    const warmVm = async (): Promise<number> => {
      const t0 = process.hrtime.bigint();
      await cliOk(warm.engine, ['run', '--rm', '--isolation', 'vm', warm.engine.image, 'true'], { timeoutMs: 300_000 });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      await settle(warm.engine);
      return ms;
    };
    const tools: [string, () => Promise<number>][] = [
      ['hull vm', () => timed(process.execPath, hull(['--isolation', 'vm']))],
      ['hull vm warm', warmVm],
      ['floor (qemu)', () => floor(work, floorRoot, floorArgs)],
      ['boot, no root', () => timed(QEMU_BINARY, bareArgs)],
      ['hull container', () => timed(process.execPath, hull([]))],
    ];
    // One untimed round: caches (initramfs, page cache) warm for everyone.
    for (const [, once] of tools) await once();
    const times = new Map<string, number[]>(tools.map(([n]) => [n, []]));
    for (let r = 0; r < runs; r++) {
      for (let i = 0; i < tools.length; i++) {
        const [name, once] = tools[(i + r) % tools.length]!;
        times.get(name)!.push(await once());
      }
    }
    console.log(`accel ${accel}, ${runs} runs, load average ${loadavg()[0]!.toFixed(1)}`);
    for (const [name, t] of times) console.log(`${name.padEnd(16)} median ${median(t).toFixed(0).padStart(7)} ms   (${t.map((x) => x.toFixed(0)).join(', ')})`);
    for (const [name, label] of [['hull vm', 'cold CLI (node)'], ['hull vm warm', 'warm CLI (hull on PATH)']] as const) {
      const ratio = median(times.get(name)!) / median(times.get('floor (qemu)')!);
      console.log(`budget: ${label.padEnd(24)} ≤ 1.2× floor: ${ratio.toFixed(2)}× ${ratio <= 1.2 ? 'PASS' : 'FAIL'}`);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => console.error(`cleanup: ${e instanceof Error ? e.message : String(e)}`));
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
});
