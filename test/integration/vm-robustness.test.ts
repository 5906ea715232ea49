/**
 * VMs under stress and failure: the CLI of a foreground VM killed with SIGKILL (the VM lives on
 * under its monitor, as a container does, and `rm -f` removes every trace), and five VMs booted,
 * used and removed at once. Bounded in time: TCG boots are slow on shared cores.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { loadBusybox } from '../helpers/images.js';
import { hullCommand, runHull, until, type HullResult } from '../helpers/hull.js';
import { vmLeftovers } from '../helpers/leftovers.js';
import { vmTestSkip } from '../helpers/vm.js';
import { cgroupDirs } from '../../src/vm/cgroup.js';

const ENV: Record<string, string> = { HULL_VM_ACCEL: 'tcg' };
let work: string;
let root: string;

function hull(args: string[]): Promise<HullResult> {
  return runHull(args, { root, env: ENV, timeoutMs: 300_000 });
}

async function ok(args: string[]): Promise<string> {
  const r = await hull(args);
  assert.equal(r.code, 0, `hull ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** Every trace a VM can leave: QEMU, virtiofsd, mounts under the root, its netns, runtime directory, cgroup. */
function traces(ids: readonly string[]): string[] {
  const left = vmLeftovers(root);
  for (const id of ids) {
    if (existsSync(`/run/netns/hull-${id}`)) left.push(`netns hull-${id}`);
    if (existsSync(join(root, 'runtime', id))) left.push(`runtime dir of ${id}`);
    // The VM's host cgroup (vm/cgroup.ts), placed as from this process: hull runs in its cgroup.
    for (const dir of cgroupDirs(`hull/${id}`)) if (existsSync(dir)) left.push(`cgroup ${dir}`);
  }
  return left;
}

describe('VM robustness', { skip: vmTestSkip(), concurrency: 1, timeout: 900_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-vm-rb-'));
    root = join(work, 'root');
    await loadBusybox(root, work);
    // Names the network's DNS does not know go to a loopback address nobody serves.
    await writeFile(join(work, 'upstream-resolv.conf'), `nameserver 127.53.${process.pid % 250}.253\n`);
    ENV.HULL_DNS_UPSTREAM_FILE = join(work, 'upstream-resolv.conf');
  });

  afterEach(async () => {
    await until('no QEMU, virtiofsd or mount left', () => vmLeftovers(root).length === 0 || undefined, 30_000).catch(() => assert.deepEqual(vmLeftovers(root), []));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('kill -9 of a foreground `run --isolation vm` leaves the VM running under its monitor; rm -f then removes QEMU, virtiofsd, mounts, netns and state', async () => {
    const name = `vmk9-${process.pid}`;
    const [file, argv] = hullCommand(['--root', root, 'run', '--isolation', 'vm', '--name', name, 'busybox', 'sh', '-c', 'echo up; sleep 600']);
    const cli = spawn(file, argv, { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until('the VM workload to print', () => (out.includes('up') ? true : undefined), 240_000);
    } finally {
      cli.kill('SIGKILL');
    }
    await once(cli, 'exit');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', name])).trim(), 'running');
    assert.equal(await ok(['exec', name, 'echo', 'still-here']), 'still-here\n');
    assert.match(await ok(['logs', name]), /^up$/m);
    const id = (await ok(['inspect', '-f', '{{.Id}}', name])).trim();
    assert.ok(existsSync(`/run/netns/hull-${id}`), 'the running VM has its network namespace');
    assert.ok(cgroupDirs(`hull/${id}`).some((d) => existsSync(d)), 'the running VM has its cgroup');
    await ok(['rm', '-f', name]);
    await until('every trace of the VM to go', () => traces([id]).length === 0 || undefined, 30_000).catch(() => assert.deepEqual(traces([id]), []));
  });

  test('five VMs boot in parallel, each runs, logs and execs its own workload, and all are removed cleanly', async (t) => {
    const names = [1, 2, 3, 4, 5].map((i) => `vmpar${i}-${process.pid}`);
    const started = Date.now();
    const ids = await Promise.all(names.map(async (n, i) => (await ok(['run', '-d', '--isolation', 'vm', '--memory', '256m', '--name', n, 'busybox', 'sh', '-c', `echo hello-${i}; sleep 600`])).trim()));
    const bootSeconds = (Date.now() - started) / 1000;
    try {
      for (const [i, n] of names.entries()) {
        assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', n])).trim(), 'running');
        await until(`the log of ${n}`, async () => ((await ok(['logs', n])) === `hello-${i}\n` ? true : undefined), 60_000);
      }
      const hostnames = await Promise.all(names.map((n) => ok(['exec', n, 'hostname'])));
      assert.deepEqual(hostnames, ids.map((id) => `${id.slice(0, 12)}\n`));
    } finally {
      await Promise.all(names.map((n) => hull(['rm', '-f', n])));
    }
    await until('every trace of the five VMs to go', () => traces(ids).length === 0 || undefined, 60_000).catch(() => assert.deepEqual(traces(ids), []));
    // Not a timing assertion: for the report (five TCG boots share two cores).
    t.diagnostic(`five VMs up in ${bootSeconds.toFixed(1)} s`);
  });
});
