import { createRequire } from 'node:module';
import { join } from 'node:path';
import { HullError } from './errors.js';
import { packageRoot } from './package-root.js';

/**
 * The syscalls Node's fs lacks, from native/hull_native.c. Failures throw errors shaped like
 * Node's fs errors (`code` 'EPERM', `errno`, `syscall`, `path`).
 */
export interface NativeAddon {
  /** mknod(2): `mode` carries the type bits (S_IFCHR, S_IFBLK, S_IFIFO) and is subject to the umask. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** Never follows a final symlink. */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is not set. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** mount(2); `data` is the filesystem's option string. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2); flags e.g. MNT_DETACH = 2. */
  umount2(target: string, flags: number): void;
  /** The same on libuv's thread pool (an unmount waits for an RCU grace period). */
  umount2Async(target: string, flags: number): Promise<void>;
  /** A new pseudo-terminal: [master fd, slave fd], both close-on-exec. */
  openpty(): [number, number];
  /** Which compat system-call ABIs the kernel executes (native/abi-probe.c); {} on hosts other than x86_64. */
  kernelAbis(): { x32?: boolean; ia32?: boolean };
  /**
   * Go's exec.LookPath of `file` as runc's init would run it (native/seccomp/lookpath.h): in
   * process `pid`'s mount namespace, relative names against `cwd`, as `uid`/`gid`/`groups` with
   * the effective capabilities `caps` (hex mask). null when found (or when that cannot be
   * tried), otherwise Docker's exit status and Go's message (`exec: "x": executable file not found in $PATH`).
   */
  lookPathIn(pid: number, cwd: string, file: string, pathEnv: string, uid: number, gid: number, groups: number[], caps: string): { status: number; message: string } | null;
  /** A sealed memfd copy of a file (close-on-exec fd); `exec`: it will be executed (native/seccomp/sealed-copy.h). */
  sealedCopy(path: string, name: string, exec: boolean): number;
  /** TIOCSWINSZ. */
  setWinsize(fd: number, rows: number, cols: number): void;
  /** socketpair(AF_UNIX, SOCK_STREAM), both ends close-on-exec. */
  socketpair(): [number, number];
  /** Sends one length-prefixed message with `fds` attached (SCM_RIGHTS). */
  sendFds(fd: number, payload: Buffer, fds: number[]): void;
  /** Receives one sendFds message; null when the peer closed first; throws ETIMEDOUT after `timeoutMs` (< 0: never). */
  recvFds(fd: number, timeoutMs: number): { data: Buffer; fds: number[] } | null;
  dup2(oldfd: number, newfd: number): void;
  /** close(2) of a raw fd no Node handle owns. */
  closeFd(fd: number): void;
  /** Non-blocking exclusive flock(2); false when another process holds the lock. */
  flockExclusive(fd: number): boolean;
  // rtnetlink and network namespaces (native/netlink.c): what `ip` did, without its fork.
  /** `ip netns add`: a new network namespace bound onto `path` (loopback down); EEXIST if taken. */
  netnsCreate(path: string): void;
  /** netnsCreate on libuv's thread pool. */
  netnsCreateAsync(path: string): Promise<void>;
  /** A new network namespace (loopback down) held only by the returned fd (O_CLOEXEC), made on libuv's thread pool. */
  netnsSpareAsync(): Promise<number>;
  /** `ip netns attach`: the namespace of `fd` bound onto `path`; EEXIST if taken. The caller keeps the fd. */
  netnsAttach(fd: number, path: string): void;
  /** `ip link add HOST type veth peer name PEER address MAC netns NS; ip link set HOST master BRIDGE up`. */
  vethCreate(host: string, peer: string, peerMac: string, netnsPath: string, bridge: string): void;
  /** In the namespace: lo up; `addr add IP/PREFIX broadcast + dev DEV`; DEV up; `route add default via GATEWAY dev DEV proto static metric METRIC`. */
  netnsConfigure(netnsPath: string, dev: string, ip: string, prefix: number, gateway: string, metric: number): void;
  /** `ip -n NS addr del IP/PREFIX dev DEV`. */
  addrDelete(netnsPath: string, dev: string, ip: string, prefix: number): void;
  /**
   * `ip link del NAME` (a veth takes its peer along); waits for the kernel (an RCU grace period,
   * ~20-30 ms). `ifindex` > 0: only the link with that index, whatever has that name now.
   */
  linkDelete(name: string, ifindex: number): void;
  /** linkDelete on libuv's thread pool: for a process that serves others meanwhile. */
  linkDeleteAsync(name: string, ifindex: number): Promise<void>;
  /** The nftables ruleset's generation (NFT_MSG_GETGEN), bumped by every committed change; null without nftables. */
  nftGeneration(): number | null;
}

const ADDON = join('build', 'Release', 'hull_native.node');

let cached: NativeAddon | undefined;

/** Loaded on first use, so commands that never touch layers work without the addon built. */
export function nativeAddon(): NativeAddon {
  if (cached) return cached;
  const path = join(packageRoot(), ADDON);
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    throw new HullError('INTERNAL', `cannot load hull's native addon ${path}: ${(e as Error).message}; build it with \`npm run build:native\``, {
      cause: e,
    });
  }
  return cached;
}
