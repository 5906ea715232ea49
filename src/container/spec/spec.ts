/**
 * The OCI runtime spec (bundle config.json) of a container, with Docker's defaults: what a
 * `docker run` of the same options would hand runc. Inputs arrive resolved (capabilities from
 * capabilities.ts, seccomp from seccomp.ts, user from user.ts); this module only assembles, and
 * reads the host only to stat devices.
 *
 * Not set, on purpose:
 * - `process.apparmorProfile`: Docker sets `docker-default` only where AppArmor is enabled and
 *   that profile is loaded; hull loads no AppArmor profile of its own, so there is none to name.
 * - rlimits beyond what the caller asks for (`--ulimit`): the container inherits the engine's,
 *   as under Docker, and raising a limit above the engine's hard limit would fail at start.
 * - the stop signal: it is the engine's to send, not the runtime's.
 */
import { HullError } from '../../util/errors.js';
import { DEFAULT_DEVICE_RULES, DEFAULT_DEVICES, DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS, defaultMounts } from './defaults.js';
import { hostDevices, resolveDevices } from './devices.js';
import type { DeviceMapping } from './devices.js';
import type {
  OciDevice,
  OciDeviceCgroup,
  OciMount,
  OciNamespace,
  OciResources,
  OciRlimit,
  OciSeccomp,
  OciSpec,
  OciUser,
} from './oci-types.js';

export const OCI_VERSION = '1.0.2';

/** CFS period Docker uses to express `--cpus` as a quota. */
export const CPU_PERIOD = 100000;

export interface ResourceLimits {
  /** Bytes (`--memory`). */
  memory?: number;
  /** Memory plus swap in bytes (`--memory-swap`); -1 for unlimited swap. */
  memorySwap?: number;
  /** CPUs × 10⁹ (`--cpus`, the API's NanoCpus). */
  nanoCpus?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;
  /** `--pids-limit`; 0 or less means unlimited. */
  pidsLimit?: number;
}

/** `none`: a new, empty network namespace; `host`: the host's; `{path}`: join a prepared one. */
export type NetworkNamespace = 'none' | 'host' | { path: string };

export interface SpecInput {
  rootfs: string;
  readonlyRootfs?: boolean;
  process: {
    args: string[];
    env: string[];
    cwd?: string;
    user: OciUser;
    terminal?: boolean;
  };
  hostname?: string;
  /** The resolved set (capabilities.ts resolveCapabilities). */
  capabilities: readonly string[];
  /** Docker's --privileged: no seccomp, no masked or read-only paths, every host device, /sys writable. */
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /** From seccomp.ts seccompForContainer; undefined = unconfined. */
  seccomp?: OciSeccomp;
  rlimits?: OciRlimit[];
  resources?: ResourceLimits;
  /** Volumes, binds, tmpfs: given as OCI mounts (bind mounts with `rbind` and propagation options). */
  mounts?: OciMount[];
  devices?: DeviceMapping[];
  /** cgroupfs path, see cgroupsPathFor. */
  cgroupsPath: string;
  network: NetworkNamespace;
  sysctls?: Record<string, string>;
  oomScoreAdj?: number;
  /** Bytes of /dev/shm (`--shm-size`). */
  shmSize?: number;
  /** Host paths of the generated files bind-mounted over the image's. */
  etcFiles?: { hosts?: string; hostname?: string; resolvConf?: string };
}

/**
 * The cgroup path of a container. Relative on purpose: runc places it under its caller's own
 * cgroup (with cgroup v1, in every controller's hierarchy), so containers stay inside whatever
 * cgroup the engine was started in and are accounted to it, instead of at the root.
 */
export function cgroupsPathFor(containerId: string): string {
  return `hull/${containerId}`;
}

function depth(path: string): number {
  return path.split('/').filter((p) => p !== '').length;
}

function buildMounts(input: SpecInput): OciMount[] {
  const user = input.mounts ?? [];
  const userDests = new Set(user.map((m) => m.destination));
  const etc: OciMount[] = [];
  const files: [string, string | undefined][] = [
    ['/etc/resolv.conf', input.etcFiles?.resolvConf],
    ['/etc/hostname', input.etcFiles?.hostname],
    ['/etc/hosts', input.etcFiles?.hosts],
  ];
  for (const [destination, source] of files) {
    if (source === undefined || userDests.has(destination)) continue;
    etc.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(input.readonlyRootfs ? ['ro'] : [])] });
  }

  // A user mount replaces the default at the same place; one at /dev replaces all of /dev.
  const defaults = defaultMounts(input.shmSize ?? DEFAULT_SHM_SIZE).filter(
    (m) => !userDests.has(m.destination) && !(userDests.has('/dev') && m.destination.startsWith('/dev/')),
  );
  if (input.privileged) {
    const sys = defaults.find((m) => m.destination === '/sys');
    if (sys) sys.options = sys.options?.filter((o) => o !== 'ro');
  }
  // Parents before children, otherwise a later mount hides an earlier one (sort is stable).
  const extra = [...etc, ...user].sort((a, b) => depth(a.destination) - depth(b.destination));
  return [...defaults, ...extra];
}

function buildNamespaces(network: NetworkNamespace): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (network === 'none') ns.push({ type: 'network' });
  else if (network !== 'host') ns.push({ type: 'network', path: network.path });
  ns.push({ type: 'uts' }, { type: 'pid' }, { type: 'ipc' });
  return ns;
}

function buildResources(r: ResourceLimits | undefined, deviceRules: OciDeviceCgroup[]): OciResources {
  const out: OciResources = { devices: deviceRules };
  if (!r) return out;
  if (r.memory !== undefined || r.memorySwap !== undefined) {
    out.memory = {};
    if (r.memory !== undefined) out.memory.limit = r.memory;
    if (r.memorySwap !== undefined) out.memory.swap = r.memorySwap;
  }
  if (r.nanoCpus !== undefined && (r.cpuQuota !== undefined || r.cpuPeriod !== undefined)) {
    throw new HullError('INVALID_ARGUMENT', 'Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  }
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== undefined) cpu.shares = r.cpuShares;
  if (r.nanoCpus !== undefined) {
    // Go's integer arithmetic in moby, so 1.5 CPUs is exactly 150000/100000.
    cpu.quota = Math.floor((r.nanoCpus * CPU_PERIOD) / 1e9);
    cpu.period = CPU_PERIOD;
  }
  if (r.cpuQuota !== undefined) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined) cpu.period = r.cpuPeriod;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  if (r.pidsLimit !== undefined) out.pids = { limit: r.pidsLimit > 0 ? r.pidsLimit : -1 };
  return out;
}

function checkSysctls(sysctls: Record<string, string>, network: NetworkNamespace): void {
  for (const key of Object.keys(sysctls)) {
    if (network === 'host' && key.startsWith('net.')) {
      throw new HullError('INVALID_ARGUMENT', `sysctl "${key}" is not allowed in host network namespace`);
    }
  }
}

/** The container's config.json. */
export function buildSpec(input: SpecInput): OciSpec {
  const caps = [...input.capabilities];
  const custom = resolveDevices(input.devices ?? []);
  const customPaths = new Set(custom.devices.map((d) => d.path));
  let devices: OciDevice[];
  let deviceRules: OciDeviceCgroup[];
  if (input.privileged) {
    devices = [...hostDevices().filter((d) => !customPaths.has(d.path)), ...custom.devices];
    deviceRules = [{ allow: true, access: 'rwm' }];
  } else {
    devices = [...DEFAULT_DEVICES.filter((d) => !customPaths.has(d.path)).map((d) => ({ ...d })), ...custom.devices];
    deviceRules = [...DEFAULT_DEVICE_RULES.map((r) => ({ ...r })), ...custom.rules];
  }

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: input.process.terminal ?? false,
      user: { uid: input.process.user.uid, gid: input.process.user.gid, additionalGids: [...(input.process.user.additionalGids ?? [])] },
      args: [...input.process.args],
      env: [...input.process.env],
      cwd: input.process.cwd || '/',
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps], inheritable: [] },
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    mounts: buildMounts(input),
    linux: {
      namespaces: buildNamespaces(input.network),
      devices,
      resources: buildResources(input.resources, deviceRules),
      cgroupsPath: input.cgroupsPath,
    },
  };
  if (input.hostname !== undefined) spec.hostname = input.hostname;
  if (input.rlimits && input.rlimits.length > 0) spec.process.rlimits = input.rlimits.map((r) => ({ ...r }));
  if (input.noNewPrivileges) spec.process.noNewPrivileges = true;
  if (input.oomScoreAdj !== undefined) spec.process.oomScoreAdj = input.oomScoreAdj;
  if (!input.privileged) {
    if (input.seccomp) spec.linux.seccomp = input.seccomp;
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
  }
  if (input.sysctls && Object.keys(input.sysctls).length > 0) {
    checkSysctls(input.sysctls, input.network);
    spec.linux.sysctl = { ...input.sysctls };
  }
  return spec;
}
