/** Where a container's files live under the state root. */
import { join } from 'node:path';

export interface ContainerPaths {
  /** The OCI bundle: config.json here, rootfs/ below. */
  dir: string;
  rootfs: string;
  /** overlayfs upperdir (the container's changes) and workdir. */
  upper: string;
  work: string;
  logPath: string;
  hosts: string;
  hostname: string;
  resolvConf: string;
  /**
   * The monitor's state (pid, attach socket, exit.json). Kept short on purpose: a unix socket
   * path may not exceed 108 bytes, and container dirs are long.
   */
  monitor: string;
}

export function containerPaths(root: string, id: string): ContainerPaths {
  const dir = join(root, 'containers', id);
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'diff'),
    work: join(dir, 'work'),
    logPath: join(dir, `${id}-json.log`),
    hosts: join(dir, 'hosts'),
    hostname: join(dir, 'hostname'),
    resolvConf: join(dir, 'resolv.conf'),
    monitor: join(root, 'run', id.slice(0, 16)),
  };
}

/** The OCI runtime's own state directory (`runc --root`). */
export function runtimeRoot(root: string): string {
  return join(root, 'runtime');
}
