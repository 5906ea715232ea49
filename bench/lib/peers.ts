/**
 * Peer engines for benchmarks: the tools hull is compared against, run in isolation so a
 * benchmark never depends on (or disturbs) a system daemon, and never touches the host network.
 *
 * Docker is Debian's dockerd 20.10 started privately: its own socket, data root, exec root,
 * pidfile, containerd (the managed one dockerd spawns, whose state lives under the exec and
 * data roots) and an empty daemon config, so /etc/docker/daemon.json cannot change what is
 * measured. Networking is off (`--bridge=none`, no iptables/forwarding/masquerade).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, rmSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; the result then has code 124, as timeout(1) does. */
  timeoutMs?: number;
  input?: string;
}

/** Keep at most this much of a child's output: pull progress can be long and is never needed whole. */
const OUTPUT_LIMIT = 64 * 1024;

/** Runs a command to completion without a shell; never rejects for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(-OUTPUT_LIMIT)));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-OUTPUT_LIMIT)));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 600_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? 124 : (code ?? (signal ? 128 : 1)), stdout, stderr });
    });
    // A command that exits without reading its input makes the write fail with EPIPE; its exit status tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like `run`, but a non-zero exit is an error carrying the command's stderr. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r;
}

/** The absolute path of `name` on PATH, or undefined: lets a benchmark skip a peer that is not installed. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** A peer failed to start; `logTail` is the end of its log, which says why. */
export class PeerStartError extends Error {
  constructor(
    message: string,
    readonly logTail: string,
  ) {
    super(message);
    this.name = 'PeerStartError';
  }
}

export interface DockerdPeer {
  /** dockerd's pid: its CPU time is where a `docker pull` does its work. */
  pid: number;
  /** Path of the daemon's API socket. */
  socket: string;
  dataRoot: string;
  execRoot: string;
  logFile: string;
  /**
   * A complete environment for the docker CLI: this process's plus DOCKER_HOST=unix://<socket>
   * and a private DOCKER_CONFIG (so no credentials or contexts of the host user are used).
   */
  env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this daemon. */
  docker(args: readonly string[], opts?: Omit<RunOptions, 'env'>): Promise<RunResult>;
  /** The last `lines` lines of the daemon's log. */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  dockerdBin?: string;
  dockerBin?: string;
  startTimeoutMs?: number;
  /** After SIGTERM, how long dockerd gets to stop its containers and containerd before SIGKILL. */
  stopTimeoutMs?: number;
  /** Appended to dockerd's arguments. */
  extraArgs?: string[];
  /**
   * An existing Linux bridge (with its address) for docker's default `bridge` network
   * (`--bridge=NAME`); without one, dockerd has no default network (`--bridge=none`). Either way
   * dockerd touches no iptables rules and no forwarding sysctl.
   */
  bridge?: string;
}

const DOCKERD_BIN = '/usr/sbin/dockerd';
const DOCKER_BIN = '/usr/local/bin/docker';
const LOG_TAIL_LINES = 40;

let peersStarted = 0;

/**
 * dockerd 20.10 writes these whatever its flags say (trust key, plugin discovery dir). They are
 * removed again on stop when they did not exist before, so a benchmark leaves the host as it was.
 */
const HOST_FILES = ['/etc/docker/key.json'];
const HOST_DIRS = ['/run/docker/plugins', '/run/docker'];

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function removeHostTraces(preexisting: ReadonlySet<string>): Promise<void> {
  // Another peer may still be running and using them.
  if (runningPeers > 0) return;
  for (const f of HOST_FILES) if (!preexisting.has(f)) await rm(f, { force: true });
  // rmdir, not rm -r: a directory something else put files in stays.
  for (const d of HOST_DIRS) if (!preexisting.has(d)) await rmdir(d).catch(() => undefined);
}

let runningPeers = 0;

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

/** GET /_ping on a unix socket; true on HTTP 200. */
function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Signals every process of the group `pgid` (dockerd and the containerd it started); ignores a group that is gone. */
function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/** Mount points at or under `dir`, deepest first, from the mount table text of /proc/self/mountinfo. */
function mountsIn(mountinfo: string, dir: string): string[] {
  const prefix = `${dir}/`;
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    // mountinfo escapes space, tab, newline and backslash as octal.
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function mountsUnder(dir: string): Promise<string[]> {
  return mountsIn(await readFile('/proc/self/mountinfo', 'utf8'), dir);
}

/**
 * Last resort when the benchmark process exits without stop() (a crash, process.exit): only
 * synchronous work is possible in an 'exit' handler. Kill, lazily unmount, remove.
 */
function emergencyCleanup(pgid: number | undefined, dir: string, socket: string): void {
  if (pgid !== undefined) killGroup(pgid, 'SIGKILL');
  try {
    for (const p of mountsIn(readFileSync('/proc/self/mountinfo', 'utf8'), dir)) spawnSync('umount', ['-l', p], { timeout: 10_000 });
    if (mountsIn(readFileSync('/proc/self/mountinfo', 'utf8'), dir).length === 0) rmSync(dir, { recursive: true, force: true });
    rmSync(socket, { force: true });
  } catch {
    // Best effort: the process is exiting anyway.
  }
}

/**
 * Unmounts everything under `dir` (deepest first; lazily if busy), so removing the directory
 * can never delete through a leftover overlay or bind mount into someone else's files.
 * Bounded: a mount that survives a few passes is reported, and the caller must not rm.
 */
export async function unmountAll(dir: string): Promise<string[]> {
  for (let pass = 0; pass < 5; pass++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return [];
    for (const p of points) {
      const r = await run('umount', [p], { timeoutMs: 30_000 });
      if (r.code !== 0) await run('umount', ['-l', p], { timeoutMs: 30_000 });
    }
  }
  return mountsUnder(dir);
}

/**
 * Starts a private dockerd and waits until it answers `_ping`. Throws PeerStartError (with the
 * daemon's log tail) when it exits or does not answer in time; nothing is left behind then.
 */
export async function startDockerd(opts: DockerdOptions = {}): Promise<DockerdPeer> {
  const dockerdBin = opts.dockerdBin ?? DOCKERD_BIN;
  const dockerBin = opts.dockerBin ?? DOCKER_BIN;
  const n = peersStarted++;
  const id = n === 0 ? `${process.pid}` : `${process.pid}-${n}`;
  const dir = await mkdtemp(join(tmpdir(), 'hull-peer-dockerd-'));
  const dataRoot = join(dir, 'data');
  // Short paths: containerd's sockets live under the exec root and unix socket paths are limited to 108 bytes.
  const execRoot = join(dir, 'exec');
  const logFile = join(dir, 'dockerd.log');
  const pidFile = join(dir, 'dockerd.pid');
  const configFile = join(dir, 'daemon.json');
  const clientConfig = join(dir, 'client');
  // /run, as the brief for peers asks: the socket is outside the temp dir so it is easy to find.
  const socket = `/run/docker-peer-${id}.sock`;
  await Promise.all([mkdir(dataRoot), mkdir(execRoot), mkdir(clientConfig)]);
  const preexisting = new Set<string>();
  for (const p of [...HOST_FILES, ...HOST_DIRS]) if (await exists(p)) preexisting.add(p);
  await writeFile(configFile, '{}\n');
  await writeFile(join(clientConfig, 'config.json'), '{}\n');

  const args = [
    `--host=unix://${socket}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${execRoot}`,
    `--pidfile=${pidFile}`,
    `--config-file=${configFile}`,
    '--storage-driver=overlay2',
    `--containerd-namespace=hull-peer-${id}`,
    `--containerd-plugins-namespace=hull-peer-${id}-plugins`,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    opts.bridge ? `--bridge=${opts.bridge}` : '--bridge=none',
    '--userland-proxy=false',
    ...(opts.extraArgs ?? []),
  ];
  const logFd = openSync(logFile, 'a');
  // Its own process group: stop() can SIGKILL dockerd together with the containerd it spawned.
  const child = spawn(dockerdBin, args, { stdio: ['ignore', logFd, logFd], detached: true });
  closeSync(logFd);
  runningPeers++;
  let exitStatus: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = `exited with ${code ?? signal}`;
      resolve();
    });
    child.once('error', (e) => {
      exitStatus = `could not be started: ${e.message}`;
      resolve();
    });
  });
  const pgid = child.pid;
  // A benchmark that crashes must not leave a daemon running; process 'exit' still runs then.
  const killOnExit = (): void => emergencyCleanup(pgid, dir, socket);
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (pgid !== undefined && exitStatus === undefined) {
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(r, opts.stopTimeoutMs ?? 30_000, 'timeout').unref());
      if ((await Promise.race([exited, timer])) === 'timeout') killGroup(pgid, 'SIGKILL');
      await exited;
    }
    if (pgid !== undefined) {
      // containerd exits after dockerd on a clean stop; give it a moment, then make sure.
      for (let i = 0; i < 50 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
      killGroup(pgid, 'SIGKILL');
    }
    process.removeListener('exit', killOnExit);
    runningPeers--;
    await removeHostTraces(preexisting);
    const left = await unmountAll(dir);
    await rm(socket, { force: true });
    if (left.length > 0) throw new Error(`dockerd peer: could not unmount ${left.join(', ')}; left ${dir} in place`);
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  while (true) {
    if (exitStatus !== undefined) {
      const logTail = await tail(logFile, LOG_TAIL_LINES);
      await stop();
      throw new PeerStartError(`dockerd ${exitStatus} during startup`, logTail);
    }
    if (await ping(socket)) break;
    if (Date.now() > deadline) {
      const logTail = await tail(logFile, LOG_TAIL_LINES);
      await stop();
      throw new PeerStartError(`dockerd did not answer on ${socket} within ${opts.startTimeoutMs ?? 60_000} ms`, logTail);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: clientConfig };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;
  return {
    pid: pgid!,
    socket,
    dataRoot,
    execRoot,
    logFile,
    env,
    docker: (dockerArgs, runOpts = {}) => run(dockerBin, dockerArgs, { ...runOpts, env }),
    logTail: (lines = LOG_TAIL_LINES) => tail(logFile, lines),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Podman: a private store and nothing of the host's configuration.

export interface PodmanPeer {
  /** The temp dir holding the store, run root, tmpdir and configuration. */
  dir: string;
  root: string;
  runroot: string;
  /** podman's own global flags (store, run root, cgroup manager, events backend, runtime). */
  globalArgs: string[];
  /** A complete environment for podman: this process's plus the private configuration files. */
  env: NodeJS.ProcessEnv;
  /** Runs podman against this store. */
  podman(args: readonly string[], opts?: Omit<RunOptions, 'env'>): Promise<RunResult>;
  /** Pids of the live (not zombie) conmon processes of this store's containers. */
  conmons(): Promise<number[]>;
  stop(): Promise<void>;
}

export interface PodmanOptions {
  podmanBin?: string;
  /** OCI runtime podman uses; runc, as hull and dockerd do on this host. */
  runtime?: string;
}

/** podman 4.3 creates these for its network backend even with `--network none`; removed on stop if they were not there before. */
const PODMAN_HOST_DIRS = ['/run/containers/networks', '/run/containers'];
/** cgroupfs parent podman puts containers under (per v1 controller, or the unified tree). */
const PODMAN_CGROUP_PARENT = 'libpod_parent';

function hardLimit(name: string): number | undefined {
  // /proc/self/limits: "Max open files            20000                20000                files"
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? undefined : Number(hard);
}

/** Live pids whose command is `comm` and whose command line mentions `needle`; zombies are skipped (pid 1 here reaps slowly). */
export async function processesMatching(comm: string, needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (name !== comm || state === 'Z' || state === 'X') continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

/** cgroup mount points to look for podman's parent cgroup in: every v1 controller, or the unified root. */
async function cgroupRoots(): Promise<string[]> {
  try {
    return (await readdir('/sys/fs/cgroup')).map((d) => join('/sys/fs/cgroup', d));
  } catch {
    return [];
  }
}

/**
 * Prepares a private podman: its own store (`--root`), run root, tmpdir and network config
 * dir in a temp dir, and private containers.conf / storage.conf / registries.conf so the host's
 * /etc/containers cannot change what is measured. cgroupfs (no systemd here), file events
 * (no journald), runc. There is no daemon: every `podman` command opens the store itself.
 *
 * The default ulimits are set explicitly: podman asks runc for RLIMIT_NOFILE 1048576 and an
 * RLIMIT_NPROC above what its own process keeps (32768 here), and without CAP_SYS_RESOURCE
 * (this host's bounding set lacks it) runc cannot raise them, so every container would fail
 * with "error setting rlimit ... operation not permitted".
 */
export async function startPodman(opts: PodmanOptions = {}): Promise<PodmanPeer> {
  const podmanBin = opts.podmanBin ?? (await findOnPath('podman'));
  if (!podmanBin) throw new PeerStartError('podman is not installed (apt-get install -y podman)', '');
  const dir = await mkdtemp(join(tmpdir(), 'hull-peer-podman-'));
  const root = join(dir, 'root');
  const runroot = join(dir, 'run');
  const tmp = join(dir, 'tmp');
  const net = join(dir, 'net');
  await Promise.all([root, runroot, tmp, net].map((d) => mkdir(d)));
  const preexisting = new Set<string>();
  for (const p of PODMAN_HOST_DIRS) if (await exists(p)) preexisting.add(p);
  for (const c of await cgroupRoots()) if (await exists(join(c, PODMAN_CGROUP_PARENT))) preexisting.add(join(c, PODMAN_CGROUP_PARENT));

  const nofile = hardLimit('Max open files') ?? 1024;
  const nproc = Math.min(hardLimit('Max processes') ?? 4096, 32768);
  const runtime = opts.runtime ?? 'runc';
  const containersConf = join(dir, 'containers.conf');
  const storageConf = join(dir, 'storage.conf');
  const registriesConf = join(dir, 'registries.conf');
  await writeFile(
    containersConf,
    [
      '[containers]',
      `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
      '[network]',
      `network_config_dir = ${JSON.stringify(net)}`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `runtime = ${JSON.stringify(runtime)}`,
      '',
    ].join('\n'),
  );
  await writeFile(storageConf, `[storage]\ndriver = "overlay"\nrunroot = ${JSON.stringify(runroot)}\ngraphroot = ${JSON.stringify(root)}\n`);
  await writeFile(registriesConf, '');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
  };
  delete env.CONTAINER_HOST;
  delete env.CONTAINER_CONNECTION;
  const globalArgs = [
    '--root', root,
    '--runroot', runroot,
    '--tmpdir', tmp,
    '--network-config-dir', net,
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--runtime', runtime,
    '--storage-driver', 'overlay',
  ];
  const podman = (args: readonly string[], runOpts: Omit<RunOptions, 'env'> = {}): Promise<RunResult> =>
    run(podmanBin, [...globalArgs, ...args], { ...runOpts, env });
  const conmons = (): Promise<number[]> => processesMatching('conmon', `${root}/`);

  // A crash must not leave conmons or mounts behind (synchronous: 'exit' handlers cannot wait).
  const killOnExit = (): void => {
    try {
      for (const line of spawnSync('pgrep', ['-f', dir], { encoding: 'utf8', timeout: 10_000 }).stdout.split('\n')) {
        if (/^\d+$/.test(line)) process.kill(Number(line), 'SIGKILL');
      }
    } catch {
      // Best effort.
    }
    emergencyCleanup(undefined, dir, join(dir, 'none.sock'));
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // -t 0: no stop grace period; podman rm -f otherwise waits for the stop timeout.
    await podman(['rm', '-af', '-t', '0'], { timeoutMs: 300_000 });
    for (let i = 0; i < 50; i++) {
      const left = await conmons();
      if (left.length === 0) break;
      if (i === 49) for (const pid of left) process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
    await podman(['rmi', '-af'], { timeoutMs: 120_000 });
    process.removeListener('exit', killOnExit);
    for (const p of PODMAN_HOST_DIRS) if (!preexisting.has(p)) await rmdir(p).catch(() => undefined);
    for (const c of await cgroupRoots()) {
      const parent = join(c, PODMAN_CGROUP_PARENT);
      if (!preexisting.has(parent)) await removeEmptyCgroupTree(parent);
    }
    const left = await unmountAll(dir);
    if (left.length > 0) throw new Error(`podman peer: could not unmount ${left.join(', ')}; left ${dir} in place`);
    await rm(dir, { recursive: true, force: true });
  };

  const probe = await podman(['version', '--format', '{{.Client.Version}}'], { timeoutMs: 60_000 });
  if (probe.code !== 0) {
    await stop();
    throw new PeerStartError(`podman version exited ${probe.code}`, (probe.stderr || probe.stdout).trim().slice(-4000));
  }
  return { dir, root, runroot, globalArgs, env, podman, conmons, stop };
}

/** rmdir a cgroup directory tree bottom-up; a cgroup still holding processes stays (rmdir fails with EBUSY). */
async function removeEmptyCgroupTree(dir: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeEmptyCgroupTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// Bare runc: the floor any runc-based engine can reach.

export interface RuncBundle {
  /** The bundle directory: config.json and rootfs/. */
  dir: string;
  /** runc's `--root` (its state directory), private to this bundle. */
  stateRoot: string;
  /** `runc run` of the bundle under `id` (foreground, no tty); the container's exit status is the result's code. */
  run(id: string, opts?: Omit<RunOptions, 'env'>): Promise<RunResult>;
  /** `runc delete --force id`; harmless when `runc run` already removed it. */
  delete(id: string): Promise<void>;
  /** Removes the bundle and runc's state root. */
  remove(): Promise<void>;
}

interface OciDescriptor {
  mediaType: string;
  digest: string;
}

/**
 * Applies one image layer (a tar, gzip-compressed or not) to `rootfs` as an unpacker must:
 * whiteouts (`.wh.NAME`) delete NAME from lower layers and an opaque marker
 * (`.wh..wh..opq`) empties its directory, both before the layer's own entries land.
 */
async function applyLayer(rootfs: string, blob: string, gzip: boolean): Promise<void> {
  const z = gzip ? ['-z'] : [];
  const list = await runOk('tar', [...z, '-tf', blob], { timeoutMs: 120_000 });
  for (const raw of list.stdout.split('\n')) {
    const name = raw.replace(/^\.\//, '').replace(/\/$/, '');
    const slash = name.lastIndexOf('/');
    const parent = name.slice(0, slash + 1);
    const base = name.slice(slash + 1);
    if (!base.startsWith('.wh.')) continue;
    // Never follow the layer out of the rootfs.
    if (name.split('/').includes('..')) throw new Error(`layer ${blob}: refusing ${raw}`);
    if (base === '.wh..wh..opq') {
          const target = join(rootfs, parent);
      for (const e of await readdir(target).catch(() => [] as string[])) await rm(join(target, e), { recursive: true, force: true });
    } else {
      await rm(join(rootfs, parent, base.slice('.wh.'.length)), { recursive: true, force: true });
    }
  }
  // GNU tar matches an exclude pattern without a slash against every name component.
  await runOk('tar', [...z, '-xf', blob, '-C', rootfs, '--numeric-owner', '--same-permissions', '--exclude=.wh.*'], { timeoutMs: 120_000 });
}

/**
 * Unpacks the image of an OCI layout (its only manifest) into a fresh bundle and writes a
 * config.json from `runc spec`, changed only where a non-interactive run needs it: no
 * terminal, `args`, a writable root (as engines give). Namespaces stay runc's defaults (pid,
 * net — a new, empty network namespace —, ipc, uts, mount); no seccomp profile, no extra
 * mounts: this is the floor, not a Docker-equivalent container. With `config`, that config
 * instead (e.g. the one hull generated: the same container as hull's, seccomp and all), with
 * the same three changes.
 */
export async function prepareRuncBundle(
  layoutDir: string,
  args: readonly string[],
  opts: { runcBin?: string; config?: (bundleDir: string) => Promise<Record<string, unknown>> } = {},
): Promise<RuncBundle> {
  const runcBin = opts.runcBin ?? (await findOnPath('runc'));
  if (!runcBin) throw new PeerStartError('runc is not installed', '');
  const dir = await mkdtemp(join(tmpdir(), 'hull-peer-runc-'));
  const rootfs = join(dir, 'rootfs');
  const stateRoot = join(dir, 'state');
  await Promise.all([mkdir(rootfs), mkdir(stateRoot)]);
  try {
    const blob = (d: string): string => join(layoutDir, 'blobs', ...d.split(':'));
    const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as { manifests: OciDescriptor[] };
    const manifestDesc = index.manifests[0];
    if (!manifestDesc || index.manifests.length !== 1) throw new Error(`${layoutDir}: expected exactly one manifest`);
    const manifest = JSON.parse(await readFile(blob(manifestDesc.digest), 'utf8')) as { layers: OciDescriptor[] };
    for (const layer of manifest.layers) await applyLayer(rootfs, blob(layer.digest), layer.mediaType.endsWith('gzip'));
    if (!opts.config) await runOk(runcBin, ['spec', '--bundle', dir], { timeoutMs: 30_000 });
    const spec = (opts.config ? await opts.config(dir) : JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))) as {
      process: { terminal: boolean; args: string[] };
      root: { path: string; readonly: boolean };
    };
    spec.process.terminal = false;
    spec.process.args = [...args];
    spec.root = { path: 'rootfs', readonly: false };
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const runc = (a: readonly string[], o: Omit<RunOptions, 'env'> = {}): Promise<RunResult> =>
    run(runcBin, ['--root', stateRoot, ...a], { timeoutMs: 60_000, ...o });
  return {
    dir,
    stateRoot,
    run: (id, o) => runc(['run', '--bundle', dir, id], o),
    delete: async (id) => {
      await runc(['delete', '--force', id]);
    },
    remove: async () => {
      const left = await unmountAll(dir);
      if (left.length > 0) throw new Error(`runc bundle: could not unmount ${left.join(', ')}; left ${dir} in place`);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
