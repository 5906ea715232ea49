/**
 * A container's documents, in Docker's Engine API shapes so the CLI, the API server and
 * `inspect` share them: Config (what runs) and HostConfig (how it is confined), as
 * POST /containers/create takes them, plus State as GET /containers/{id}/json reports it.
 */
import type { MountPoint, MountSpec } from '../volume/model.js';

export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
}

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface HostConfig {
  Binds: string[] | null;
  NetworkMode: string;
  /** `-p`: "80/tcp" → host bindings (Docker's nat.PortMap). */
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
  /** `-P`: every exposed port on a random host port. */
  PublishAllPorts?: boolean;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  Privileged: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  Tmpfs: Record<string, string> | null;
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  CpuQuota: number;
  CpuPeriod: number;
  PidsLimit: number | null;
  Devices: DeviceMapping[] | null;
  Ulimits: Ulimit[] | null;
  Init: boolean | null;
  GroupAdd: string[] | null;
  LogConfig: { Type: string; Config: Record<string, string> };
  ShmSize: number;
  Runtime: string;
  Isolation: string;
  /** hull's own (`--kernel`, with Isolation "vm"): the guest kernel to boot instead of the default. */
  VmKernel?: string;
  ExtraHosts: string[] | null;
  Dns: string[] | null;
  OomScoreAdj: number;
  /** `--mount` entries and `--volumes-from` sources (volume/model.ts). */
  Mounts?: MountSpec[] | null;
  VolumesFrom?: string[] | null;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** hull's bookkeeping: the monitor holding the container, and restart-policy state. */
  MonitorPid: number;
  RestartCount: number;
  /** Set by stop/kill from the user: restart policies (but `always` after an engine restart) stay quiet. */
  ManuallyStopped: boolean;
  /** The OCI runtime that holds the running container. */
  Runtime: string;
  /** Set by `restart` for its stop: a --rm container is not removed by that exit (Docker 20.10+). */
  KeepOnExit?: boolean;
}

/** What a container row's `config` column holds. */
export interface ContainerDoc {
  Config: ContainerConfig;
  HostConfig: HostConfig;
  /** The process, resolved at create from Entrypoint + Cmd: Docker's Path and Args. */
  Path: string;
  Args: string[];
  /** Resolved at create from Binds, Mounts, VolumesFrom and Config.Volumes (engine/container-mounts.ts). */
  MountPoints?: MountPoint[];
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerState {
  return {
    Status: 'created',
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 0,
    ExitCode: 0,
    Error: '',
    StartedAt: ZERO_TIME,
    FinishedAt: ZERO_TIME,
    MonitorPid: 0,
    RestartCount: 0,
    ManuallyStopped: false,
    Runtime: '',
  };
}
