/**
 * VMs under stress and failure: the CLI of a foreground VM killed with SIGKILL (the VM lives on
 * under its monitor, as a container does, and `rm -f` removes every trace), five VMs booted,
 * used and removed at once, and exec slots reused after their client died. Bounded in time: TCG
 * boots are slow on shared cores.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { assertOk, hullCommand, type HullResult, runHull, until } from '../helpers/hull.js';
import { vmLeftovers } from '../helpers/leftovers.js';
import { makeVmWork, removeAllVms, removeVmWork, vmTestSkip } from '../helpers/vm.js';
import { cgroupDirs } from '../../src/vm/cgroup.js';
import { FrameReader, encodeFrame, newSessionId } from '../../src/vm/exec-frames.js';
import { VM_FILES } from '../../src/vm/qemu.js';

const ENV: Record<string, string> = { HULL_VM_ACCEL: 'tcg' };
let work: string;
let root: string;

function hull(args: string[]): Promise<HullResult> {
  return runHull(args, { root, env: ENV, timeoutMs: 300_000 });
}

async function ok(args: string[]): Promise<string> {
  return assertOk(args, await hull(args)).stdout;
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
    ({ work, root } = await makeVmWork('hull-vm-rb-', ENV, 253));
  });

  afterEach(async () => {
    // A test that failed half-way leaves its VMs behind: remove every container first, so one
    // failure never cascades into the following tests' leftover checks (rm -f must clean up too).
    assert.deepEqual(await removeAllVms(root, ENV, 300_000), []);
  });

  after(async () => {
    if (work) await removeVmWork(root, work, ENV);
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
    // Every run is awaited before any failure is reported, so the finally removes all five.
    const runs = await Promise.allSettled(names.map(async (n, i) => (await ok(['run', '-d', '--isolation', 'vm', '--memory', '256m', '--name', n, 'busybox', 'sh', '-c', `echo hello-${i}; sleep 600`])).trim()));
    const bootSeconds = (Date.now() - started) / 1000;
    try {
      for (const r of runs) if (r.status === 'rejected') throw r.reason;
      for (const [i, n] of names.entries()) {
        assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', n])).trim(), 'running');
        await until(`the log of ${n}`, async () => ((await ok(['logs', n])) === `hello-${i}\n` ? true : undefined), 60_000);
      }
      const ids = runs.map((r) => (r as PromiseFulfilledResult<string>).value);
      const hostnames = await Promise.all(names.map((n) => ok(['exec', n, 'hostname'])));
      assert.deepEqual(hostnames, ids.map((id) => `${id.slice(0, 12)}\n`));
    } finally {
      await Promise.all(names.map((n) => hull(['rm', '-f', n])));
    }
    const ids = runs.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    await until('every trace of the five VMs to go', () => traces(ids).length === 0 || undefined, 60_000).catch(() => assert.deepEqual(traces(ids), []));
    // Not a timing assertion: for the report (five TCG boots share two cores).
    t.diagnostic(`five VMs up in ${bootSeconds.toFixed(1)} s`);
  });

  test('an exec slot reused after its client died (half a frame left, or killed mid-output) still answers top and exec with their own output', async (t) => {
    const name = `vmslot-${process.pid}`;
    const id = (await ok(['run', '-d', '--isolation', 'vm', '--memory', '256m', '--name', name, 'busybox', 'sleep', '600'])).trim();
    // The VM directory through a short link: a unix socket path is limited to 107 bytes.
    const dir = join(tmpdir(), `hvm-${process.pid}`);
    symlinkSync(join(root, 'runtime', id), dir);
    const connect = async (): Promise<Socket> => {
      const s = createConnection(join(dir, 'exec0.sock'));
      await once(s, 'connect');
      return s;
    };
    try {
      // 1. Half a stdin frame from a client that died, still being delivered (its connection
      // drained) when the next exec on the slot begins: the guest must not read the request
      // behind it as that frame's rest (it waited for 60 s, then top failed).
      const half = await connect();
      half.write(Buffer.concat([encodeFrame('I', newSessionId(), Buffer.alloc(100, 0x61)).subarray(0, 20)]));
      const top = hull(['top', name]);
      await new Promise((r) => setTimeout(r, 1500));
      half.destroy();
      const listing = await top;
      assert.equal(listing.code, 0, listing.stderr);
      assert.match(listing.stdout.split('\n')[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);

      // 2. An exec whose client dies mid-output while the next connection to the slot waits in
      // QEMU's accept queue: QEMU hands the slot over at once, the guest usually never sees a
      // hang-up and its frames for the dead exec go on to the next client (a race: under load
      // the guest may see the hang-up first and end the session, and then none come).
      const [file, argv] = hullCommand(['--root', root, 'exec', name, 'sh', '-c', 'while :; do echo output-of-a-dead-exec; done']);
      const a = spawn(file, argv, { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'ignore'] });
      await once(a.stdout, 'data');
      a.stdout.resume();
      const next = await connect();
      let unasked = Buffer.alloc(0);
      const onData = (d: Buffer): void => void (unasked = Buffer.concat([unasked, d]));
      next.on('data', onData);
      // The exec's runtime holds slot 0 (it writes its pid in the lock file): it is the client that dies.
      process.kill(Number(readFileSync(join(dir, 'exec0.lock'), 'utf8')), 'SIGKILL');
      a.kill('SIGKILL');
      const stale = await until('frames of the dead exec to reach the next client', () => (unasked.length > 0 ? true : undefined), 10_000).catch(() => false);
      t.diagnostic(`the next client got ${unasked.length} bytes of the dead exec's frames unasked`);
      // This client now runs a top of its own on the slot, as vm/exec.ts does (the dead
      // runtime's flock on the slot went with it; nothing else runs an exec meanwhile).
      const session = newSessionId();
      const reader = new FrameReader(session);
      next.off('data', onData);
      const answer = new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no answer; skipped ${reader.skipped} bytes`)), 60_000);
        const take = (d: Buffer): void => {
          for (const f of reader.push(d)) {
            if (f.type === 'O') out += f.data.toString();
            if (f.type === 'X') {
              clearTimeout(timer);
              resolve(out);
            }
          }
        };
        take(unasked);
        next.on('data', take);
      });
      next.write(encodeFrame('L', session));
      writeFileSync(join(dir, VM_FILES.ctlIn), `exec 0 ${session}\n`);
      const own = await answer;
      next.destroy();
      if (stale) assert.ok(reader.skipped > 0, 'the dead exec\'s frames came first and were skipped');
      assert.match(own.split('\n')[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/, own.slice(0, 300));
      assert.doesNotMatch(own, /output-of-a-dead-exec\n/);
      // And the CLI's own execs and tops on the slot are unaffected afterwards.
      assert.equal(await ok(['exec', name, 'echo', 'fine']), 'fine\n');
      assert.match((await ok(['top', name])).split('\n')[0]!, /^UID\s+PID/);
    } finally {
      unlinkSync(dir);
      await hull(['rm', '-f', name]);
    }
  });

  test('rm -f keeps the row while the instance lives on: a monitor that cannot finish makes rm fail loudly, and rm -f works once it can', async () => {
    const name = `vmrm-${process.pid}`;
    const id = (await ok(['run', '-d', '--isolation', 'vm', '--memory', '256m', '--name', name, 'busybox', 'sleep', '600'])).trim();
    const monitor = readdirSync('/proc').find((p) => /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(`hull-monitor\0--id\0${id}`));
    assert.ok(monitor, 'the VM has a monitor');
    // A stopped monitor stands for one that does not get to record the end in time (an
    // overloaded host): QEMU dies, but the monitor cannot see it.
    process.kill(Number(monitor), 'SIGSTOP');
    let resumed = false;
    try {
      const r = await hull(['rm', '-f', name]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^Error response from daemon: Could not kill running container ${id}, cannot remove - its monitor \\(pid ${monitor}\\) is still running`));
      assert.equal((await ok(['ps', '-aq', '--no-trunc'])).trim(), id, 'the row is kept');
      process.kill(Number(monitor), 'SIGCONT');
      resumed = true;
      await ok(['rm', '-f', name]);
      assert.equal((await ok(['ps', '-aq'])).trim(), '');
    } finally {
      if (!resumed) process.kill(Number(monitor), 'SIGCONT');
      await hull(['rm', '-f', name]);
    }
    await until('every trace of the VM to go', () => traces([id]).length === 0 || undefined, 30_000).catch(() => assert.deepEqual(traces([id]), []));
  });
});
