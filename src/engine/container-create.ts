/**
 * From a create request (Docker's POST /containers/create body) and the image's config to the
 * documents a container keeps: defaults filled in, image settings merged as Docker merges
 * them, every value checked before anything is written.
 */
import { cpus } from 'node:os';
import type { ImageConfig } from '../image/config.js';
import type { ContainerConfig, ContainerDoc, HostConfig, RestartPolicy } from '../container/model.js';
import { resolveCapabilities } from '../container/spec/capabilities.js';
import { chooseRuntime } from '../container/runtime.js';
import { validateVmRequest } from '../vm/prepare.js';
import { HullError } from '../util/errors.js';
import type { EndpointRequest } from './networks.js';

export interface CreateRequest {
  Config: Partial<ContainerConfig> & { Image: string };
  HostConfig?: Partial<HostConfig>;
  /** `--network NAME --ip --network-alias`: Docker's NetworkingConfig, checked by engine/networks.ts. */
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointRequest> };
}

const MIN_MEMORY = 6 * 1024 * 1024;
const RESTART_NAMES = new Set(['', 'no', 'always', 'unless-stopped', 'on-failure']);

function invalid(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

/** Env lists merged by key, later entries winning (Docker's ReplaceOrAppendEnvValues). */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  for (const kv of overrides) {
    const key = kv.includes('=') ? kv.slice(0, kv.indexOf('=')) : kv;
    const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === key);
    if (!kv.includes('=')) {
      // `-e NAME` without a value removes it when the CLI had nothing to take from its environment.
      if (i !== -1) out.splice(i, 1);
      continue;
    }
    if (i === -1) out.push(kv);
    else out[i] = kv;
  }
  return out;
}

function validateRestart(p: RestartPolicy, autoRemove: boolean): RestartPolicy {
  if (!RESTART_NAMES.has(p.Name)) throw invalid(`invalid restart policy '${p.Name}'`);
  if (p.MaximumRetryCount < 0) throw invalid('invalid restart policy: maximum retry count cannot be negative');
  if (p.MaximumRetryCount > 0 && p.Name !== 'on-failure') throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if (autoRemove && p.Name !== '' && p.Name !== 'no') throw invalid('can\'t create \'AutoRemove\' container with restart policy');
  return p;
}

function validateResources(h: HostConfig): void {
  if (h.Memory !== 0 && h.Memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (h.MemorySwap > 0 && h.Memory > 0 && h.MemorySwap < h.Memory) {
    throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (h.MemorySwap > 0 && h.Memory === 0) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  // os.cpus() reads /proc/stat and /proc/cpuinfo: only when there is a value to check.
  const n = h.NanoCpus !== 0 ? cpus().length : 0;
  if (h.NanoCpus < 0 || (h.NanoCpus > 0 && h.NanoCpus > n * 1e9)) {
    throw invalid(`Range of CPUs is from 0.01 to ${n.toFixed(2)}, as there are only ${n} CPUs available`);
  }
  if (h.NanoCpus > 0 && (h.CpuQuota > 0 || h.CpuPeriod > 0)) {
    throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  if (h.CpuShares < 0) throw invalid('invalid CPU shares');
}

const SECURITY_OPT_KEYS = ['no-new-privileges', 'seccomp', 'apparmor', 'label'];

function validateSecurityOpts(opts: readonly string[]): void {
  for (const o of opts) {
    const key = o.split(/[=:]/)[0]!;
    if (!SECURITY_OPT_KEYS.includes(key)) throw invalid(`invalid --security-opt 2: "${o}"`);
    if (key === 'no-new-privileges') {
      const v = o.slice(key.length + 1);
      if (o.length > key.length && v !== 'true' && v !== 'false') throw invalid(`invalid --security-opt 2: "${o}"`);
    }
  }
}

export function defaultHostConfig(): HostConfig {
  return {
    Binds: null,
    NetworkMode: 'default',
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    CapAdd: null,
    CapDrop: null,
    Privileged: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    Tmpfs: null,
    Memory: 0,
    MemorySwap: 0,
    NanoCpus: 0,
    CpuShares: 0,
    CpuQuota: 0,
    CpuPeriod: 0,
    PidsLimit: null,
    Devices: null,
    Ulimits: null,
    Init: null,
    GroupAdd: null,
    LogConfig: { Type: 'json-file', Config: {} },
    ShmSize: 64 * 1024 * 1024,
    Runtime: '',
    Isolation: '',
    ExtraHosts: null,
    Dns: null,
    OomScoreAdj: 0,
    VolumesFrom: null,
  };
}

/**
 * Docker's rules: a user Entrypoint drops the image's Cmd unless Cmd is also given; Env merges
 * by key; WorkingDir, User, StopSignal fall back to the image; labels and ports merge.
 */
export function buildContainerDoc(req: CreateRequest, image: ImageConfig, id: string): ContainerDoc {
  const c = req.Config;
  const ic = image.config ?? {};
  const userEntrypoint = c.Entrypoint !== undefined && c.Entrypoint !== null;
  const entrypoint = userEntrypoint ? c.Entrypoint! : (ic.Entrypoint ?? null);
  const entrypointGiven = userEntrypoint && c.Entrypoint!.length > 0;
  const cmd = c.Cmd !== undefined && c.Cmd !== null && c.Cmd.length > 0 ? c.Cmd : entrypointGiven || userEntrypoint ? null : (ic.Cmd ?? null);
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0) throw invalid('No command specified');

  const hostDefaults = defaultHostConfig();
  const h: HostConfig = { ...hostDefaults, ...stripUndefined(req.HostConfig ?? {}) };
  h.RestartPolicy = validateRestart({ ...hostDefaults.RestartPolicy, ...(req.HostConfig?.RestartPolicy ?? {}) }, h.AutoRemove);
  if (!h.RestartPolicy.Name) h.RestartPolicy.Name = 'no';
  // Docker's default: swap as large as memory (memory+swap = 2 × memory).
  if (h.Memory > 0 && h.MemorySwap === 0) h.MemorySwap = 2 * h.Memory;
  validateResources(h);
  validateSecurityOpts(h.SecurityOpt ?? []);
  resolveCapabilities({ capAdd: h.CapAdd ?? [], capDrop: h.CapDrop ?? [], privileged: h.Privileged });
  chooseRuntime(h.Runtime || undefined);
  if (h.Isolation && !['default', 'container', 'process', 'vm'].includes(h.Isolation)) {
    throw invalid(`invalid isolation "${h.Isolation}": this engine supports "default", "container" and "vm"`);
  }
  validateVmRequest(h);
  // The network mode (a network name, container:<id>...) is checked by engine/networks.ts.
  if (h.NetworkMode.startsWith('container:') && c.Hostname) throw invalid('conflicting options: hostname and the network mode');
  if (h.LogConfig.Type !== 'json-file' && h.LogConfig.Type !== 'none') {
    throw invalid(`logger: no log driver named '${h.LogConfig.Type}' is registered`);
  }

  const config: ContainerConfig = {
    Hostname: c.Hostname || id.slice(0, 12),
    Domainname: c.Domainname ?? '',
    User: c.User || ic.User || '',
    AttachStdin: c.AttachStdin ?? false,
    AttachStdout: c.AttachStdout ?? false,
    AttachStderr: c.AttachStderr ?? false,
    ...(ic.ExposedPorts || c.ExposedPorts ? { ExposedPorts: { ...ic.ExposedPorts, ...c.ExposedPorts } } : {}),
    Tty: c.Tty ?? false,
    OpenStdin: c.OpenStdin ?? false,
    StdinOnce: c.StdinOnce ?? false,
    Env: mergeEnv(ic.Env ?? [], c.Env ?? []),
    Cmd: cmd,
    Image: c.Image,
    Volumes: ic.Volumes || c.Volumes ? { ...ic.Volumes, ...c.Volumes } : null,
    WorkingDir: c.WorkingDir || ic.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: ic.OnBuild ?? null,
    Labels: { ...ic.Labels, ...c.Labels },
    ...(c.StopSignal || ic.StopSignal ? { StopSignal: c.StopSignal || ic.StopSignal } : {}),
    ...(c.StopTimeout !== undefined ? { StopTimeout: c.StopTimeout } : {}),
  };
  if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
    throw invalid(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  return { Config: config, HostConfig: h, Path: argv[0]!, Args: argv.slice(1) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
