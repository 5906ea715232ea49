/**
 * Directory → tar, the reverse of layer-unpack.ts. Two uses:
 *
 * - `mode: 'layer'`: an overlayfs upper directory becomes an OCI layer (commit). overlayfs's own
 *   forms go back to OCI's: a 0/0 character device is the whiteout `.wh.<name>`, a directory
 *   with trusted.overlay.opaque=y gets a `<dir>/.wh..wh..opq` marker after its entry.
 * - `mode: 'tree'`: a plain tree (export of a merged rootfs, `cp` out of a container).
 *
 * The tar is written here rather than by tar-stream's pack: tar-stream encodes PAX values as
 * UTF-8 text, which corrupts binary xattrs such as security.capability, and a generator of
 * blocks gives backpressure for free.
 *
 * The output is deterministic: names in byte order, depth first (as Go's filepath.Walk, which
 * Docker's archiver uses), whole-second mtimes, no atime/ctime and no owner names, so the same
 * tree always gives the same diff id.
 *
 * The tree may belong to a running container whose processes can swap a directory for a
 * symlink while it is read. So every directory is opened with O_NOFOLLOW and its children are
 * reached through `/proc/self/fd/<dir fd>/<name>` (openat without an openat binding): a path
 * component that changes after it was checked can never send a read outside the tree.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { read } from 'node:fs';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { nativeAddon } from '../util/native.js';

const readAsync = promisify(read);

export type PackMode = 'layer' | 'tree';

export interface PackOptions {
  mode?: PackMode;
  /**
   * The source's own name in the archive. '' (the default): a directory's children sit at the
   * top level and the directory itself has no entry, as in layers and `docker export`.
   * Otherwise a directory is `<name>/` followed by `<name>/<child>`, a file is `<name>`.
   */
  name?: string;
  /** Leaves out a path (relative to the source, no leading slash) and everything below it. */
  exclude?: (rel: string) => boolean;
  /** A symlink given as the source itself is followed (`cp -L`); symlinks below it never are. */
  followSource?: boolean;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** overlayfs's bookkeeping (opaque, origin, redirect, impure...) is never image content. */
const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';
const READ_CHUNK = 1 << 20;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const FILE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK;

/** `/proc/self/fd/<fd>/<name>`: the name inside the directory `fd` holds, whatever its path is now. */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** True for overlayfs's whiteout: a character device 0/0. */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Go's byte-wise string order (JavaScript compares UTF-16 units, which differs beyond the BMP). */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** An overlay upper directory as an OCI layer tar. */
export function packLayer(upper: string, exclude?: (rel: string) => boolean): Readable {
  return packPath(upper, { mode: 'layer', ...(exclude ? { exclude } : {}) });
}

/** A whole (merged) root filesystem as a plain tar, for export. */
export function packRootfs(rootfs: string): Readable {
  return packPath(rootfs, { mode: 'tree' });
}

/** Packs `source` (a directory or any other file) into a tar stream; see PackOptions. */
export function packPath(source: string, opts: PackOptions = {}): Readable {
  return Readable.from(new Packer(opts).run(source), { objectMode: false });
}

type EntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

interface EntryHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

class Packer {
  private readonly mode: PackMode;
  /** `dev:ino` of multiply-linked files → their first archive name. */
  private readonly seen = new Map<string, string>();
  private readonly native = nativeAddon();

  constructor(private readonly opts: PackOptions) {
    this.mode = opts.mode ?? 'tree';
  }

  async *run(source: string): AsyncGenerator<Buffer> {
    // The source path itself is the caller's (a host path, or one already resolved inside a
    // container root); only what lies below it is guarded.
    if (this.opts.followSource) source = realpathSync(source);
    const name = this.opts.name ?? '';
    const st = lstatSync(source);
    if (!st.isDirectory()) {
      const parent = openSync(posix.dirname(source), constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        yield* this.entry(fdPath(parent, posix.basename(source)), st, name || posix.basename(source));
      } finally {
        closeSync(parent);
      }
    } else {
      const fd = openSync(source, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        if (name !== '') yield* this.dir(fdPath(fd, '.'), fstatSync(fd), name, '');
        yield* this.children(fd, name, '');
      } finally {
        closeSync(fd);
      }
    }
    // Two zero blocks end the archive.
    yield Buffer.alloc(1024);
  }

  /** Packs the children of the open directory `fd`, whose archive name is `prefix` and relative path `rel`. */
  private async *children(fd: number, prefix: string, rel: string): AsyncGenerator<Buffer> {
    const names = readdirSync(fdPath(fd)).sort(byteOrder);
    for (const n of names) {
      const childRel = rel === '' ? n : `${rel}/${n}`;
      if (this.opts.exclude?.(childRel)) continue;
      const path = fdPath(fd, n);
      let st: Stats;
      try {
        st = lstatSync(path);
      } catch (e) {
        // Deleted by a running container since readdir: it is simply not part of the snapshot.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const archiveName = prefix === '' ? n : `${prefix}/${n}`;
      if (this.mode === 'layer' && isWhiteout(st)) {
        // Checked before hardlinks: overlayfs (5.8+) shares one whiteout inode between many names.
        yield this.marker(prefix === '' ? `${WHITEOUT_PREFIX}${n}` : `${prefix}/${WHITEOUT_PREFIX}${n}`, st);
        continue;
      }
      if (!st.isDirectory()) {
        yield* this.entry(path, st, archiveName);
        continue;
      }
      let child: number;
      try {
        child = openSync(path, DIR_FLAGS);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Replaced by something else (ELOOP/ENOTDIR) or removed since lstat: skip the racer.
        if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') continue;
        throw e;
      }
      try {
        yield* this.dir(fdPath(child, '.'), fstatSync(child), archiveName, childRel);
        yield* this.children(child, archiveName, childRel);
      } finally {
        closeSync(child);
      }
    }
  }

  private *dir(path: string, st: Stats, name: string, rel: string): Generator<Buffer> {
    yield header({ ...this.base(st), name: `${name}/`, type: 'directory' }, this.xattrs(path));
    if (this.mode === 'layer' && rel !== '' && this.isOpaque(path)) yield this.marker(`${name}/${OPAQUE_MARKER}`, st);
  }

  /** A whiteout or opaque marker: an empty regular file, as Docker and containerd write them. */
  private marker(name: string, st: Stats): Buffer {
    return header({ ...this.base(st), name, type: 'file', mode: 0o600 }, new Map());
  }

  /** A non-directory at `path`. */
  private async *entry(path: string, st: Stats, name: string): AsyncGenerator<Buffer> {
    const head = this.base(st);
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.seen.get(key);
      if (first !== undefined) {
        yield header({ ...head, name, type: 'link', linkname: first }, new Map());
        return;
      }
      this.seen.set(key, name);
    }
    const xattrs = this.xattrs(path);
    if (st.isSymbolicLink()) {
      yield header({ ...head, name, type: 'symlink', linkname: readlinkSync(path) }, xattrs);
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      yield header({ ...head, name, type, devmajor: major(st.rdev), devminor: minor(st.rdev) }, xattrs);
    } else if (st.isFIFO()) {
      yield header({ ...head, name, type: 'fifo' }, xattrs);
    } else if (st.isFile()) {
      yield* this.file(path, head, name, xattrs);
    }
    // Sockets are not archivable (Docker skips them too).
  }

  private async *file(path: string, head: EntryHeader, name: string, xattrs: Map<string, Buffer>): AsyncGenerator<Buffer> {
    let fd: number;
    try {
      fd = openSync(path, FILE_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return;
      throw e;
    }
    try {
      const st = fstatSync(fd);
      // Swapped for something else since lstat: the snapshot skips it rather than read a device.
      if (!st.isFile()) return;
      const size = st.size;
      yield header({ ...head, name, type: 'file', size }, xattrs);
      let done = 0;
      while (done < size) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - done));
        const { bytesRead } = await readAsync(fd, buf, 0, buf.length, done);
        // A file shrinking while it is read still needs exactly `size` bytes: pad with zeros.
        const chunk = bytesRead === 0 ? buf.fill(0) : buf.subarray(0, bytesRead);
        done += chunk.length;
        yield chunk;
      }
      if (size % BLOCK !== 0) yield Buffer.alloc(BLOCK - (size % BLOCK));
    } finally {
      closeSync(fd);
    }
  }

  private base(st: Stats): EntryHeader {
    return {
      name: '',
      type: 'file',
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: 0,
      mtime: Math.max(0, Math.floor(st.mtimeMs / 1000)),
    };
  }

  private isOpaque(path: string): boolean {
    const v = this.native.lgetxattr(path, OPAQUE_XATTR);
    return v !== null && v.toString() === 'y';
  }

  private xattrs(path: string): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    let names: string[];
    try {
      names = this.native.llistxattr(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTSUP') return out;
      throw e;
    }
    for (const n of names.sort(byteOrder)) {
      if (n.startsWith(OVERLAY_XATTR_PREFIX)) continue;
      const v = this.native.lgetxattr(path, n);
      if (v !== null) out.set(n, v);
    }
    return out;
  }
}

const BLOCK = 512;
const TYPEFLAGS: Record<EntryType | 'pax', string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  pax: 'x',
};
/** The largest value of a 7-digit octal field (uid, gid) and an 11-digit one (size). */
const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

/**
 * The header block(s) of one entry: a PAX extended header first when the entry needs one (a
 * name or link target that does not fit ustar, xattrs, ids or a size too large for the fields).
 */
function header(h: EntryHeader, xattrs: Map<string, Buffer>): Buffer {
  const records: Buffer[] = [];
  const split = splitName(h.name);
  if (!split) records.push(paxRecord('path', Buffer.from(h.name)));
  const linkname = h.linkname ?? '';
  const linkFits = Buffer.byteLength(linkname) <= 100;
  if (!linkFits) records.push(paxRecord('linkpath', Buffer.from(linkname)));
  if (h.uid > MAX_OCTAL7) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (h.gid > MAX_OCTAL7) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (h.size > MAX_OCTAL11) records.push(paxRecord('size', Buffer.from(String(h.size))));
  for (const [k, v] of xattrs) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const main = block({
    ...(split ?? { prefix: '', name: placeholder(h.name) }),
    typeflag: TYPEFLAGS[h.type],
    mode: h.mode,
    uid: h.uid > MAX_OCTAL7 ? 0 : h.uid,
    gid: h.gid > MAX_OCTAL7 ? 0 : h.gid,
    size: h.size > MAX_OCTAL11 ? 0 : h.size,
    mtime: Math.min(h.mtime, MAX_OCTAL11),
    linkname: linkFits ? linkname : placeholder(linkname),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (records.length === 0) return main;
  const body = Buffer.concat(records);
  const pax = block({ prefix: '', name: placeholder(`PaxHeaders/${h.name}`), typeflag: TYPEFLAGS.pax, mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: Math.min(h.mtime, MAX_OCTAL11), linkname: '', devmajor: 0, devminor: 0 });
  return Buffer.concat([pax, body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK), main]);
}

interface RawHeader {
  prefix: string;
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** One ustar header block. */
function block(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  b.write(octal(h.mode, 7), 100, 'latin1');
  b.write(octal(h.uid, 7), 108, 'latin1');
  b.write(octal(h.gid, 7), 116, 'latin1');
  b.write(octal(h.size, 11), 124, 'latin1');
  b.write(octal(h.mtime, 11), 136, 'latin1');
  b.write(h.typeflag, 156, 'latin1');
  b.write(h.linkname, 157, 100, 'utf8');
  b.write('ustar\0' + '00', 257, 'latin1');
  b.write(octal(h.devmajor, 7), 329, 'latin1');
  b.write(octal(h.devminor, 7), 337, 'latin1');
  b.write(h.prefix, 345, 155, 'utf8');
  // The checksum is computed with its own field as spaces.
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${octal(sum, 6)} `, 148, 'latin1');
  return b;
}

/** `n` as zero-padded octal digits and a NUL. */
function octal(n: number, digits: number): string {
  return `${Math.max(0, Math.trunc(n)).toString(8).padStart(digits, '0')}\0`;
}

/** ustar's name/prefix split, or undefined when the name needs PAX. */
function splitName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  // The prefix ends at a slash; the name part gets as much as fits in 100 bytes.
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) > 155) return undefined;
    if (Buffer.byteLength(rest) <= 100 && rest !== '') return { prefix, name: rest };
  }
  return undefined;
}

/** What the ustar field says when the real value is in PAX: something short, for readers without PAX. */
function placeholder(value: string): string {
  const ascii = value.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= 100 ? ascii : ascii.slice(-100);
}

/** One PAX record: "<length> <key>=<value>\n", the length counting the whole record in bytes. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // space, '=', newline
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

/** glibc's major()/minor() for the 64-bit dev_t Node reports. */
function major(dev: number): number {
  return Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
}

function minor(dev: number): number {
  return Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
}
