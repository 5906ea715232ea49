#!/usr/bin/env node
/**
 * hull's VM runtime: an OCI-runtime-shaped command (`create`, `start`, `kill`, `delete`,
 * `state`, `pause`, `resume`, `ps`, `exec`) that runs a bundle as a QEMU virtual machine instead of a
 * runc container. The container monitor (native/monitor) and the engine drive it exactly as
 * they drive runc, so logs, attach, exit recording, stop/kill/rm, restart policies and the
 * crash reconciliation are the container code paths, unchanged (docs/ARCHITECTURE.md, "Virtual machines").
 * They run it through its C front, build/hull-vm-runtime (native/vm/hull-vm-runtime.c), which
 * does start/state/kill/delete itself, without a node start, and execs this script (same
 * arguments) for the verbs here (called directly, this script hands those four to the front).
 *
 *   hull-vm-runtime --root DIR [--log F --log-format json] create --bundle B --pid-file P ID
 *   hull-vm-runtime --root DIR pause|resume|ps|top ID
 *   hull-vm-runtime --root DIR [--log F --log-format json] exec --process FILE [--detach] ID
 *   hull-vm-runtime --root DIR update -r - ID
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, writeFileSync, constants as fsc } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { applyCpuLimits, cgroupDirs, joinCgroup } from './cgroup.js';
import { nativeAddon } from '../util/native.js';
import { messageOf } from '../util/errors.js';
import { packageRoot } from '../util/package-root.js';
import { guestConfig } from './guest-config.js';
import { qmp } from './qmp.js';
import { QEMU_BINARY, VIRTIOFSD_PID_SUFFIX, VM_FILES, qemuArgs, virtiofsdCommand, virtiofsdSocketArg, vmDir, type VmSettings } from './qemu.js';
import { guestMounts, mountFields, qemuShareArgs } from './mounts.js';
import { netnsPath, networkFields, qemuNetArgs, readNetwork, wireTaps, type GuestNetwork } from './network.js';
import { aliveAs, readPid, waitFor } from './proc.js';
import { ExecFailed, vmExec, vmProcessList } from './exec.js';
import type { OciProcess } from '../container/spec/oci-types.js';

class UsageError extends Error {}

interface Parsed {
  root: string;
  verb: string;
  flags: Map<string, string | true>;
  rest: string[];
}

const VALUE_FLAGS = new Set(['--root', '--log', '--log-format', '--bundle', '--pid-file', '--console-socket', '--process']);

function parse(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  let verb = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(0, eq), a.slice(eq + 1));
      else if (VALUE_FLAGS.has(a)) flags.set(a, argv[++i] ?? '');
      else flags.set(a, true);
    } else if (!verb) verb = a;
    else rest.push(a);
  }
  const root = flags.get('--root');
  if (typeof root !== 'string' || !verb) throw new UsageError('usage: hull-vm-runtime --root DIR VERB [ARGS]');
  return { root, verb, flags, rest };
}

async function create(p: Parsed): Promise<void> {
  const id = p.rest[0];
  const bundle = p.flags.get('--bundle');
  const pidFile = p.flags.get('--pid-file');
  if (!id || typeof bundle !== 'string' || typeof pidFile !== 'string') throw new UsageError('create needs --bundle, --pid-file and an id');
  const settings = JSON.parse(readFileSync(join(bundle, 'vm.json'), 'utf8')) as VmSettings;
  const dir = vmDir(p.root, id);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Kept with the VM: start reads its boot timeout and console path from here, exec the bundle.
  writeFileSync(join(dir, 'vm.json'), JSON.stringify({ ...settings, bundle }));
  nativeAddon().mknod(join(dir, VM_FILES.ctlIn), fsc.S_IFIFO | 0o600, 0, 0);
  writeFileSync(join(dir, VM_FILES.ctlOut), '');
  writeFileSync(join(dir, VM_FILES.created), '');
  const log = openSync(join(dir, VM_FILES.qemuLog), 'a');

  // The root, then one virtiofsd per volume or bind (vm/mounts.ts), each with its pid file.
  // Spawned first: they start up while this process reads the network below.
  const mounts = guestMounts(bundle);
  const daemons: { source: string; socket: string; pidFile: string; readonly: boolean }[] = [
    { source: join(bundle, 'rootfs'), socket: VM_FILES.virtiofs, pidFile: VM_FILES.virtiofsdPid, readonly: false },
    ...mounts.shares.map((s) => ({ source: s.dir, socket: `${s.tag}.sock`, pidFile: `${s.tag}${VIRTIOFSD_PID_SUFFIX}`, readonly: s.readonly })),
  ];
  const vfsds: ChildProcess[] = [];
  const killDaemons = (): void => vfsds.forEach((v) => v.kill('SIGKILL'));
  for (const d of daemons) {
    const [cmd, ...args] = virtiofsdCommand(d.source, virtiofsdSocketArg(id, d.socket), d.readonly);
    const vfsd = spawn(cmd!, args, { cwd: dir, stdio: ['ignore', log, log] });
    vfsd.unref();
    vfsds.push(vfsd);
    writeFileSync(join(dir, d.pidFile), String(vfsd.pid));
  }
  // What netavark (or the fast path) made in the container's namespace (vm/network.ts).
  const ns = netnsPath(bundle);
  let net: GuestNetwork = { interfaces: [] };
  try {
    if (ns) net = readNetwork(ns);
  } catch (e) {
    killDaemons();
    throw e;
  }
  for (const [i, d] of daemons.entries()) {
    const vfsd = vfsds[i]!;
    // Polled finely: the socket appears a few ms after the spawn, and QEMU waits for it.
    const up = await waitFor(() => existsSync(join(dir, d.socket)) || vfsd.exitCode !== null, 10_000, 2);
    if (!up || vfsd.exitCode !== null) {
      killDaemons();
      throw new Error(`virtiofsd for ${d.source} did not start: ${tail(join(dir, VM_FILES.qemuLog))}`);
    }
  }

  // The config goes into the FIFO before QEMU opens it; this process holds the FIFO open until
  // QEMU has it too, or the bytes would be dropped with the last open file.
  const ctl = openSync(join(dir, VM_FILES.ctlIn), fsc.O_RDWR);
  const config = guestConfig(bundle, settings, [...networkFields(net), ...mountFields(mounts)]);
  writeFileSync(ctl, Buffer.concat([Buffer.from(`config ${config.length}\n`), config]));

  // fds 3, 4: the container's stdout and stderr, which the guest's ports write; 5: its stdin (-i).
  // In the container's network namespace (nsenter execs, so the pid is QEMU's): its taps are made there.
  const qemuCmd = [QEMU_BINARY, ...qemuArgs(settings, { paused: false }), ...qemuShareArgs(mounts.shares), ...qemuNetArgs(net)];
  const [cmd, ...args] = ns ? ['nsenter', `--net=${ns}`, '--', ...qemuCmd] : qemuCmd;
  // fd 6 (-t): a pty's slave for QEMU, its master for the monitor, as runc hands one over.
  const consoleSocket = p.flags.get('--console-socket');
  const pty = typeof consoleSocket === 'string' ? nativeAddon().openpty() : undefined;
  if (pty) await sendConsole(consoleSocket as string, pty[0]);
  const qemu = spawn(cmd!, args, { cwd: dir, stdio: ['ignore', 'ignore', log, 1, 2, settings.stdin ? 0 : 'ignore', pty ? pty[1] : 'ignore'] });
  pty?.forEach((fd) => nativeAddon().closeFd(fd));
  qemu.unref();
  writeFileSync(join(dir, VM_FILES.qemuPid), String(qemu.pid));
  const up = await waitFor(async () => qemu.exitCode !== null || (await qmpIn(dir, 'query-status').then(() => true, () => false)), 30_000);
  closeSync(ctl);
  closeSync(log);
  if (!up || qemu.exitCode !== null) {
    if (qemu.exitCode === null) qemu.kill('SIGKILL');
    killDaemons();
    throw new Error(`qemu did not start: ${tail(join(dir, VM_FILES.qemuLog))}`);
  }
  if (ns) {
    try {
      wireTaps(ns, net);
    } catch (e) {
      qemu.kill('SIGKILL');
      killDaemons();
      throw new Error(`connecting the VM to its network: ${messageOf(e)}`);
    }
  }
  // The host cgroup stats read and update limits (vm/cgroup.ts): QEMU and its virtiofsds.
  const cgroups = joinCgroup(cgroupDirs(cgroupsPath(bundle)), [qemu.pid!, ...vfsds.map((v) => v.pid!)]);
  writeFileSync(join(dir, CGROUPS_FILE), JSON.stringify(cgroups));
  await writeFile(pidFile, String(qemu.pid));
}

/** The VM's cgroup directories, as create recorded them. */
const CGROUPS_FILE = 'cgroups.json';

function recordedCgroups(dir: string): string[] {
  try {
    return JSON.parse(readFileSync(join(dir, CGROUPS_FILE), 'utf8')) as string[];
  } catch {
    return [];
  }
}

/** config.json's linux.cgroupsPath (the engine writes `hull/<id>`). */
function cgroupsPath(bundle: string): string {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { linux?: { cgroupsPath?: string } };
  return spec.linux?.cgroupsPath || `hull/${basename(bundle)}`;
}

/**
 * `update -r -` (runc's): CPU limits apply to the VM's host processes at once (its vCPU count
 * changes at its next start, from the stored --cpus). Memory is the guest's RAM, fixed at boot.
 */
async function update(p: Parsed): Promise<void> {
  // `update -r - ID`: the id is the last argument.
  const dir = vmDir(p.root, p.rest.at(-1)!);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const r = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { memory?: unknown; pids?: unknown; cpu?: { quota?: number; period?: number; shares?: number } };
  if (r.memory !== undefined) throw new Error("a running VM's memory is its guest RAM, fixed when it boots: stop the VM, update it, and start it again");
  if (r.pids !== undefined) throw new Error('--pids-limit does not apply to a VM: its processes are the guest kernel\'s');
  if (r.cpu) applyCpuLimits(recordedCgroups(dir), r.cpu);
}

/** The pty master to the monitor over its console socket (SCM_RIGHTS), runc's console protocol. */
async function sendConsole(path: string, master: number): Promise<void> {
  const sock = createConnection(path);
  await once(sock, 'connect');
  // node exposes no fd-passing API; the connected socket's own fd is what sendmsg needs.
  const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
  nativeAddon().sendFds(fd, Buffer.from('hull-vm'), [master]);
  sock.destroy();
}

/**
 * QMP through a relative path from the VM directory: a unix socket path may not exceed 107
 * bytes, and `<root>/runtime/<64-hex id>/qmp.sock` does under most roots. This process is
 * one verb long, so changing its cwd is harmless.
 */
function qmpIn(dir: string, command: string): Promise<unknown> {
  process.chdir(dir);
  return qmp(VM_FILES.qmp, command);
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join('; ') || 'no message';
  } catch {
    return 'no message';
  }
}

/** The settings create copied from the bundle, and the bundle's path. */
function bundleSettings(dir: string): VmSettings & { bundle: string } {
  return JSON.parse(readFileSync(join(dir, 'vm.json'), 'utf8')) as VmSettings & { bundle: string };
}

/** `exec --process FILE [--detach] ID`: exits with the process's status (vm/exec.ts). */
async function exec(p: Parsed): Promise<void> {
  const id = p.rest[0];
  const processFile = p.flags.get('--process');
  if (!id || typeof processFile !== 'string') throw new UsageError('exec needs --process and an id');
  const dir = vmDir(p.root, id);
  try {
    if (!aliveAs(readPid(join(dir, VM_FILES.qemuPid)), 'qemu-system') || existsSync(join(dir, VM_FILES.created))) {
      throw new Error('cannot exec in a stopped container');
    }
    const settings = bundleSettings(dir);
    const status = await vmExec({
      dir,
      rootfs: join(settings.bundle, 'rootfs'),
      process: JSON.parse(readFileSync(processFile, 'utf8')) as OciProcess,
      detach: p.flags.has('--detach'),
    });
    process.exit(status);
  } catch (e) {
    // runc's words, which the engine turns into Docker's "OCI runtime exec failed: …".
    if (e instanceof ExecFailed) {
      logError(p, `exec failed: unable to start container process: ${e.message}`);
      process.exit(e.status);
    }
    logError(p, messageOf(e));
    throw e;
  }
}

/** An error in runc's JSON log format (--log F --log-format json), where the engine reads it. */
function logError(p: Parsed, message: string): void {
  const log = p.flags.get('--log');
  if (typeof log !== 'string') return;
  try {
    appendFileSync(log, JSON.stringify({ level: 'error', msg: message, time: new Date().toISOString() }) + '\n');
  } catch {
    // the message still goes to stderr
  }
}

async function pauseResume(p: Parsed, pause: boolean): Promise<void> {
  const dir = vmDir(p.root, p.rest[0]!);
  await qmpIn(dir, pause ? 'stop' : 'cont');
  if (pause) writeFileSync(join(dir, 'paused'), '');
  else await rm(join(dir, 'paused'), { force: true });
}

/**
 * start/kill/delete/state are the C front's (native/vm/hull-vm-runtime.c), which runs this
 * script for the other verbs. Called directly (a VM started before the front existed has this
 * script as its recorded runtime), they are handed to the front with the same arguments. The
 * front sends an id it would not take back here, so those are refused first (no ping-pong).
 */
function byFront(p: Parsed): void {
  const id = p.rest[0];
  if (!id || id.includes('/') || id === '.' || id === '..') throw new UsageError(`${p.verb} needs a container id`);
  const r = spawnSync(join(packageRoot(), 'build', 'hull-vm-runtime'), process.argv.slice(2), { stdio: 'inherit' });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  const p = parse(process.argv.slice(2));
  switch (p.verb) {
    case 'create':
      return create(p);
    case 'start':
    case 'kill':
    case 'delete':
    case 'state':
      return byFront(p);
    case 'pause':
      return pauseResume(p, true);
    case 'resume':
      return pauseResume(p, false);
    case 'ps':
      process.stdout.write(JSON.stringify([readPid(join(vmDir(p.root, p.rest[0]!), VM_FILES.qemuPid))].filter((n) => n > 0)) + '\n');
      return;
    case 'exec':
      return exec(p);
    case 'update':
      return update(p);
    case 'top':
      // Not a runc verb: the guest's processes for `hull top` (engine/container-ops.ts).
      process.stdout.write(await vmProcessList(vmDir(p.root, p.rest[0]!)));
      return;
    default:
      throw new UsageError(`unknown command ${p.verb}`);
  }
}

main().then(
  () => {
    // QEMU and virtiofsd were unref'd: nothing else keeps this process.
    process.exitCode = 0;
  },
  (e: unknown) => {
    process.stderr.write(`${messageOf(e)}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
