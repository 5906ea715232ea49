/**
 * Mount specifications as Docker reads them: `-v SRC:DST[:MODE]` (the daemon's linux parser,
 * volume/mounts/linux_parser.go), `--mount k=v,...` (the CLI's opts/mount.go) and the checks
 * the daemon applies to every HostConfig.Mounts entry (validateMountConfig). Messages are
 * Docker's, word for word, so scripts that match on them keep working. Pure: nothing here
 * touches the host except the bind-source existence check of `--mount`.
 */
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { HullError } from '../util/errors.js';
import { PROPAGATIONS, VOLUME_NAME_PATTERN, type MountPoint, type MountSpec, type MountType, type Propagation } from './model.js';

function invalid(message: string): HullError {
  return new HullError('INVALID_ARGUMENT', message);
}

function mountConfigError(type: string, why: string): HullError {
  return invalid(`invalid mount config for type "${type}": ${why}`);
}

function notAbsolute(p: string): string {
  return `invalid mount path: '${p}' mount path must be absolute`;
}

/** Docker's volume name check, with its hint for people who meant a host directory. */
export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME_PATTERN.test(name)) {
    throw invalid(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

interface Mode {
  rw?: boolean;
  propagation?: Propagation;
  label?: string;
  nocopy?: boolean;
}

/** linuxValidMountMode: comma-separated, at most one of each kind. */
function parseMode(mode: string): Mode | undefined {
  const out: Mode = {};
  for (const o of mode.split(',')) {
    if (o === 'rw' || o === 'ro') {
      if (out.rw !== undefined) return undefined;
      out.rw = o === 'rw';
    } else if ((PROPAGATIONS as readonly string[]).includes(o)) {
      if (out.propagation) return undefined;
      out.propagation = o as Propagation;
    } else if (o === 'z' || o === 'Z') {
      if (out.label) return undefined;
      out.label = o;
    } else if (o === 'nocopy') {
      if (out.nocopy) return undefined;
      out.nocopy = true;
    } else {
      return undefined;
    }
  }
  return out;
}

/** A clean absolute container path, or Docker's error for it. */
function checkTarget(type: string, target: string, raw?: string): string {
  const wrap = (why: string): HullError => (raw !== undefined ? invalid(`invalid volume specification: '${raw}': ${mountConfigError(type, why).message}`) : mountConfigError(type, why));
  if (target === '') throw wrap('field Target must not be empty');
  if (!target.startsWith('/')) throw wrap(notAbsolute(target));
  const clean = posix.normalize(target).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw invalid(raw !== undefined ? `invalid volume specification: '${raw}': invalid specification: destination can't be '/'` : "invalid specification: destination can't be '/'");
  return clean;
}

/**
 * One `-v` / HostConfig.Binds entry. `SRC` starting with `/` is a host path (created when
 * missing, as `-v` does), anything else a volume name. A lone `DST` is an anonymous volume.
 */
export function parseBind(raw: string): MountPoint {
  const parts = raw.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalid(`invalid volume specification: '${raw}'`);
  if (parts.length === 1) {
    const dst = checkTarget('volume', parts[0]!, raw);
    return { Type: 'volume', Source: '', Destination: dst, Driver: 'local', Mode: '', RW: true, Propagation: '', CopyData: true, Anonymous: true };
  }
  // `/foo:rw` is a destination and a mode, which a volume cannot be without a source.
  if (parts.length === 2 && parseMode(parts[1]!) !== undefined) throw invalid(`invalid volume specification: '${raw}'`);
  const [src, dstRaw, modeRaw] = parts as [string, string, string | undefined];
  const mode = modeRaw === undefined ? {} : parseMode(modeRaw);
  if (!mode) throw invalid(`invalid mode: ${modeRaw}`);
  const bind = src.startsWith('/');
  const type: MountType = bind ? 'bind' : 'volume';
  const dst = checkTarget(type, dstRaw, raw);
  if (bind) {
    if (mode.nocopy) throw invalid(`invalid mode: ${modeRaw}`);
    return { Type: 'bind', Source: posix.normalize(src), Destination: dst, Mode: modeRaw ?? '', RW: mode.rw ?? true, Propagation: mode.propagation ?? 'rprivate', CreateSource: true };
  }
  checkVolumeName(src);
  if (mode.propagation) throw invalid(`invalid volume specification: '${raw}': invalid mount config for type "volume": field Propagation must not be specified`);
  return { Type: 'volume', Name: src, Source: '', Destination: dst, Driver: 'local', Mode: modeRaw ?? 'z', RW: mode.rw ?? true, Propagation: '', CopyData: !mode.nocopy };
}

/** The daemon's validateMountConfig and conversion for one HostConfig.Mounts entry. */
export function mountPointOf(m: MountSpec): MountPoint {
  const type = String(m.Type);
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw mountConfigError(type, 'mount type unknown');
  const dst = checkTarget(type, m.Target ?? '');
  const rw = !m.ReadOnly;
  if (type !== 'bind' && m.BindOptions) throw mountConfigError(type, 'field BindOptions must not be specified');
  if (type !== 'volume' && m.VolumeOptions) throw mountConfigError(type, 'field VolumeOptions must not be specified');
  if (type !== 'tmpfs' && m.TmpfsOptions) throw mountConfigError(type, 'field TmpfsOptions must not be specified');
  if (type === 'bind') {
    const src = m.Source ?? '';
    if (src === '') throw mountConfigError(type, 'field Source must not be empty');
    if (!src.startsWith('/')) throw mountConfigError(type, notAbsolute(src));
    if (!existsSync(src) && !m.BindOptions?.CreateMountpoint) throw mountConfigError(type, `bind source path does not exist: ${src}`);
    return { Type: 'bind', Source: posix.normalize(src), Destination: dst, Mode: '', RW: rw, Propagation: m.BindOptions?.Propagation ?? 'rprivate', ...(m.BindOptions?.CreateMountpoint ? { CreateSource: true } : {}) };
  }
  if (type === 'tmpfs') {
    if (m.Source) throw mountConfigError(type, 'field Source must not be specified');
    return { Type: 'tmpfs', Source: '', Destination: dst, Mode: '', RW: rw, Propagation: '', ...(m.TmpfsOptions ? { TmpfsOptions: m.TmpfsOptions } : {}) };
  }
  const driver = m.VolumeOptions?.DriverConfig?.Name || 'local';
  if (driver !== 'local') throw invalid(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
  if (m.Source) checkVolumeName(m.Source);
  return {
    Type: 'volume',
    ...(m.Source ? { Name: m.Source } : {}),
    Source: '',
    Destination: dst,
    Driver: 'local',
    Mode: '',
    RW: rw,
    Propagation: '',
    CopyData: !m.VolumeOptions?.NoCopy,
    ...(m.Source ? {} : { Anonymous: true }),
  };
}

/** `--volumes-from NAME[:ro|rw]`. */
export function parseVolumesFrom(spec: string): { container: string; rw?: boolean } {
  const [container, mode, extra] = spec.split(':');
  if (!container || extra !== undefined) throw invalid(`invalid volumes-from specification: '${spec}'`);
  if (mode === undefined) return { container };
  if (mode !== 'ro' && mode !== 'rw') throw invalid(`invalid mode: ${mode}`);
  return { container, rw: mode === 'rw' };
}
