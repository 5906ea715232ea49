/**
 * Docker Engine API shapes for images (ImageSummary, ImageInspect, HistoryResponseItem), built
 * from the store. The CLI renders these; `hull serve` will return them as they are.
 */
import type { ContainerConfig, HistoryEntry } from '../image/config.js';
import { familiarString, parseReference } from '../image/reference.js';
import type { ImageStore, StoredImage } from '../image/store.js';

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

/** `docker.io/library/busybox:latest` → `busybox:latest`, as Docker shows names. */
export function familiar(canonical: string): string {
  return familiarString(parseReference(canonical));
}

function createdSeconds(img: StoredImage): number {
  const t = Date.parse(img.config.created ?? img.row.createdAt);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

export function imageSummary(img: StoredImage): ImageSummary {
  return {
    Id: img.id,
    ParentId: img.row.parent ?? '',
    RepoTags: img.tags.map(familiar),
    RepoDigests: img.repoDigests.map(familiar),
    Created: createdSeconds(img),
    Size: img.row.size,
    SharedSize: -1,
    Labels: img.config.config?.Labels ?? {},
    Containers: -1,
  };
}

/** Docker's ContainerConfig as image inspect prints it: every field present, nulls where unset. */
function fullConfig(c: ContainerConfig | undefined): Record<string, unknown> {
  return {
    Hostname: '',
    Domainname: '',
    User: c?.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c?.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c?.Env ?? null,
    Cmd: c?.Cmd ?? null,
    ...(c?.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    ...(c?.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: '',
    Volumes: c?.Volumes ?? null,
    WorkingDir: c?.WorkingDir ?? '',
    Entrypoint: c?.Entrypoint ?? null,
    OnBuild: c?.OnBuild ?? null,
    Labels: c?.Labels ?? null,
    ...(c?.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c?.Shell ? { Shell: c.Shell } : {}),
  };
}

export function imageInspect(store: ImageStore, img: StoredImage): Record<string, unknown> {
  const cfg = img.config;
  const layerDirs = cfg.rootfs.diff_ids.map((d) => store.layers.path(d as never)).reverse();
  return {
    Id: img.id,
    RepoTags: img.tags.map(familiar),
    RepoDigests: img.repoDigests.map(familiar),
    Parent: img.row.parent ?? '',
    Comment: cfg.comment ?? '',
    Created: cfg.created ?? img.row.createdAt,
    DockerVersion: cfg.docker_version ?? '',
    Author: cfg.author ?? '',
    Config: fullConfig(cfg.config),
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    ...(cfg['os.version'] ? { OsVersion: cfg['os.version'] } : {}),
    Size: img.row.size,
    GraphDriver: {
      Name: 'overlay',
      Data: layerDirs.length > 0 ? { LowerDir: layerDirs.join(':') } : {},
    },
    RootFS: { Type: 'layers', Layers: cfg.rootfs.diff_ids },
    Metadata: { LastTagTime: img.row.createdAt },
  };
}

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

/** Newest first; the top entry carries the image id, older ones `<missing>` as Docker prints for pulled images. */
export function imageHistory(store: ImageStore, img: StoredImage): HistoryItem[] {
  const cfg = img.config;
  const diffIds = cfg.rootfs.diff_ids;
  const entries: HistoryEntry[] = cfg.history && cfg.history.length > 0 ? cfg.history : diffIds.map(() => ({}));
  let layer = 0;
  const items: HistoryItem[] = entries.map((h) => {
    let size = 0;
    if (!h.empty_layer) {
      const d = diffIds[layer++];
      size = d ? (store.records.getLayer(d)?.size ?? 0) : 0;
    }
    const t = h.created ? Date.parse(h.created) : NaN;
    return {
      Id: '<missing>',
      Created: Number.isNaN(t) ? 0 : Math.floor(t / 1000),
      CreatedBy: h.created_by ?? '',
      Tags: null,
      Size: size,
      Comment: h.comment ?? '',
    };
  });
  items.reverse();
  if (items[0]) {
    items[0].Id = img.id;
    items[0].Tags = img.tags.map(familiar);
  }
  return items;
}

