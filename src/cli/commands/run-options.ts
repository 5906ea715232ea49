/**
 * `hull run` / `hull create` flags, and their translation into Docker's create request, as the
 * docker CLI does it (cli/command/container/opts.go): the engine then sees exactly what
 * `docker run` would send to a daemon.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Ulimit } from '../../container/model.js';
import { expandEnvFlag, parseEnvFile } from '../../container/exec.js';
import { parseDeviceMapping } from '../../container/spec/devices.js';
import type { CreateRequest } from '../../engine/container-create.js';
import { HullError } from '../../util/errors.js';
import { collect } from '../context.js';
import { keyValueFlags } from '../key-values.js';
import { parseBytes } from '../../util/units.js';
import { splitVolumeFlags } from './mount-flag.js';
import { networkingConfig, portOptions, type NetFlags } from './network-options.js';

export interface RunFlags extends NetFlags {
  name?: string;
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  label?: string[];
  readOnly?: boolean;
  tmpfs?: string[];
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  pidsLimit?: string;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  securityOpt?: string[];
  device?: string[];
  ulimit?: string[];
  init?: boolean;
  restart?: string;
  stopSignal?: string;
  stopTimeout?: string;
  groupAdd?: string[];
  addHost?: string[];
  dns?: string[];
  logDriver?: string;
  logOpt?: string[];
  runtime?: string;
  shmSize?: string;
  oomScoreAdj?: string;
  isolation?: string;
  kernel?: string;
  platform?: string;
  pull?: string;
  sigProxy?: boolean;
  detachKeys?: string;
  volume?: string[];
  mount?: string[];
  volumesFrom?: string[];
}

/** Registers the flags shared by run and create. */
export function addCreateFlags(cmd: Command): Command {
  return cmd
    .option('--name <string>', 'Assign a name to the container')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <list>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-h, --hostname <string>', 'Container host name')
    .option('-l, --label <list>', 'Set meta data on a container', collect)
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--tmpfs <list>', 'Mount a tmpfs directory', collect)
    .option('-v, --volume <list>', 'Bind mount a volume', collect)
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect)
    .option('--volumes-from <list>', 'Mount volumes from the specified container(s)', collect)
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--cap-add <list>', 'Add Linux capabilities', collect)
    .option('--cap-drop <list>', 'Drop Linux capabilities', collect)
    .option('--privileged', 'Give extended privileges to this container')
    .option('--security-opt <list>', 'Security Options', collect)
    .option('--device <list>', 'Add a host device to the container', collect)
    .option('--ulimit <ulimit>', 'Ulimit options', collect)
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('--restart <string>', 'Restart policy to apply when a container exits', 'no')
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-timeout <int>', 'Timeout (in seconds) to stop a container')
    .option('--group-add <list>', 'Add additional groups to join', collect)
    .option('--net, --network <network>', 'Connect a container to a network', 'default')
    .option('--network-alias <list>', 'Add network-scoped alias for the container', collect)
    .option('--ip <string>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect)
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('--expose <list>', 'Expose a port or a range of ports', collect)
    .option('--add-host <list>', 'Add a custom host-to-IP mapping (host:ip)', collect)
    .option('--dns <list>', 'Set custom DNS servers', collect)
    .option('--log-driver <string>', 'Logging driver for the container', 'json-file')
    .option('--log-opt <list>', 'Log driver options', collect)
    .option('--runtime <string>', 'Runtime to use for this container')
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--oom-score-adj <int>', "Tune host's OOM preferences (-1000 to 1000)")
    .option('--isolation <string>', 'Container isolation technology')
    .option('--kernel <path>', 'Guest kernel to boot with --isolation vm (default: $HULL_VM_KERNEL, else the newest installed cloud kernel)')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('--pull <string>', 'Pull image before running ("always", "missing", "never")', 'missing');
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "${flag}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

/**
 * `--env-file` files, then `-e` flags, as the docker CLI reads them (opts.ParseEnvFile and
 * ValidateEnv); run, create and exec share it.
 */
export function envFromFlags(envFiles: readonly string[] = [], envs: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const file of envFiles) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new HullError('INVALID_ARGUMENT', `open ${file}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    out.push(...parseEnvFile(text, file));
  }
  for (const e of envs) {
    const v = expandEnvFlag(e);
    if (v !== undefined) out.push(v);
  }
  return out;
}

const ULIMIT_NAMES = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

export function parseUlimit(v: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (!m) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--ulimit" flag: invalid ulimit argument: ${v}`);
  if (!ULIMIT_NAMES.includes(m[1]!)) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--ulimit" flag: invalid ulimit type: ${m[1]}`);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard && hard !== -1) {
    throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  }
  return { Name: m[1]!, Soft: soft, Hard: hard };
}

export function parseRestart(v: string): { Name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount: number } {
  const [name, count] = v.split(':');
  if (name !== 'no' && name !== 'always' && name !== 'unless-stopped' && name !== 'on-failure') {
    throw new HullError('INVALID_ARGUMENT', `invalid restart policy '${v}'`);
  }
  if (count !== undefined && (name !== 'on-failure' || !/^\d+$/.test(count))) {
    throw new HullError('INVALID_ARGUMENT', `invalid restart policy format: maximum retry count must be used with on-failure and be an integer: ${v}`);
  }
  return { Name: name, MaximumRetryCount: count === undefined ? 0 : Number(count) };
}

function parseCpus(v: string): number {
  if (!/^\d*\.?\d+$/.test(v)) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--cpus" flag: failed to parse ${v} as a rational number`);
  return Math.round(Number(v) * 1e9);
}

function parseTmpfs(list: string[] | undefined): Record<string, string> | null {
  if (!list || list.length === 0) return null;
  const out: Record<string, string> = {};
  for (const t of list) {
    const i = t.indexOf(':');
    const dest = i === -1 ? t : t.slice(0, i);
    if (!dest.startsWith('/')) throw new HullError('INVALID_ARGUMENT', `invalid argument "${t}" for "--tmpfs" flag: invalid mount path ${dest}: must be absolute`);
    out[dest] = i === -1 ? '' : t.slice(i + 1);
  }
  return out;
}

function parseAddHost(v: string): string {
  const i = v.search(/[:=]/);
  if (i <= 0 || i === v.length - 1) throw new HullError('INVALID_ARGUMENT', `invalid argument "${v}" for "--add-host" flag: bad format for add-host: "${v}"`);
  return `${v.slice(0, i)}:${v.slice(i + 1)}`;
}

/** Flags → Docker's create request. */
export function toCreateRequest(image: string, command: string[], f: RunFlags): CreateRequest {
  const env = envFromFlags(f.envFile, f.env);
  const memory = f.memory !== undefined ? parseBytes(f.memory) : 0;
  const memorySwap = f.memorySwap === undefined ? 0 : f.memorySwap === '-1' ? -1 : parseBytes(f.memorySwap);
  const logConfig = keyValueFlags(f.logOpt, '--log-opt');
  const attach = !f.detach;
  const vols = splitVolumeFlags(f.volume, f.mount);
  const ports = portOptions(f);
  return {
    ...networkingConfig(f),
    Config: {
      Image: image,
      ...(command.length > 0 ? { Cmd: command } : {}),
      ...(f.entrypoint !== undefined ? { Entrypoint: f.entrypoint === '' ? [] : [f.entrypoint] } : {}),
      Env: env,
      ...(f.workdir !== undefined ? { WorkingDir: f.workdir } : {}),
      ...(f.user !== undefined ? { User: f.user } : {}),
      ...(f.hostname !== undefined ? { Hostname: f.hostname } : {}),
      Labels: keyValueFlags(f.label, '--label'),
      Tty: f.tty ?? false,
      OpenStdin: f.interactive ?? false,
      StdinOnce: (f.interactive ?? false) && attach,
      AttachStdin: (f.interactive ?? false) && attach,
      AttachStdout: attach,
      AttachStderr: attach,
      ...(f.stopSignal !== undefined ? { StopSignal: f.stopSignal } : {}),
      ...(f.stopTimeout !== undefined ? { StopTimeout: int('--stop-timeout', f.stopTimeout)! } : {}),
      ...(vols.volumes ? { Volumes: vols.volumes } : {}),
      ...ports.config,
    },
    HostConfig: {
      AutoRemove: f.rm ?? false,
      ReadonlyRootfs: f.readOnly ?? false,
      Tmpfs: parseTmpfs(f.tmpfs),
      Binds: vols.binds,
      ...(vols.mounts ? { Mounts: vols.mounts } : {}),
      VolumesFrom: f.volumesFrom ?? null,
      Memory: memory,
      MemorySwap: memorySwap,
      NanoCpus: f.cpus !== undefined ? parseCpus(f.cpus) : 0,
      CpuShares: int('--cpu-shares', f.cpuShares) ?? 0,
      PidsLimit: int('--pids-limit', f.pidsLimit) ?? null,
      CapAdd: f.capAdd ?? null,
      CapDrop: f.capDrop ?? null,
      Privileged: f.privileged ?? false,
      SecurityOpt: f.securityOpt ?? null,
      Devices: f.device ? f.device.map(parseDeviceMapping) : null,
      Ulimits: f.ulimit ? f.ulimit.map(parseUlimit) : null,
      Init: f.init ?? null,
      RestartPolicy: parseRestart(f.restart ?? 'no'),
      GroupAdd: f.groupAdd ?? null,
      NetworkMode: f.network ?? 'default',
      ...ports.host,
      ExtraHosts: f.addHost ? f.addHost.map(parseAddHost) : null,
      Dns: f.dns ?? null,
      LogConfig: { Type: f.logDriver ?? 'json-file', Config: logConfig },
      ...(f.runtime !== undefined ? { Runtime: f.runtime } : {}),
      ...(f.shmSize !== undefined ? { ShmSize: parseBytes(f.shmSize) } : {}),
      ...(f.oomScoreAdj !== undefined ? { OomScoreAdj: int('--oom-score-adj', f.oomScoreAdj)! } : {}),
      ...(f.isolation !== undefined ? { Isolation: f.isolation } : {}),
      ...(f.kernel !== undefined ? { VmKernel: resolve(f.kernel) } : {}),
    },
  };
}
