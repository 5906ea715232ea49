/**
 * A container's mounts: from its create request (HostConfig.Binds, HostConfig.Mounts,
 * HostConfig.VolumesFrom, Config.Volumes with the image's VOLUME entries) to the resolved
 * mount points it keeps (ContainerDoc.MountPoints), and at each start to OCI mounts.
 *
 * Docker's precedence: --volumes-from first, then -v and --mount (the same destination twice
 * among those is an error), then an anonymous volume for every Config.Volumes destination not
 * already covered. Everything is checked before any volume is created.
 */
import { execFile } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ContainerDoc } from '../container/model.js';
import type { OciMount } from '../container/spec/oci-types.js';
import { HullError, messageOf } from '../util/errors.js';
import type { MountPoint } from '../volume/model.js';
import { mountPointOf, parseBind, parseVolumesFrom } from '../volume/parse.js';
import type { CreateVolumeOptions, VolumeStore } from '../volume/store.js';
import { resolveInScope } from './container-fs.js';

const execFileP = promisify(execFile);

interface Planned {
  point: MountPoint;
  /** For a volume `--mount` may create: its labels and driver options. */
  create?: CreateVolumeOptions;
}

function clean(p: string): string {
  return p.replace(/\/+$/, '') || '/';
}

/** Resolve and check every mount of a container about to be created; no side effects. */
export function planMounts(doc: ContainerDoc, mountsOf: (ref: string) => MountPoint[]): Planned[] {
  const h = doc.HostConfig;
  const byDest = new Map<string, Planned>();
  for (const spec of h.VolumesFrom ?? []) {
    const { container, rw } = parseVolumesFrom(spec);
    for (const m of mountsOf(container)) {
      byDest.set(m.Destination, { point: { ...m, ...(rw !== undefined ? { RW: rw, Mode: rw ? 'rw' : 'ro' } : {}) } });
    }
  }
  const explicit = new Set<string>(Object.keys(h.Tmpfs ?? {}).map(clean));
  const add = (p: Planned): void => {
    if (explicit.has(p.point.Destination)) throw new HullError('INVALID_ARGUMENT', `Duplicate mount point: ${p.point.Destination}`);
    explicit.add(p.point.Destination);
    byDest.set(p.point.Destination, p);
  };
  for (const raw of h.Binds ?? []) add({ point: parseBind(raw) });
  for (const m of (h.Mounts ?? [])) {
    const vo = m.VolumeOptions;
    add({ point: mountPointOf(m), ...(vo ? { create: { labels: vo.Labels ?? {}, options: vo.DriverConfig?.Options ?? {} } } : {}) });
  }
  for (const dest of Object.keys(doc.Config.Volumes ?? {})) {
    const p = parseBind(dest);
    if (!byDest.has(p.Destination)) byDest.set(p.Destination, { point: p });
  }
  return [...byDest.values()];
}

/**
 * Create the volumes the plan names (named ones unless they exist, a fresh one per anonymous
 * mount) and fill in their sources. Returns the mount points and the anonymous volumes made,
 * which the caller removes again if the container is not created after all.
 */
export async function createPlannedVolumes(plan: Planned[], volumes: VolumeStore): Promise<{ points: MountPoint[]; anonymous: string[] }> {
  const anonymous: string[] = [];
  const points: MountPoint[] = [];
  try {
    for (const { point, create } of plan) {
      if (point.Type !== 'volume') {
        points.push(point);
        continue;
      }
      const { doc } = await volumes.create(point.Name, create ?? {});
      if (!point.Name) anonymous.push(doc.Name);
      points.push({ ...point, Name: doc.Name, Source: doc.Mountpoint });
    }
  } catch (e) {
    await removeVolumes(volumes, anonymous);
    throw e;
  }
  return { points, anonymous };
}

export async function removeVolumes(volumes: VolumeStore, names: string[]): Promise<void> {
  for (const n of names) await volumes.remove(n).catch(() => undefined);
}

/**
 * Docker's copy-up: an empty volume mounted where the image has content gets a copy of that
 * content (owners, modes, times, xattrs: `cp -a`), the directory's own owner and mode included.
 */
async function copyUp(rootfs: string, dest: string, data: string): Promise<void> {
  const inside = resolveInScope(rootfs, dest);
  const src = `${rootfs}${inside}`;
  if (!lstatSync(src, { throwIfNoEntry: false })?.isDirectory()) return;
  try {
    await execFileP('cp', ['-a', '--preserve=all', `${src}/.`, `${data}/`]);
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr?.trim();
    throw new HullError('INTERNAL', `failed to copy image content at ${dest} into its volume: ${stderr || messageOf(e)}`);
  }
}

/** At start: volumes ready (mounted, filled), bind sources made when `-v` asks, the OCI mounts. */
export async function ociMountsFor(points: readonly MountPoint[], volumes: VolumeStore, rootfs: string, containerId: string): Promise<OciMount[]> {
  const out: OciMount[] = [];
  for (const m of points) {
    const ro = m.RW ? [] : ['ro'];
    if (m.Type === 'tmpfs') {
      const t = m.TmpfsOptions ?? {};
      out.push({
        destination: m.Destination,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['noexec', 'nosuid', 'nodev', ...(t.SizeBytes ? [`size=${t.SizeBytes}`] : []), ...(t.Mode !== undefined ? [`mode=${t.Mode.toString(8)}`] : []), ...ro],
      });
      continue;
    }
    let source = m.Source;
    if (m.Type === 'volume') {
      source = await volumes.prepare(m.Name!, containerId);
      if (m.CopyData && (await volumes.isEmpty(m.Name!))) await copyUp(rootfs, m.Destination, source);
    } else if (!lstatSync(source, { throwIfNoEntry: false })) {
      if (!m.CreateSource) throw new HullError('INVALID_ARGUMENT', `invalid mount config for type "bind": bind source path does not exist: ${source}`);
      await mkdir(source, { recursive: true, mode: 0o755 });
    }
    out.push({ destination: m.Destination, type: 'bind', source, options: ['rbind', m.Propagation || 'rprivate', ...ro] });
  }
  return out;
}
