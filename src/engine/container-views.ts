/** Docker API shapes for containers: the /containers/json summary and the inspect document. */
import { isVm } from '../vm/prepare.js';
import type { Container } from './containers.js';
import { containerPaths } from '../container/paths.js';
import type { ImageStore } from '../image/store.js';
import type { Digest } from '../image/digest.js';
import { mountView } from '../volume/model.js';
import { networkSettings, portSummary } from './network-views.js';
import type { NetworkService } from './networks.js';

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: unknown[];
  Labels: Record<string, string>;
  SizeRw?: number;
  SizeRootFs?: number;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: unknown[];
}

/** `sh -c 'echo hi'` the way Docker shows a command: each argument quoted only when needed. */
export function commandLine(c: Container): string {
  return [c.doc.Path, ...c.doc.Args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** "Up 5 seconds", "Exited (0) 2 minutes ago", "Created" — Docker's Status column. */
export function statusText(c: Container, humanDuration: (ms: number) => string, now = Date.now()): string {
  const s = c.state;
  switch (s.Status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'exited':
      return s.FinishedAt.startsWith('0001') ? 'Created' : `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

export function containerSummary(c: Container, humanDuration: (ms: number) => string, ns: NetworkService): ContainerSummary {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.doc.Config.Image,
    ImageID: c.imageId,
    Command: commandLine(c),
    Created: Math.floor(Date.parse(c.createdAt) / 1000),
    State: c.state.Status,
    Status: statusText(c, humanDuration),
    Ports: portSummary(ns, c),
    Labels: c.doc.Config.Labels,
    HostConfig: { NetworkMode: c.doc.HostConfig.NetworkMode },
    NetworkSettings: { Networks: networkSettings(ns, c).Networks as Record<string, unknown> },
    Mounts: (c.doc.MountPoints ?? []).map(mountView),
  };
}

/** GET /containers/{id}/json. */
export function containerInspect(root: string, images: ImageStore, ns: NetworkService, c: Container): Record<string, unknown> {
  const paths = containerPaths(root, c.id);
  const image = images.load(c.imageId);
  const lowers = (image?.config.rootfs.diff_ids ?? []).map((d) => images.layers.path(d as Digest)).reverse();
  const s = c.state;
  return {
    Id: c.id,
    Created: c.createdAt,
    Path: c.doc.Path,
    Args: c.doc.Args,
    State: {
      Status: s.Status,
      Running: s.Status === 'running' || s.Status === 'paused',
      Paused: s.Status === 'paused',
      Restarting: s.Status === 'restarting',
      OOMKilled: s.OOMKilled,
      Dead: s.Status === 'dead',
      Pid: s.Pid,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt,
      FinishedAt: s.FinishedAt,
    },
    Image: c.imageId,
    ResolvConfPath: paths.resolvConf,
    HostnamePath: paths.hostname,
    HostsPath: paths.hosts,
    LogPath: c.doc.HostConfig.LogConfig.Type === 'json-file' ? paths.logPath : '',
    Name: `/${c.name}`,
    RestartCount: s.RestartCount,
    Driver: 'overlay',
    Platform: image?.config.os ?? 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: c.doc.HostConfig,
    GraphDriver: {
      Name: 'overlay',
      Data: { LowerDir: lowers.join(':'), UpperDir: paths.upper, WorkDir: paths.work, MergedDir: paths.rootfs },
    },
    Mounts: (c.doc.MountPoints ?? []).map(mountView),
    Config: c.doc.Config,
    NetworkSettings: networkSettings(ns, c),
    // hull's own: which backend runs it.
    Isolation: isVm(c.doc) ? 'vm' : 'container',
  };
}
