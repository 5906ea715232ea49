/**
 * Volume and mount shapes, in Docker's Engine API form: `MountSpec` is an entry of
 * HostConfig.Mounts (what `--mount` sends), `MountPoint` is what a container keeps once its
 * mounts are resolved (Docker's container.MountPoint) and what `inspect` shows as Mounts.
 *
 * A mount point is a plain host directory plus a description (type, destination, options):
 * the container backend bind-mounts it, a VM backend can share the same directory over
 * virtio-fs or 9p without anything else knowing.
 */
export type MountType = 'bind' | 'volume' | 'tmpfs';

export const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'] as const;
export type Propagation = (typeof PROPAGATIONS)[number];

/** One HostConfig.Mounts entry (Docker's mount.Mount). */
export interface MountSpec {
  Type: MountType;
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: Propagation; CreateMountpoint?: boolean };
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    DriverConfig?: { Name?: string; Options?: Record<string, string> };
  };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** A resolved mount of a container. The first seven fields are Docker's inspect `Mounts` entry. */
export interface MountPoint {
  Type: MountType;
  /** Volume name (volumes only). */
  Name?: string;
  /** Host path: the bind source or the volume's `_data`; empty for tmpfs. */
  Source: string;
  Destination: string;
  Driver?: string;
  /** As given (`ro`, `z`, …); Docker shows `z` for a `-v` volume, `` for `--mount`. */
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** hull's own bookkeeping, not shown: fill an empty volume from the image (not `nocopy`). */
  CopyData?: boolean;
  /** Created for this container (image VOLUME, `-v /path`, `--mount` without source): `rm -v` removes it. */
  Anonymous?: boolean;
  /** hull's own: a `-v` bind source is created when missing; a `--mount` one is an error. */
  CreateSource?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** The label Docker (23+) puts on anonymous volumes; `volume prune` without -a removes only those. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** Docker's local volume name rule. */
export const VOLUME_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** What `volume inspect` answers (Docker's volume.Volume). */
export interface VolumeDoc {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string>;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string>;
  Scope: 'local';
}

/** Docker's inspect Mounts entry for a mount point (bookkeeping fields left out). */
export function mountView(m: MountPoint): Record<string, unknown> {
  return {
    Type: m.Type,
    ...(m.Name !== undefined ? { Name: m.Name } : {}),
    Source: m.Source,
    Destination: m.Destination,
    ...(m.Driver !== undefined ? { Driver: m.Driver } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  };
}
