/**
 * The OCI bundle of a container about to start: its overlay root mounted, /etc files written,
 * the user resolved inside the image, and config.json built with Docker's defaults.
 */
import { replaceFile } from '../util/fs.js';
import { HullError } from '../util/errors.js';
import type { ImageStore, StoredImage } from '../image/store.js';
import type { Digest } from '../image/digest.js';
import type { ContainerDoc } from '../container/model.js';
import type { ContainerPaths } from '../container/paths.js';
import { writeEtcFiles } from '../container/etc-files.js';
import { execEnv } from '../container/exec.js';
import { mountRootfs } from '../container/rootfs.js';
import { resolveCapabilities } from '../container/spec/capabilities.js';
import type { OciMount, OciRlimit } from '../container/spec/oci-types.js';
import { kernelSeccompArches } from '../container/spec/host-abis.js';
import { seccompForContainer, seccompProfileFor } from '../container/spec/seccomp.js';
import { buildSpec, cgroupsPathFor } from '../container/spec/spec.js';
import { filterHelperPath, loadThroughHelper, lookupOf, planFilter } from '../container/seccomp-filter.js';
import type { FilterMonitorOptions } from '../container/monitor.js';
import type { BundleNetwork } from './networks.js';
import { resolveUser } from '../container/spec/user.js';
import type { VolumeStore } from '../volume/store.js';
import { ociMountsFor } from './container-mounts.js';
import { existsSync } from 'node:fs';
import { span } from '../util/trace.js';
import { join } from 'node:path';

/** Where Docker puts its init (tini) in the container; `--init` runs it as pid 1. */
const INIT_PATH = '/sbin/docker-init';
/** Debian's static tini works in any image, whatever libc (if any) it has. */
const INIT_CANDIDATES = ['/usr/bin/tini-static', '/usr/bin/docker-init'];

function initBinary(): string {
  const found = [process.env.HULL_INIT_PATH, ...INIT_CANDIDATES].find((p) => p !== undefined && p !== '' && existsSync(p));
  if (!found) throw new HullError('INVALID_ARGUMENT', '--init needs a static init binary: install Debian\'s tini (apt-get install tini) or set HULL_INIT_PATH');
  return found;
}


/** `--tmpfs /run:rw,size=64m` → an OCI tmpfs mount with Docker's defaults (noexec,nosuid,nodev). */
function tmpfsMounts(tmpfs: Record<string, string> | null): OciMount[] {
  return Object.entries(tmpfs ?? {}).map(([destination, opts]) => {
    const given = opts ? opts.split(',').filter(Boolean) : [];
    const defaults = ['noexec', 'nosuid', 'nodev'].filter((d) => !given.some((g) => g === d.replace(/^no/, '') || g === d));
    return { destination, type: 'tmpfs', source: 'tmpfs', options: [...defaults, ...given] };
  });
}

function rlimits(doc: ContainerDoc): OciRlimit[] | undefined {
  const u = doc.HostConfig.Ulimits;
  if (!u || u.length === 0) return undefined;
  return u.map((l) => ({ type: `RLIMIT_${l.Name.toUpperCase()}`, soft: l.Soft, hard: l.Hard }));
}


function securityOpt(doc: ContainerDoc, key: string): string | undefined {
  for (const o of doc.HostConfig.SecurityOpt ?? []) {
    const m = /^([a-z-]+)[=:]?(.*)$/.exec(o);
    if (m && m[1] === key) return m[2] === '' ? 'true' : m[2];
  }
  return undefined;
}

/** With a runc that hull may hand precompiled seccomp filters (container/seccomp-filter.ts). */
export interface BundleFilterOptions {
  runtimePath: string;
  cacheDir: string;
}

/**
 * `net` comes from NetworkService.prepare; without one the container gets an empty namespace.
 * Returns what the monitor does for the container's seccomp filter.
 */
export async function prepareBundle(images: ImageStore, c: { id: string; doc: ContainerDoc }, image: StoredImage, paths: ContainerPaths, volumes: VolumeStore, net?: BundleNetwork, filters?: BundleFilterOptions): Promise<FilterMonitorOptions> {
  const { doc } = c;
  const h = doc.HostConfig;
  const lowers = image.config.rootfs.diff_ids.map((d) => images.layers.path(d as Digest));
  // A --rm container's upper directory is deleted at its exit: no syncs for it (rootfs.ts).
  await span('bundle: overlay mount', () => mountRootfs(lowers, paths.upper, paths.work, paths.rootfs, { volatile: h.AutoRemove }));
  const network = net ?? { namespace: h.NetworkMode === 'host' ? ('host' as const) : ('none' as const), addresses: [], dns: h.Dns ?? [] };
  const hostNetwork = network.namespace === 'host';
  await span('bundle: /etc files', () => writeEtcFiles(paths, {
    hostname: doc.Config.Hostname,
    extraHosts: (h.ExtraHosts ?? []).map((e) => {
      const i = e.indexOf(':');
      return { name: e.slice(0, i), ip: e.slice(i + 1) };
    }),
    addresses: network.addresses,
    dns: network.dns,
    hostNetwork,
  }));
  const user = await span('bundle: user', () => resolveUser(paths.rootfs, doc.Config.User || undefined, h.GroupAdd ?? []));
  const capabilities = resolveCapabilities({ capAdd: h.CapAdd ?? [], capDrop: h.CapDrop ?? [], privileged: h.Privileged });
  const seccompOpt = securityOpt(doc, 'seccomp');
  const profile = h.Privileged ? undefined : await span('bundle: seccomp profile', () => seccompProfileFor(seccompOpt));
  const seccomp = profile ? span('bundle: seccomp resolve', () => seccompForContainer(profile, { capabilities, kernelAbis: kernelSeccompArches() })) : undefined;
  // Docker's order (PATH, HOSTNAME, TERM, then the container's Env); runc adds HOME from passwd.
  const env = execEnv(doc.Config.Env, doc.Config.Hostname, doc.Config.Tty, []);

  const init = h.Init ? initBinary() : undefined;
  const args = init ? [INIT_PATH, '--', doc.Path, ...doc.Args] : [doc.Path, ...doc.Args];
  const mounts = [...tmpfsMounts(h.Tmpfs), ...(await ociMountsFor(doc.MountPoints ?? [], volumes, paths.rootfs, c.id))];
  if (init) mounts.push({ destination: INIT_PATH, type: 'bind', source: init, options: ['rbind', 'ro', 'nosuid', 'nodev'] });

  const spec = span('bundle: build spec', () => buildSpec({
    rootfs: paths.rootfs,
    readonlyRootfs: h.ReadonlyRootfs,
    process: {
      args,
      env,
      cwd: doc.Config.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      terminal: doc.Config.Tty,
    },
    hostname: hostNetwork ? undefined : doc.Config.Hostname,
    capabilities,
    privileged: h.Privileged,
    noNewPrivileges: securityOpt(doc, 'no-new-privileges') === 'true',
    ...(seccomp ? { seccomp } : {}),
    ...(rlimits(doc) ? { rlimits: rlimits(doc) } : {}),
    resources: {
      memory: h.Memory || undefined,
      memorySwap: h.MemorySwap || undefined,
      nanoCpus: h.NanoCpus || undefined,
      cpuQuota: h.CpuQuota || undefined,
      cpuPeriod: h.CpuPeriod || undefined,
      cpuShares: h.CpuShares || undefined,
      pidsLimit: h.PidsLimit ?? undefined,
    },
    mounts,
    devices: h.Devices ?? [],
    cgroupsPath: cgroupsPathFor(c.id),
    network: network.namespace,
    ...(h.OomScoreAdj ? { oomScoreAdj: h.OomScoreAdj } : {}),
    shmSize: h.ShmSize,
    etcFiles: { hosts: paths.hosts, hostname: paths.hostname, resolvConf: paths.resolvConf },
  }));
  const plan = seccomp && filters ? span('bundle: seccomp filter', () => planFilter(filters.cacheDir, paths.dir, filters.runtimePath, seccomp)) : undefined;
  // The command's look-up as runc would make it, taken before the helper goes in front of it.
  const precompiled = plan?.kind === 'precompiled' ? { seccompHelper: { helper: filterHelperPath(), filter: plan.filter }, lookPath: lookupOf(spec.process) } : undefined;
  if (precompiled) loadThroughHelper(spec, precompiled.seccompHelper.filter);
  await span('bundle: write config.json', () => replaceFile(join(paths.dir, 'config.json'), JSON.stringify(spec)));
  if (plan?.kind === 'capture') return { seccompCapture: plan.cachePath };
  return precompiled ?? {};
}
