/**
 * Linux capabilities a container gets: Docker's default set, `--cap-add`/`--cap-drop` with Docker's
 * rules, and `--privileged`.
 */
import { readFileSync } from 'node:fs';
import { HullError } from '../../util/errors.js';

/** Capability names by bit number (linux/capability.h); index = bit. */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default set (moby oci/caps/defaults.go), in Docker's order. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/**
 * What "all capabilities" means on this host. Docker bounds its list by the kernel's
 * cap_last_cap; hull also bounds it by its own bounding set, because runc cannot grant a
 * capability its caller lacks ("unable to apply caps: operation not permitted") — e.g. when the
 * engine itself runs without CAP_SYS_RESOURCE. Podman does the same.
 */
export interface HostCapabilities {
  /** Highest capability bit the kernel knows. */
  lastCap: number;
  /** Bit mask of the engine's own bounding set. */
  bounding: bigint;
}

export function readHostCapabilities(): HostCapabilities {
  const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  const match = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const bounding = match?.[1] !== undefined ? BigInt(`0x${match[1]}`) : (1n << BigInt(lastCap + 1)) - 1n;
  return { lastCap, bounding };
}

/** Every named capability the kernel knows and the engine holds, in bit order. */
export function allCapabilities(host: HostCapabilities = readHostCapabilities()): string[] {
  return KNOWN_CAPABILITIES.filter((_, bit) => bit <= host.lastCap && ((host.bounding >> BigInt(bit)) & 1n) === 1n);
}

/** The capability bit mask of a set of names, as /proc/<pid>/status prints it (CapEff). */
export function capabilityMask(caps: readonly string[]): bigint {
  let mask = 0n;
  for (const c of caps) {
    const bit = KNOWN_CAPABILITIES.indexOf(c);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return mask;
}

export interface CapabilityOptions {
  capAdd?: readonly string[];
  capDrop?: readonly string[];
  privileged?: boolean;
}

const ALL = 'ALL';

/**
 * Normalise names as Docker does: case-insensitive, `CAP_` optional, `ALL` kept as is. Names the
 * kernel does not know are refused with Docker's wording (`invalid CapAdd: unknown capability: "CAP_FOO"`).
 */
function normalize(names: readonly string[], field: 'CapAdd' | 'CapDrop', lastCap: number): string[] {
  return names.map((raw) => {
    let c = raw.trim().toUpperCase();
    if (c === ALL) return c;
    if (!c.startsWith('CAP_')) c = `CAP_${c}`;
    const bit = KNOWN_CAPABILITIES.indexOf(c);
    if (bit < 0 || bit > lastCap) {
      throw new HullError('INVALID_ARGUMENT', `invalid ${field}: unknown capability: "${c}"`);
    }
    return c;
  });
}

/**
 * The capability set of a container, by Docker's rules (moby oci/caps TweakCapabilities):
 * privileged → all; `ALL` in add → all but the dropped; `ALL` in drop → only the added;
 * otherwise the defaults minus the dropped plus the added.
 */
export function resolveCapabilities(opts: CapabilityOptions, host: HostCapabilities = readHostCapabilities()): string[] {
  const all = allCapabilities(host);
  if (opts.privileged) return all;
  const add = normalize(opts.capAdd ?? [], 'CapAdd', host.lastCap);
  const drop = normalize(opts.capDrop ?? [], 'CapDrop', host.lastCap);
  if (add.length === 0 && drop.length === 0) return [...DEFAULT_CAPABILITIES];

  let caps: string[];
  if (add.includes(ALL)) {
    caps = all.filter((c) => !drop.includes(c));
  } else {
    const explicit = add.filter((c) => !all.includes(c));
    if (explicit.length > 0) {
      throw new HullError(
        'INVALID_ARGUMENT',
        `invalid CapAdd: ${explicit.join(', ')} is not in hull's own bounding set, so no container it starts can have it`,
      );
    }
    const base = drop.includes(ALL) ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
    caps = [...base, ...add];
  }
  return [...new Set(caps)];
}
