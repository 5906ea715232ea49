/**
 * Seccomp profiles in Docker's JSON format (the default one in `seccomp-profile.ts`, or a user's
 * `--security-opt seccomp=FILE`) and their translation into the OCI `linux.seccomp` runc loads.
 *
 * A Docker-format profile is an allowlist with conditions: a rule can apply only on some
 * architectures, only when the container holds some capabilities, or only from some kernel
 * version on (`includes`), or stop applying under the same kinds of condition (`excludes`). The
 * conditions are settled here, per container, so the runtime sees a plain OCI filter. This is the
 * logic of moby's profiles/seccomp setupSeccomp.
 */
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { hostPlatform } from '../../image/platform.js';
import { HullError, messageOf } from '../../util/errors.js';
import type { OciSeccomp, OciSeccompArg, OciSyscall, SeccompAction } from './oci-types.js';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-profile.js';

export interface SyscallCondition {
  /** Capability names (`CAP_SYS_ADMIN`): includes need all of them, excludes any of them. */
  caps?: string[];
  /** Native architecture names as libseccomp spells them without prefix: `amd64`, `x86`, `arm64`… */
  arches?: string[];
  /** `major.minor`: includes need at least this kernel, excludes stop applying from it on. */
  minKernel?: string;
}

export interface ProfileSyscall {
  name?: string;
  names?: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  comment?: string;
  includes?: SyscallCondition;
  excludes?: SyscallCondition;
}

export interface SeccompProfile {
  /** Empty (with no rules) in a profile that means "no filter", as Docker reads `{}`. */
  defaultAction: SeccompAction | '';
  defaultErrnoRet?: number;
  /** Either a flat list of SCMP_ARCH_* names, or `archMap` (the native arch and its sub-arches). */
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileSyscall[];
}

/** The actions and operators runc 1.1 (libseccomp 2.5) accepts; anything else fails at start, so it is refused on load. */
const ACTIONS = new Set<string>([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const OPERATORS = new Set<string>([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

/** Image/Go architecture names (`amd64`) → the native names profiles use in includes/excludes. */
const GO_TO_NATIVE: Record<string, string> = {
  '386': 'x86',
  amd64: 'amd64',
  arm: 'arm',
  arm64: 'arm64',
  mips64: 'mips64',
  mips64le: 'mipsel64',
  mipsle: 'mipsel',
  ppc64: 'ppc64',
  ppc64le: 'ppc64le',
  riscv64: 'riscv64',
  s390x: 's390x',
  loong64: 'loong64',
};

/** Native names → the libseccomp architecture an `archMap` entry is keyed by. */
const NATIVE_TO_SCMP: Record<string, string> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mipsel: 'SCMP_ARCH_MIPSEL',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  riscv64: 'SCMP_ARCH_RISCV64',
  s390x: 'SCMP_ARCH_S390X',
  loong64: 'SCMP_ARCH_LOONGARCH64',
};

function parseKernelVersion(v: string, what: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(v);
  if (!m) throw new HullError('INVALID_ARGUMENT', `invalid seccomp profile: ${what} "${v}" is not a kernel version (want major.minor)`);
  return [Number(m[1]), Number(m[2])];
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const [kMaj, kMin] = parseKernelVersion(kernel, 'kernel');
  const [mMaj, mMin] = parseKernelVersion(min, 'minKernel');
  return kMaj > mMaj || (kMaj === mMaj && kMin >= mMin);
}

export interface SeccompTarget {
  /** The container's capability set; conditions test it (Docker tests the bounding set, which is the same list). */
  capabilities: readonly string[];
  /**
   * The architecture whose archMap entry and arch conditions apply, in Go terms (`amd64`);
   * defaults to the host's. Docker uses the host's whatever the image's (moby's setupSeccomp
   * takes the engine's GOARCH): an emulated foreign image's calls are the host's.
   */
  arch?: string;
  /** Kernel release (`6.1.0-18-amd64`) for minKernel conditions; defaults to the running kernel. */
  kernel?: string;
  /**
   * The seccomp architectures the kernel executes (host-abis.ts): an archMap sub-architecture
   * outside it is left out of the filter. Undefined: all of them, as Docker.
   */
  kernelAbis?: ReadonlySet<string>;
}

function ruleApplies(call: ProfileSyscall, native: string, target: SeccompTarget, kernel: string): boolean {
  const ex = call.excludes;
  if (ex) {
    if (ex.arches?.includes(native)) return false;
    if (ex.caps?.some((c) => target.capabilities.includes(c))) return false;
    if (ex.minKernel && kernelAtLeast(kernel, ex.minKernel)) return false;
  }
  const inc = call.includes;
  if (inc) {
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(native)) return false;
    if (inc.caps && !inc.caps.every((c) => target.capabilities.includes(c))) return false;
    if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) return false;
  }
  return true;
}

/**
 * The OCI `linux.seccomp` for one container: conditions resolved against its capabilities,
 * architecture and the kernel; `archMap` narrowed to the native architecture and its
 * sub-architectures (amd64 → SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32) less those the kernel
 * does not execute (`kernelAbis`). `undefined` when
 * the profile has neither a default action nor rules, which Docker reads as "no filter".
 */
export function seccompForContainer(profile: SeccompProfile, target: SeccompTarget): OciSeccomp | undefined {
  if (!profile.defaultAction && (profile.syscalls ?? []).length === 0) return undefined;
  const goArch = target.arch ?? hostPlatform().architecture;
  const native = GO_TO_NATIVE[goArch] ?? goArch;
  const kernel = target.kernel ?? release();

  if (!profile.defaultAction) throw new HullError('INVALID_ARGUMENT', 'invalid seccomp profile: rules without a defaultAction');
  const out: OciSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.architectures && profile.architectures.length > 0) {
    out.architectures = [...profile.architectures];
  } else if (profile.archMap) {
    const scmp = NATIVE_TO_SCMP[native];
    const entry = profile.archMap.find((a) => a.architecture === scmp);
    const executed = (a: string) => target.kernelAbis?.has(a) ?? true;
    if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? []).filter(executed)];
  }
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  const syscalls: OciSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    if (!ruleApplies(call, native, target, kernel)) continue;
    const rule: OciSyscall = { names: call.names ?? (call.name ? [call.name] : []), action: call.action };
    if (call.errnoRet !== undefined) rule.errnoRet = call.errnoRet;
    if (call.args && call.args.length > 0) rule.args = call.args.map((a) => ({ ...a }));
    syscalls.push(rule);
  }
  out.syscalls = syscalls;
  return out;
}

function invalid(source: string, why: string): HullError {
  return new HullError('INVALID_ARGUMENT', `invalid seccomp profile ${source}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkStrings(v: unknown, source: string, what: string): void {
  if (v !== undefined && v !== null && !(Array.isArray(v) && v.every((s) => typeof s === 'string'))) {
    throw invalid(source, `${what} must be a list of strings`);
  }
}

function checkCondition(v: unknown, source: string, what: string): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) throw invalid(source, `${what} must be an object`);
  checkStrings(v.caps, source, `${what}.caps`);
  checkStrings(v.arches, source, `${what}.arches`);
  if (v.minKernel !== undefined && v.minKernel !== null) {
    if (typeof v.minKernel !== 'string') throw invalid(source, `${what}.minKernel must be a string`);
    parseKernelVersion(v.minKernel, `${what}.minKernel`);
  }
}

/**
 * Parse and check a Docker-format profile: bad JSON, unknown actions or operators and Docker's
 * own contradictions (`name` with `names`, `architectures` with `archMap`) are refused here with
 * the offending rule named, rather than by runc at start with a bare "invalid argument".
 */
export function parseSeccompProfile(text: string, source = '(inline)'): SeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalid(source, `decoding failed: ${messageOf(e)}`);
  }
  if (!isObject(raw)) throw invalid(source, 'not a JSON object');
  const noRules = raw.syscalls === undefined || raw.syscalls === null || (Array.isArray(raw.syscalls) && raw.syscalls.length === 0);
  if ((raw.defaultAction === undefined || raw.defaultAction === '') && noRules) return { ...raw, defaultAction: '' };
  if (typeof raw.defaultAction !== 'string' || !ACTIONS.has(raw.defaultAction)) {
    throw invalid(source, `unknown defaultAction ${JSON.stringify(raw.defaultAction)}`);
  }
  checkStrings(raw.architectures, source, 'architectures');
  checkStrings(raw.flags, source, 'flags');
  if (Array.isArray(raw.architectures) && raw.architectures.length > 0 && Array.isArray(raw.archMap) && raw.archMap.length > 0) {
    throw invalid(source, "both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'");
  }
  if (raw.archMap !== undefined && raw.archMap !== null) {
    if (!Array.isArray(raw.archMap) || !raw.archMap.every((a) => isObject(a) && typeof a.architecture === 'string')) {
      throw invalid(source, 'archMap must be a list of {architecture, subArchitectures}');
    }
    for (const a of raw.archMap as Record<string, unknown>[]) checkStrings(a.subArchitectures, source, 'archMap subArchitectures');
  }
  if (raw.syscalls !== undefined && raw.syscalls !== null && !Array.isArray(raw.syscalls)) {
    throw invalid(source, 'syscalls must be a list');
  }
  for (const [i, call] of ((raw.syscalls ?? []) as unknown[]).entries()) {
    const where = `syscalls[${i}]`;
    if (!isObject(call)) throw invalid(source, `${where} is not an object`);
    if (typeof call.action !== 'string' || !ACTIONS.has(call.action)) {
      throw invalid(source, `${where}: unknown action ${JSON.stringify(call.action)}`);
    }
    if (call.name !== undefined && call.name !== '' && Array.isArray(call.names) && call.names.length > 0) {
      throw invalid(source, `${where}: both 'name' and 'names' are specified, use either 'name' or 'names'`);
    }
    if (call.name !== undefined && typeof call.name !== 'string') throw invalid(source, `${where}.name must be a string`);
    checkStrings(call.names, source, `${where}.names`);
    if (call.errnoRet !== undefined && !Number.isInteger(call.errnoRet)) throw invalid(source, `${where}.errnoRet must be an integer`);
    if (call.args !== undefined && call.args !== null) {
      if (!Array.isArray(call.args)) throw invalid(source, `${where}.args must be a list`);
      for (const a of call.args as unknown[]) {
        if (!isObject(a) || !Number.isInteger(a.index) || typeof a.value !== 'number') {
          throw invalid(source, `${where}.args entries need an integer index and a numeric value`);
        }
        if (typeof a.op !== 'string' || !OPERATORS.has(a.op)) throw invalid(source, `${where}: unknown operator ${JSON.stringify(a.op)}`);
      }
    }
    checkCondition(call.includes, source, `${where}.includes`);
    checkCondition(call.excludes, source, `${where}.excludes`);
  }
  return raw as unknown as SeccompProfile;
}

/** A profile file as given to `--security-opt seccomp=FILE`. */
export async function loadSeccompFile(path: string): Promise<SeccompProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new HullError('INVALID_ARGUMENT', `opening seccomp profile (${path}) failed: ${messageOf(e)}`, { cause: e });
  }
  return parseSeccompProfile(text, path);
}

/**
 * The profile for a `seccomp=` security option: absent or `builtin` → hull's default,
 * `unconfined` → none, JSON text (what Docker clients send over the API, having read the file
 * themselves) → that profile, anything else → a file path.
 */
export async function seccompProfileFor(value: string | undefined): Promise<SeccompProfile | undefined> {
  if (value === undefined || value === 'builtin') return DEFAULT_SECCOMP_PROFILE;
  if (value === 'unconfined') return undefined;
  if (value.trimStart().startsWith('{')) return parseSeccompProfile(value);
  return loadSeccompFile(value);
}
