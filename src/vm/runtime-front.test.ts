/**
 * The VM runtime's C front (native/vm/hull-vm-runtime.c) on a VM directory made by hand: its
 * start/state/kill/delete read and write the files runtime-main.ts's create leaves, and the
 * processes it acts on are stand-ins named as QEMU and virtiofsd are (copies of sleep: the front
 * checks a pid's command name before it signals it). The real QEMU path is the VM integration tests'.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, constants as fsc } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { nativeAddon } from '../util/native.js';
import { vmRuntimePath } from './prepare.js';
import { VM_FILES } from './qemu.js';

let work: string;
const children: ChildProcess[] = [];

before(() => {
  work = mkdtempSync(join(tmpdir(), 'hull-vm-front-'));
  for (const name of ['qemu-system-x86_64', 'virtiofsd']) copyFileSync('/bin/sleep', join(work, name));
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** A stand-in process whose command name is `name`'s (its first 15 bytes, as the kernel keeps it). */
function standIn(name: 'qemu-system-x86_64' | 'virtiofsd'): ChildProcess {
  const c = spawn(join(work, name), ['60'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

function gone(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

/** A VM directory as `create` leaves it: ctl.in (a FIFO, held open by the test as QEMU holds it), ctl.out, vm.json. */
function vmDir(id: string, opts: { ctlOut?: string; bootTimeoutSeconds?: number; created?: boolean } = {}): { root: string; dir: string; ctlIn: number } {
  const root = join(work, 'runtime');
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  nativeAddon().mknod(join(dir, VM_FILES.ctlIn), fsc.S_IFIFO | 0o600, 0, 0);
  const ctlIn = openSync(join(dir, VM_FILES.ctlIn), fsc.O_RDWR | fsc.O_NONBLOCK);
  writeFileSync(join(dir, VM_FILES.ctlOut), opts.ctlOut ?? '');
  writeFileSync(join(dir, 'console.log'), '[    0.1] first\n[    0.2] hull-vm-init: init running\n');
  writeFileSync(join(dir, 'vm.json'), JSON.stringify({ consoleLog: join(dir, 'console.log'), bootTimeoutSeconds: opts.bootTimeoutSeconds ?? 90, bundle: '/nonexistent' }));
  if (opts.created !== false) writeFileSync(join(dir, VM_FILES.created), '');
  return { root, dir, ctlIn };
}

function front(root: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(vmRuntimePath(), ['--root', root, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What the front wrote to ctl.in (non-blocking: nothing written reads as EAGAIN). */
function readFifo(fd: number): string {
  const buf = Buffer.alloc(4096);
  try {
    return buf.toString('utf8', 0, readSync(fd, buf));
  } catch {
    return '';
  }
}

test('state: a missing VM is an error; a pid file whose process is not QEMU means stopped', () => {
  const root = join(work, 'runtime');
  mkdirSync(root, { recursive: true });
  const missing = front(root, 'state', 'nope');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /container "nope" does not exist/);
  const { dir, ctlIn } = vmDir('st1');
  writeFileSync(join(dir, VM_FILES.qemuPid), String(process.pid));
  assert.deepEqual(JSON.parse(front(root, 'state', 'st1').stdout), { ociVersion: '1.0.2', id: 'st1', pid: 0, status: 'stopped' });
  const qemu = standIn('qemu-system-x86_64');
  writeFileSync(join(dir, VM_FILES.qemuPid), String(qemu.pid));
  assert.equal((JSON.parse(front(root, 'state', 'st1').stdout) as { status: string }).status, 'created');
  rmSync(join(dir, VM_FILES.created));
  assert.deepEqual(JSON.parse(front(root, 'state', 'st1').stdout), { ociVersion: '1.0.2', id: 'st1', pid: qemu.pid, status: 'running' });
  closeSync(ctlIn);
});

test('start: says "start" on hull.ctl, is no longer created, and returns when the guest reports it started', async () => {
  const qemu = standIn('qemu-system-x86_64');
  const { root, dir, ctlIn } = vmDir('s1', { ctlOut: 'stage ready\n' });
  writeFileSync(join(dir, VM_FILES.qemuPid), String(qemu.pid));
  // The report comes a moment after the start line (the front waits on ctl.out).
  const t = setTimeout(() => appendFileSync(join(dir, VM_FILES.ctlOut), 'started\n'), 300);
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(vmRuntimePath(), ['--root', root, 'start', 's1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stderr }));
  });
  clearTimeout(t);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFifo(ctlIn), 'start\n');
  assert.equal(existsSync(join(dir, VM_FILES.created)), false);
  closeSync(ctlIn);
});

test('start: a guest that reports an error or its exit has started too', () => {
  for (const [i, report] of ['error exec: "x": executable file not found in $PATH\n', 'started\nexit 3\n', 'signal 9\n'].entries()) {
    const qemu = standIn('qemu-system-x86_64');
    const { root, dir, ctlIn } = vmDir(`s2${i}`, { ctlOut: `stage ready\n${report}` });
    writeFileSync(join(dir, VM_FILES.qemuPid), String(qemu.pid));
    const r = front(root, 'start', `s2${i}`);
    assert.equal(r.code, 0, r.stderr);
    closeSync(ctlIn);
  }
});

test('start: a guest that powers off first, or does not report in time, is a start failure with where it stopped', async () => {
  const { root, dir, ctlIn } = vmDir('s3', { ctlOut: 'stage control port open\nstage config read\n' });
  writeFileSync(join(dir, VM_FILES.qemuPid), '999999999');
  writeFileSync(join(dir, 'qemu.log'), 'qemu: one\nqemu: two\n');
  const off = front(root, 'start', 's3');
  assert.equal(off.code, 1);
  assert.match(
    off.stderr,
    /^the VM powered off while booting \(kernel panic\?\) \(the guest init's last stage: config read, \d+ s after QEMU started\); console: \[ {4}0\.1\] first; \[ {4}0\.2\] hull-vm-init: init running; QEMU: qemu: one; qemu: two\n$/,
  );
  closeSync(ctlIn);

  const qemu = standIn('qemu-system-x86_64');
  const late = vmDir('s4', { bootTimeoutSeconds: 1 });
  writeFileSync(join(late.dir, VM_FILES.qemuPid), String(qemu.pid));
  writeFileSync(join(late.dir, 'console.log'), '');
  const hung = front(late.root, 'start', 's4');
  assert.equal(hung.code, 1);
  assert.match(hung.stderr, /^the VM did not boot within 1 s \(the guest init never opened its control port, \d+ s after QEMU started\); console: empty \(the kernel printed no warning and never reached the init\); QEMU: no message\n$/);
  await gone(qemu); // killed by the front
  assert.equal(qemu.signalCode, 'SIGKILL');
  closeSync(late.ctlIn);
});

test('kill: a signal line for the guest; --all and a created VM pull the plug; a bad name is a usage error', async () => {
  const qemu = standIn('qemu-system-x86_64');
  const { root, dir, ctlIn } = vmDir('k1', { created: false });
  writeFileSync(join(dir, VM_FILES.qemuPid), String(qemu.pid));
  assert.equal(front(root, 'kill', 'k1', 'SIGTERM').code, 0);
  assert.equal(front(root, 'kill', 'k1', 'hup').code, 0);
  assert.equal(front(root, 'kill', 'k1', '10').code, 0);
  assert.equal(readFifo(ctlIn), 'signal 15\nsignal 1\nsignal 10\n');
  const bad = front(root, 'kill', 'k1', 'BOGUS');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid signal BOGUS/);
  assert.equal(front(root, 'kill', '--all', 'k1', 'KILL').code, 0);
  await gone(qemu);
  assert.equal(qemu.signalCode, 'SIGKILL');
  const after = front(root, 'kill', 'k1', 'TERM');
  assert.equal(after.code, 1);
  assert.match(after.stderr, /container not running/);
  closeSync(ctlIn);
});

test('delete: kills QEMU and every virtiofsd, then removes their lock files, the cgroup and the directory', async () => {
  const qemu = standIn('qemu-system-x86_64');
  const vfsd = standIn('virtiofsd');
  const vol = standIn('virtiofsd');
  const id = `hull-front-test-${process.pid}`;
  const { root, dir, ctlIn } = vmDir(id);
  closeSync(ctlIn);
  writeFileSync(join(dir, VM_FILES.qemuPid), String(qemu.pid));
  writeFileSync(join(dir, VM_FILES.virtiofsdPid), String(vfsd.pid));
  writeFileSync(join(dir, 'hullvol0.virtiofsd.pid'), String(vol.pid));
  // An empty directory stands in for the cgroup (rmdir is all delete does to it).
  const cgroup = join(work, 'cgroup', id);
  mkdirSync(cgroup, { recursive: true });
  writeFileSync(join(dir, 'cgroups.json'), JSON.stringify([cgroup]));
  // QEMU 7.2's virtiofsd pid locks, named after the socket path (qemu.ts virtiofsdSocketArg).
  mkdirSync('/run/virtiofsd', { recursive: true });
  const locks = [`/run/virtiofsd/...${id}.vfsd.sock.pid`, `/run/virtiofsd/...${id}.hullvol0.sock.pid`];
  for (const l of locks) writeFileSync(l, '');
  const r = front(root, 'delete', '--force', id);
  assert.equal(r.code, 0, r.stderr);
  await Promise.all([qemu, vfsd, vol].map(gone));
  assert.deepEqual([qemu, vfsd, vol].map((c) => c.signalCode), ['SIGKILL', 'SIGKILL', 'SIGKILL']);
  assert.deepEqual([dir, cgroup, ...locks].filter((p) => existsSync(p)), []);
  // Nothing there: nothing to do.
  assert.equal(front(root, 'delete', '--force', id).code, 0);
});

test('delete never signals a process the pid file names that is not QEMU (pids are reused)', () => {
  const { root, dir, ctlIn } = vmDir('d2');
  closeSync(ctlIn);
  const stranger = standIn('virtiofsd');
  writeFileSync(join(dir, VM_FILES.qemuPid), String(stranger.pid));
  assert.equal(front(root, 'delete', 'd2').code, 0);
  assert.equal(stranger.exitCode, null);
  assert.equal(stranger.signalCode, null);
  assert.equal(existsSync(dir), false);
  assert.equal(readFileSync(`/proc/${stranger.pid}/comm`, 'utf8').trim(), 'virtiofsd');
});

test('the other verbs are the node runtime\'s, with the same arguments', () => {
  const { root, dir, ctlIn } = vmDir('n1');
  closeSync(ctlIn);
  writeFileSync(join(dir, VM_FILES.qemuPid), '4242');
  assert.deepEqual(JSON.parse(front(root, 'ps', 'n1').stdout), [4242]);
  const usage = spawnSync(vmRuntimePath(), ['start'], { encoding: 'utf8' });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /usage: hull-vm-runtime --root DIR VERB/);
  const noId = spawnSync(vmRuntimePath(), ['--root', root, 'delete', '--force'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(noId.status, 2);
  assert.match(noId.stderr, /delete needs a container id/);
});

test('runtime-main.js called directly (the runtime a VM started before the front recorded) hands start/state/kill/delete to the front', () => {
  const { root, dir, ctlIn } = vmDir('m1');
  closeSync(ctlIn);
  const main = join(dirname(vmRuntimePath()), '..', 'dist', 'src', 'vm', 'runtime-main.js');
  const state = spawnSync(main, ['--root', root, 'state', 'm1'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(state.status, 0, state.stderr);
  assert.equal((JSON.parse(state.stdout) as { status: string }).status, 'stopped');
  const del = spawnSync(main, ['--root', root, 'delete', '--force', 'm1'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(del.status, 0, del.stderr);
  assert.equal(existsSync(dir), false);
  const missing = spawnSync(main, ['--root', root, 'state', 'm1'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /container "m1" does not exist/);
});
