/**
 * Host devices given to a container: `--device` mappings (parsed and stat'ed as Docker does) and,
 * for `--privileged`, every device node of the host's /dev.
 */
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { HullError, messageOf } from '../../util/errors.js';
import type { OciDevice, OciDeviceCgroup } from './oci-types.js';

/** One `--device`, in the Docker API's HostConfig.Devices shape. */
export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  /** Some of `r`, `w`, `m`. */
  CgroupPermissions: string;
}

function isDeviceMode(s: string): boolean {
  return s.length > 0 && s.length <= 3 && /^[rwm]+$/.test(s) && new Set(s).size === s.length;
}

/** Parse `/dev/x[:/dev/y][:rwm]` (docker CLI's parseDevice and validation). */
export function parseDeviceMapping(spec: string): DeviceMapping {
  const parts = spec.split(':');
  let host: string | undefined;
  let container: string | undefined;
  let permissions = 'rwm';
  if (parts.length === 1) {
    host = parts[0];
  } else if (parts.length === 2) {
    host = parts[0];
    if (isDeviceMode(parts[1] ?? '')) permissions = parts[1] ?? permissions;
    else container = parts[1];
  } else if (parts.length === 3) {
    [host, container, permissions] = parts as [string, string, string];
    if (!isDeviceMode(permissions)) throw new HullError('INVALID_ARGUMENT', `bad mode specified: ${permissions}`);
  } else {
    throw new HullError('INVALID_ARGUMENT', `bad format for path: ${spec}`);
  }
  if (!host) throw new HullError('INVALID_ARGUMENT', `bad format for path: ${spec}`);
  container ||= host;
  for (const p of [host, container]) {
    if (!p.startsWith('/')) throw new HullError('INVALID_ARGUMENT', `${p} is not an absolute path`);
  }
  return { PathOnHost: host, PathInContainer: container, CgroupPermissions: permissions };
}

// Linux dev_t encoding (glibc's gnu_dev_major/minor): 12 bits of major, 20 of minor, split.
function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

function deviceFromStat(path: string, st: BigIntStats): OciDevice | undefined {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  return {
    path,
    type,
    major: major(st.rdev),
    minor: minor(st.rdev),
    fileMode: Number(st.mode & 0o777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

function ruleFor(d: OciDevice, access: string): OciDeviceCgroup {
  return { allow: true, type: d.type === 'b' ? 'b' : 'c', major: d.major, minor: d.minor, access };
}

export interface ResolvedDevices {
  devices: OciDevice[];
  rules: OciDeviceCgroup[];
}

function walkDevices(dir: string, visit: (path: string, st: BigIntStats) => void, skip: ReadonlySet<string> = new Set()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (skip.has(p)) continue;
    let st: BigIntStats;
    try {
      st = lstatSync(p, { bigint: true });
    } catch {
      continue; // gone while walking
    }
    if (st.isDirectory()) walkDevices(p, visit, skip);
    else visit(p, st);
  }
}

/**
 * The nodes and cgroup rules for `--device` mappings. A symlink on the host (`/dev/disk/by-id/…`)
 * is followed; a directory gives every device under it (`--device /dev/snd`), as Docker does.
 */
export function resolveDevices(mappings: readonly DeviceMapping[]): ResolvedDevices {
  const out: ResolvedDevices = { devices: [], rules: [] };
  for (const m of mappings) {
    let hostPath = m.PathOnHost;
    let st: BigIntStats;
    try {
      if (lstatSync(hostPath).isSymbolicLink()) hostPath = realpathSync(hostPath);
      st = statSync(hostPath, { bigint: true });
    } catch (e) {
      throw new HullError(
        'INVALID_ARGUMENT',
        `error gathering device information while adding custom device "${m.PathOnHost}": ${messageOf(e)}`,
        { cause: e },
      );
    }
    const found: OciDevice[] = [];
    if (st.isDirectory()) {
      walkDevices(hostPath, (p, childSt) => {
        const d = deviceFromStat(m.PathInContainer + p.slice(hostPath.length), childSt);
        if (d) found.push(d);
      });
    } else {
      const d = deviceFromStat(m.PathInContainer, st);
      if (d) found.push(d);
    }
    if (found.length === 0) {
      throw new HullError(
        'INVALID_ARGUMENT',
        `error gathering device information while adding custom device "${m.PathOnHost}": not a device node`,
      );
    }
    for (const d of found) {
      out.devices.push(d);
      out.rules.push(ruleFor(d, m.CgroupPermissions));
    }
  }
  return out;
}

/**
 * Every device node of the host, for privileged containers (containerd's HostDevices): the
 * per-mount pseudo directories are skipped, since the container gets its own.
 */
export function hostDevices(devRoot = '/dev'): OciDevice[] {
  const skip = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].map((n) => join(devRoot, n)));
  const out: OciDevice[] = [];
  walkDevices(
    devRoot,
    (p, st) => {
      if (p === join(devRoot, 'console')) return; // the runtime provides the container's console
      const d = deviceFromStat(p, st);
      if (d) out.push(d);
    },
    skip,
  );
  return out;
}
