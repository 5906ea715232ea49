/**
 * Precompiled seccomp filters (docs/ARCHITECTURE.md, "Precompiled seccomp filter").
 *
 * runc compiles the profile in config.json with libseccomp inside every `runc create` and
 * `runc exec`: for Docker's profile on two ABIs, ~13 ms of CPU and 10-16 ms of the start's
 * wall time, the same work each time. hull does it once per distinct filter instead:
 *
 * - The first container with a given profile runs as before (runc compiles and loads it); the
 *   monitor then captures the filter runc loaded into its init (ptrace's
 *   PTRACE_SECCOMP_GET_FILTER, native/monitor/filter.c) into the cache, keyed by the profile
 *   as runc gets it, runc's binary, libseccomp's, and the kernel. So the cached program is
 *   runc's own, byte for byte: libseccomp's output with runc's ENOSYS stub, nothing rebuilt.
 * - Later containers with the same filter get a config.json without `linux.seccomp`; runc
 *   starts hull's static helper (native/seccomp/hull-seccomp-exec.c) as /proc/self/fd/3 with
 *   the filter on fd 4. The helper loads it, drops the two capabilities it was given for that
 *   (CAP_SYS_ADMIN: loading a filter without no_new_privs; CAP_SETPCAP: the bounding set),
 *   and execs the command: the process ends with the same filter and the same capabilities
 *   as under runc.
 * - runc no longer looks the command up, so the monitor does once the container is created
 *   (Go's exec.LookPath in C, in the container's mount namespace, as its process: lookupOf),
 *   and fails the create with runc's words; `exec` does the same through the addon before
 *   `runc exec`. A container started this way carries annotations that make every exec into
 *   it go through the helper as well.
 *
 * Only runc's plain filters take this path: a profile with `flags` or a notify listener is
 * loaded by runc, as is every profile under another runtime.
 */
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { machine, release } from 'node:os';
import { join } from 'node:path';
import { nativeAddon } from '../util/native.js';
import { packageRoot } from '../util/package-root.js';
import { capabilityMask } from './spec/capabilities.js';
import type { OciCapabilities, OciProcess, OciSeccomp, OciSpec } from './spec/oci-types.js';

/** Where runc finds the helper: the first fd it preserves (`--preserve-fds 2`); the filter is the second. */
const HELPER_FD_PATH = '/proc/self/fd/3';
const FILTER_ANNOTATION = 'org.hull.seccomp.filter';
const BOUNDING_ANNOTATION = 'org.hull.seccomp.bounding';
/** What the helper needs for itself (see the header), in every set, and drops before the exec. */
const HELPER_CAPS = ['CAP_SYS_ADMIN', 'CAP_SETPCAP'];
/** Bumped when what a cache entry holds changes meaning. */
const CACHE_FORMAT = 1;

export function filterHelperPath(): string {
  return join(packageRoot(), 'build', 'hull-seccomp-exec');
}

/** How this start gets its filter, and what the monitor does for it. */
export type FilterPlan = { kind: 'precompiled'; filter: string } | { kind: 'capture'; cachePath: string };

/** A file's identity for the cache key: a change of it (an upgrade) means another key. */
function fileIdentity(path: string): string {
  try {
    const real = realpathSync(path);
    const st = statSync(real);
    return `${real}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return `${path}:none`;
  }
}

/** runc links libseccomp dynamically (Debian's): its version decides the generated program too. */
function libseccompIdentity(): string {
  const triple = `${machine()}-linux-gnu`;
  const found = [`/usr/lib/${triple}/libseccomp.so.2`, `/lib/${triple}/libseccomp.so.2`, '/usr/lib64/libseccomp.so.2', '/usr/lib/libseccomp.so.2'].find((p) => existsSync(p));
  return found ? fileIdentity(found) : 'none';
}

export function filterCachePath(cacheDir: string, runtimePath: string, seccomp: OciSeccomp): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, kernel: release(), runtime: fileIdentity(runtimePath), libseccomp: libseccompIdentity(), seccomp }))
    .digest('hex');
  return join(cacheDir, `${key}.bpf`);
}

/** A plain filter: flags and a notify listener need runc's own loading. */
function precompilable(seccomp: OciSeccomp): boolean {
  return (seccomp.flags ?? []).length === 0 && seccomp.listenerPath === undefined && existsSync(filterHelperPath());
}

/**
 * The plan for a runc container's filter: the cached program linked into the bundle (so the
 * container keeps it for its execs whatever happens to the cache), or a capture for the cache.
 */
export function planFilter(cacheDir: string, bundleDir: string, runtimePath: string, seccomp: OciSeccomp): FilterPlan | undefined {
  if (!precompilable(seccomp)) return undefined;
  const cachePath = filterCachePath(cacheDir, runtimePath, seccomp);
  const filter = join(bundleDir, 'seccomp.bpf');
  try {
    unlinkSync(filter);
  } catch {
    // none yet: the usual case
  }
  try {
    linkSync(cachePath, filter);
    return { kind: 'precompiled', filter };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV') {
      // The containers' directory on another filesystem than the cache: a copy (a few KiB).
      copyFileSync(cachePath, filter);
      return { kind: 'precompiled', filter };
    }
    if (code !== 'ENOENT') throw e;
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    return { kind: 'capture', cachePath };
  }
}

/**
 * The helper's sets: HELPER_CAPS added to every one, and the permitted set in the inheritable
 * and ambient ones too. A process that is not root keeps only its ambient set across runc's
 * execve of the helper; with them it looks the command up and execs it with the capabilities
 * runc would have (CAP_DAC_OVERRIDE on a directory only root may search), and clears them.
 */
function withHelperCaps(c: OciCapabilities): OciCapabilities {
  const add = (...sets: (readonly string[] | undefined)[]): string[] => [...new Set([...sets.flatMap((s) => s ?? []), ...HELPER_CAPS])];
  return { bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted), inheritable: add(c.inheritable, c.permitted), ambient: add(c.ambient, c.permitted) };
}

/**
 * `process` started through the helper: it runs first with withHelperCaps' sets, and leaves
 * the command `bounding` as its bounding set, an empty inheritable and ambient set (what
 * hull's specs hold), and no more than that in the permitted and effective sets.
 */
function throughHelper(process: OciProcess, bounding: bigint): void {
  process.args = [HELPER_FD_PATH, bounding.toString(16), '--', ...process.args];
  process.capabilities = withHelperCaps(process.capabilities);
}

/** The container's spec for a precompiled filter: no `linux.seccomp`, the helper first. */
export function loadThroughHelper(spec: OciSpec, filter: string): void {
  delete spec.linux.seccomp;
  const bounding = capabilityMask(spec.process.capabilities.bounding);
  throughHelper(spec.process, bounding);
  spec.annotations = { ...spec.annotations, [FILTER_ANNOTATION]: filter, [BOUNDING_ANNOTATION]: bounding.toString(16) };
}

/** The precompiled filter of a container (from its config.json), which every exec into it must load. */
export function filterOf(spec: OciSpec): { filter: string; bounding: bigint } | undefined {
  const filter = spec.annotations?.[FILTER_ANNOTATION];
  const bounding = spec.annotations?.[BOUNDING_ANNOTATION];
  if (filter === undefined || bounding === undefined) return undefined;
  return { filter, bounding: BigInt(`0x${bounding}`) };
}

/**
 * An exec's process into such a container, through the helper: the container's bounding set,
 * or the exec's own capabilities with `--privileged`.
 */
export function execThroughHelper(process: OciProcess, container: { bounding: bigint }, privileged: boolean): void {
  throughHelper(process, privileged ? capabilityMask(process.capabilities.bounding) : container.bounding);
}

/** A command's look-up as runc's init makes it: where, with which PATH, and as whom. */
export interface CommandLookup {
  file: string;
  cwd: string;
  pathEnv: string;
  uid: number;
  gid: number;
  groups: number[];
  /** The effective capabilities. */
  caps: bigint;
}

/** The look-up of `process`'s command, before the helper is put in front of it. */
export function lookupOf(process: OciProcess): CommandLookup {
  return {
    file: process.args[0] ?? '',
    cwd: process.cwd,
    pathEnv: pathOf(process.env ?? []),
    uid: process.user.uid,
    gid: process.user.gid,
    groups: [...(process.user.additionalGids ?? [])],
    caps: capabilityMask(process.capabilities.effective),
  };
}

/** A look-up in the mount namespace of `pid`, through the addon: null, or why the command cannot run. */
export function lookUp(pid: number, l: CommandLookup): { status: number; message: string } | null {
  return nativeAddon().lookPathIn(pid, l.cwd, l.file, l.pathEnv, l.uid, l.gid, l.groups, l.caps.toString(16));
}

/** The environment's PATH as Go's os.Getenv("PATH") reads it in runc's init ('' when unset). */
export function pathOf(env: readonly string[]): string {
  let path = '';
  for (const e of env) if (e.startsWith('PATH=')) path = e.slice(5);
  return path;
}

/**
 * Sealed in-memory copies of the helper and `filter`, for runc to hand the process as its fds 3
 * and 4 (native/seccomp/sealed-copy.h says why copies); the caller closes them once runc has them.
 */
export function helperFds(filter: string): [number, number] {
  const addon = nativeAddon();
  const helper = addon.sealedCopy(filterHelperPath(), 'hull-seccomp-exec', true);
  try {
    return [helper, addon.sealedCopy(filter, 'hull-seccomp-filter', false)];
  } catch (e) {
    closeSync(helper);
    throw e;
  }
}
