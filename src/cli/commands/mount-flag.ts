/**
 * `--mount k=v,...` as the docker CLI reads it (cli/opts/mount.go): CSV fields into a
 * HostConfig.Mounts entry, with the CLI's own messages. The daemon-side checks of the entry
 * are volume/parse.ts's mountPointOf.
 */
import { PROPAGATIONS, type MountSpec, type MountType, type Propagation } from '../../volume/model.js';
import { HullError } from '../../util/errors.js';
import { resolve } from 'node:path';
import { parseBytes } from '../../util/units.js';

function invalid(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

function parseBool(key: string, v: string): boolean {
  const t = ['1', 't', 'T', 'true', 'TRUE', 'True'];
  const f = ['0', 'f', 'F', 'false', 'FALSE', 'False'];
  if (t.includes(v)) return true;
  if (f.includes(v)) return false;
  throw invalid(`invalid value for ${key}: ${v}`);
}

function splitKv(v: string, what: string): [string, string] {
  const i = v.indexOf('=');
  if (i <= 0) throw invalid(`invalid ${what}: ${v}`);
  return [v.slice(0, i), v.slice(i + 1)];
}

/** Docker's CSV splitting: fields separated by commas, a field may be double-quoted. */
function csvFields(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function parseMountCsv(value: string): MountSpec {
  const m: Partial<MountSpec> & { Type?: string } = {};
  const volume = (): NonNullable<MountSpec['VolumeOptions']> => (m.VolumeOptions ??= {});
  const bind = (): NonNullable<MountSpec['BindOptions']> => (m.BindOptions ??= {});
  const tmpfs = (): NonNullable<MountSpec['TmpfsOptions']> => (m.TmpfsOptions ??= {});
  for (const field of csvFields(value)) {
    const i = field.indexOf('=');
    const key = (i === -1 ? field : field.slice(0, i)).toLowerCase();
    if (i === -1) {
      // Docker accepts a few boolean keys without a value.
      if (key === 'readonly' || key === 'ro') m.ReadOnly = true;
      else if (key === 'volume-nocopy') volume().NoCopy = true;
      else if (key === 'bind-create-mountpoint') bind().CreateMountpoint = true;
      else throw invalid(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const v = field.slice(i + 1);
    switch (key) {
      case 'type':
        m.Type = v as MountType;
        break;
      case 'source':
      case 'src':
        m.Source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = v;
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = parseBool(key, v);
        break;
      case 'consistency':
        break;
      case 'bind-propagation':
        if (!(PROPAGATIONS as readonly string[]).includes(v)) throw invalid(`invalid propagation mode: ${v}`);
        bind().Propagation = v as Propagation;
        break;
      case 'bind-create-mountpoint':
        bind().CreateMountpoint = parseBool(key, v);
        break;
      case 'volume-nocopy':
        volume().NoCopy = parseBool(key, v);
        break;
      case 'volume-label': {
        const [k, lv] = splitKv(v, 'label');
        volume().Labels = { ...volume().Labels, [k]: lv };
        break;
      }
      case 'volume-driver':
        volume().DriverConfig = { ...volume().DriverConfig, Name: v };
        break;
      case 'volume-opt': {
        const [k, ov] = splitKv(v, 'option');
        const dc = (volume().DriverConfig ??= {});
        dc.Options = { ...dc.Options, [k]: ov };
        break;
      }
      case 'tmpfs-size':
        try {
          tmpfs().SizeBytes = parseBytes(v);
        } catch {
          throw invalid(`invalid value for ${key}: ${v}`);
        }
        break;
      case 'tmpfs-mode': {
        if (!/^[0-7]+$/.test(v)) throw invalid(`invalid value for ${key}: ${v}`);
        tmpfs().Mode = parseInt(v, 8);
        break;
      }
      default:
        throw invalid(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Type) throw invalid('type is required');
  if (!m.Target) throw invalid('target is required');
  if (m.VolumeOptions && m.Type !== 'volume') throw invalid(`cannot mix 'volume-*' options with mount type '${m.Type}'`);
  if (m.BindOptions && m.Type !== 'bind') throw invalid(`cannot mix 'bind-*' options with mount type '${m.Type}'`);
  if (m.TmpfsOptions && m.Type !== 'tmpfs') throw invalid(`cannot mix 'tmpfs-*' options with mount type '${m.Type}'`);
  return m as MountSpec;
}

/** `--mount` value → a HostConfig.Mounts entry; errors worded as the docker CLI's flag errors. */
export function parseMountFlag(value: string): MountSpec {
  try {
    return parseMountCsv(value);
  } catch (e) {
    if (e instanceof HullError) throw invalid(`invalid argument "${value}" for "--mount" flag: ${e.message}`);
    throw e;
  }
}

/**
 * `-v` and `--mount` flags into the create request, as the docker CLI splits them: `SRC:DST…`
 * goes to HostConfig.Binds (a source starting with `.` made absolute), a lone path to
 * Config.Volumes (an anonymous volume), `--mount` to HostConfig.Mounts.
 */
export function splitVolumeFlags(volumes: readonly string[] = [], mounts: readonly string[] = []): { binds: string[] | null; volumes?: Record<string, object>; mounts?: MountSpec[] } {
  const binds: string[] = [];
  const anon: Record<string, object> = {};
  for (const v of volumes) {
    const i = v.indexOf(':');
    if (i > 0) binds.push(v.startsWith('.') ? `${resolve(v.slice(0, i))}${v.slice(i)}` : v);
    else anon[v] = {};
  }
  return {
    binds: binds.length > 0 ? binds : null,
    ...(Object.keys(anon).length > 0 ? { volumes: anon } : {}),
    ...(mounts.length > 0 ? { mounts: mounts.map(parseMountFlag) } : {}),
  };
}
