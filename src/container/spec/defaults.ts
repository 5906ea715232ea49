/**
 * What every non-privileged container gets, as Docker gives it (moby oci/defaults.go and
 * daemon/oci_linux.go): the kernel interfaces hidden or made read-only, the standard mounts, the
 * device nodes and the device cgroup rules.
 */
import type { OciDevice, OciDeviceCgroup, OciMount } from './oci-types.js';

/** Bind-mounted over with /dev/null (files) or an empty read-only tmpfs (directories) by the runtime. */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Remounted read-only: writable they would reconfigure the host kernel. */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Docker's --shm-size default: 64 MiB. */
export const DEFAULT_SHM_SIZE = 67108864;

/** The standard mounts, in mount order (parents before children). */
export function defaultMounts(shmSize: number = DEFAULT_SHM_SIZE): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    // With cgroup v1 runc bind-mounts the container's own directory of each controller here.
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
  ];
}

function charDevice(path: string, major: number, minor: number): OciDevice {
  return { path, type: 'c', major, minor, fileMode: 0o666, uid: 0, gid: 0 };
}

/**
 * The device nodes created in the container's /dev. runc would add the same ones by itself;
 * listing them makes the bundle mean the same under any OCI runtime. /dev/console is the
 * runtime's business (it appears only with a terminal), /dev/ptmx is a link into /dev/pts.
 */
export const DEFAULT_DEVICES: readonly OciDevice[] = [
  charDevice('/dev/null', 1, 3),
  charDevice('/dev/zero', 1, 5),
  charDevice('/dev/full', 1, 7),
  charDevice('/dev/random', 1, 8),
  charDevice('/dev/urandom', 1, 9),
  charDevice('/dev/tty', 5, 0),
];

function allowChar(major: number | undefined, minor: number | undefined, access = 'rwm'): OciDeviceCgroup {
  const rule: OciDeviceCgroup = { allow: true, type: 'c', access };
  if (major !== undefined) rule.major = major;
  if (minor !== undefined) rule.minor = minor;
  return rule;
}

/**
 * Device cgroup rules: deny everything, then allow creating any node (mknod is harmless without
 * the right to open it) and using the standard character devices.
 */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  allowChar(undefined, undefined, 'm'),
  { allow: true, type: 'b', access: 'm' },
  allowChar(1, 3), // null
  allowChar(1, 5), // zero
  allowChar(1, 7), // full
  allowChar(1, 8), // random
  allowChar(1, 9), // urandom
  allowChar(5, 0), // tty
  allowChar(5, 1), // console
  allowChar(5, 2), // ptmx
  allowChar(136, undefined), // pts/*
  allowChar(10, 200), // net/tun
];
