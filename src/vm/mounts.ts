/**
 * A VM's volumes, binds and tmpfs mounts, taken from the bundle's config.json as runc takes them
 * (docs/ARCHITECTURE.md, "Virtual machines", volumes). Each bind (named volumes are binds of
 * their directory by then) is one more virtio-fs share with its own virtiofsd; the guest init
 * mounts it and bind-mounts it (or, for a file, the file in it) at the destination. tmpfs mounts
 * are made by the init in the guest. The mounts every container gets (/proc, /sys, /dev…) and
 * the engine's /etc files are the init's own business.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { statSync } from 'node:fs';
import type { OciMount } from '../container/spec/oci-types.js';

/** Mounted by the init itself in every guest (the defaults of container/spec/spec.ts). */
const INIT_MOUNTS = new Set(['/proc', '/sys', '/sys/fs/cgroup', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']);

export interface GuestShare {
  /** virtio-fs tag, also the name of its socket and pid file in the VM directory. */
  tag: string;
  /** The host directory virtiofsd serves: the bind source, or a file source's directory. */
  dir: string;
  /** Set for a file bind: the name of the file in `dir`. */
  file?: string;
  destination: string;
  readonly: boolean;
}

export interface GuestTmpfs {
  destination: string;
  /** Mount data (size=, mode=) and flags, from the OCI options. */
  data: string;
  flags: number;
}

// <sys/mount.h>
const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const FLAG_OPTIONS: Record<string, number> = { ro: MS_RDONLY, nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC };

export interface GuestMounts {
  /** In config.json's order (parents before children), which the init keeps. */
  entries: (({ kind: 'share' } & GuestShare) | ({ kind: 'tmpfs' } & GuestTmpfs))[];
  shares: GuestShare[];
}

export function guestMounts(bundle: string): GuestMounts {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { mounts?: OciMount[] };
  const entries: GuestMounts['entries'] = [];
  for (const m of spec.mounts ?? []) {
    const options = m.options ?? [];
    const isBind = m.type === 'bind' || options.includes('bind') || options.includes('rbind');
    if (isBind) {
      // The engine's /etc/hosts, resolv.conf and hostname live in the bundle; the init writes their content.
      if (!m.source || !relative(bundle, m.source).startsWith('..')) continue;
      const isFile = !statSync(m.source).isDirectory();
      const share: GuestShare = {
        tag: `hullvol${entries.length}`,
        dir: isFile ? dirname(m.source) : m.source,
        ...(isFile ? { file: basename(m.source) } : {}),
        destination: m.destination,
        readonly: options.includes('ro'),
      };
      entries.push({ kind: 'share', ...share });
    } else if (m.type === 'tmpfs' && !INIT_MOUNTS.has(m.destination)) {
      const flags = options.reduce((f, o) => f | (FLAG_OPTIONS[o] ?? 0), 0);
      const data = options.filter((o) => !(o in FLAG_OPTIONS) && /^(size|mode|nr_inodes|uid|gid)=/.test(o)).join(',');
      entries.push({ kind: 'tmpfs', destination: m.destination, data, flags });
    }
  }
  return { entries, shares: entries.filter((e): e is { kind: 'share' } & GuestShare => e.kind === 'share') };
}

/** QEMU's devices for the shares: one vhost-user-fs each, on the socket its virtiofsd serves. */
export function qemuShareArgs(shares: GuestShare[]): string[] {
  return shares.flatMap((s) => ['-chardev', `socket,id=${s.tag},path=${s.tag}.sock`, '-device', `vhost-user-fs-pci,chardev=${s.tag},tag=${s.tag}`]);
}

/**
 * The guest init's fields (native/vm/hull-vm-init.c): V<tag> (a share) or T<data> (a tmpfs)
 * starts an entry, then D<destination>, f<mount flags>, and F<file name> for a file bind.
 */
export function mountFields(mounts: GuestMounts): string[] {
  return mounts.entries.flatMap((e) =>
    e.kind === 'share'
      ? [`V${e.tag}`, `D${e.destination}`, `f${e.readonly ? MS_RDONLY : 0}`, ...(e.file ? [`F${e.file}`] : [])]
      : [`T${e.data}`, `D${e.destination}`, `f${e.flags}`],
  );
}
