/** Exec instances: created by POST /containers/{id}/exec, run by /exec/{id}/start, kept for inspect. */
import { randomBytes } from 'node:crypto';

export interface ExecConfig {
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  DetachKeys: string;
  Tty: boolean;
  Env: string[];
  Cmd: string[];
  Privileged: boolean;
  User: string;
  WorkingDir: string;
  ConsoleSize?: [number, number];
}

export interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  /** Set while a TTY exec runs: resizes its terminal. */
  resize?: (rows: number, cols: number) => void;
}

export function newExec(containerId: string, config: ExecConfig): ExecInstance {
  return { id: randomBytes(32).toString('hex'), containerId, config, running: false, started: false, exitCode: null, pid: 0 };
}

/** GET /exec/{id}/json. */
export function execInspect(e: ExecInstance): Record<string, unknown> {
  return {
    ID: e.id,
    Running: e.running,
    ExitCode: e.exitCode,
    ProcessConfig: { tty: e.config.Tty, entrypoint: e.config.Cmd[0] ?? '', arguments: e.config.Cmd.slice(1), privileged: e.config.Privileged, user: e.config.User },
    OpenStdin: e.config.AttachStdin,
    OpenStderr: e.config.AttachStderr,
    OpenStdout: e.config.AttachStdout,
    CanRemove: !e.running && e.started,
    ContainerID: e.containerId,
    DetachKeys: e.config.DetachKeys,
    Pid: e.pid,
  };
}
