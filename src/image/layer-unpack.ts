import {
  closeSync,
  chmodSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writev,
  writevSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { extract } from 'tar-stream';
import type { Extract, Header } from 'tar-stream';
import { HullError, messageOf } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';

export interface UnpackOptions {
  /** Aborting stops the unpack; the promise rejects with the AbortError. */
  signal?: AbortSignal;
}

export interface UnpackResult {
  /** Tar entries read, whiteouts and skipped entries included. */
  entries: number;
  /** Bytes of regular-file content written. */
  size: number;
}

/** tar-stream types `pax` as unknown; it is the entry's decoded PAX records. */
type EntryHeader = Header & { pax?: PaxRecords | null };
type PaxRecords = Record<string, string> & { [RAW_XATTRS]?: Map<string, Buffer> };
/** One entry of the archive: its header and a stream of its content. */
type Entry = Extract extends AsyncIterable<infer E> ? E : never;

const RAW_XATTRS = Symbol('rawXattrs');

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';
const PAX_XATTR_PREFIX = 'SCHILY.xattr.';
/**
 * overlayfs reads its own trusted.overlay.* attributes (redirect, metacopy, origin, opaque) from
 * lower layers; a layer carrying them could splice other paths into the merged view. Only the
 * unpacker sets them, from whiteout markers.
 */
const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';

/** New files are private until their final owner and mode are applied. */
const CREATE_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/**
 * File content is written in writev batches of this size: full batches asynchronously, so a
 * large file does not hold the event loop, and the last (for most files, the only) batch
 * synchronously.
 */
const WRITE_BATCH = 1 << 20;

const writevAsync = promisify(writev);

/**
 * Unpacks one uncompressed layer tar into `dest` as an overlayfs lower directory, applying
 * OCI/AUFS whiteouts the way containerd and Docker's overlay2 do: `.wh.<name>` becomes a 0/0
 * character device at `<name>`, `.wh..wh..opq` marks its directory opaque.
 *
 * Nothing is ever written outside `dest`: entries that escape it, or whose path (or hardlink
 * target) goes through a symlink, are refused with 'LAYER_UNSAFE' before anything is written
 * for them. On any failure `dest` is left partial; the caller deletes it.
 *
 * The per-entry syscalls (open, fchown, fchmod, futimes, mknod, ...) are made synchronously:
 * each takes microseconds, while handing it to libuv's thread pool costs far more in thread
 * wake-ups; on a small VM async was 2-3x slower overall. The event loop still turns between
 * input chunks, and bulk content of large files is written asynchronously.
 */
export async function unpackLayer(tar: Readable, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const writer = new LayerWriter(posix.resolve(dest));
  await mkdir(writer.root, { recursive: true });

  const ex = extract();
  keepRawPaxXattrs(ex);
  let sourceError: unknown;
  tar.on('error', (e) => {
    sourceError ??= e;
  });
  const piping = opts.signal ? pipeline(tar, ex, { signal: opts.signal }) : pipeline(tar, ex);
  // Awaited below on success; on failure the loop's own error is the one worth reporting.
  piping.catch(() => undefined);

  try {
    for await (const entry of ex) await writer.apply(entry);
    await piping;
    writer.finish();
  } catch (e) {
    throw classify(e, sourceError);
  }
  return { entries: writer.entries, size: writer.size };
}

/**
 * Input failures (network, decompression) and filesystem failures keep their own errors;
 * anything else came from the tar parser, so the archive itself is broken.
 */
function classify(e: unknown, sourceError: unknown): unknown {
  if (e instanceof HullError) return e;
  if (sourceError !== undefined) return sourceError;
  if (e instanceof Error && (e.name === 'AbortError' || 'syscall' in e)) return e;
  return new HullError('ARCHIVE_INVALID', `invalid layer archive: ${messageOf(e)}`, { cause: e });
}

class LayerWriter {
  entries = 0;
  size = 0;
  /** Paths (relative to root, '' is root) verified or created as real directories, not symlinks. */
  private readonly safeDirs = new Set<string>(['']);
  /** Non-directories written by this layer: the only valid hardlink targets. */
  private readonly linkable = new Set<string>();
  /** Directory times, applied last: writing a directory's children changes its mtime. */
  private readonly dirTimes = new Map<string, [atime: number, mtime: number]>();
  private readonly native = nativeAddon();

  constructor(readonly root: string) {}

  async apply(entry: Entry): Promise<void> {
    const header = entry.header as EntryHeader;
    this.entries++;
    const rel = cleanPath(header.name, header.name);
    const base = posix.basename(rel);
    const parent = parentOf(rel);
    // Pre-POSIX tars mark directories with a trailing slash on a regular-file type; tar-stream
    // passes that through unchanged.
    const type = header.type === 'file' && header.name.endsWith('/') ? 'directory' : header.type;

    // containerd skips entries that resolve to the layer root: its attributes belong to the
    // caller's directory, not to the image.
    const skipped = rel === '' || isAufsMetadata(rel);
    const isWhiteout = !skipped && base.startsWith(WHITEOUT_PREFIX);

    if (!skipped && !isWhiteout && (type === 'file' || type === 'contiguous-file')) {
      this.ensureDir(parent, header.name, true);
      this.size += await this.writeFile(rel, header, entry);
      return;
    }
    // Only regular files carry content; draining keeps the parser moving should an odd tar
    // give another type a size.
    entry.resume();
    if (skipped) return;
    if (isWhiteout) {
      this.whiteout(parent, base, header.name);
      return;
    }
    this.ensureDir(parent, header.name, true);

    const abs = join(this.root, rel);
    switch (type) {
      case 'directory':
        this.writeDir(rel, header);
        return;
      case 'symlink':
        this.replacing(rel, () => symlinkSync(header.linkname ?? '', abs));
        lchownSync(abs, ...ownerOf(header));
        this.setXattrs(abs, header);
        lutimesSync(abs, ...timesOf(header));
        this.linkable.add(rel);
        return;
      case 'link':
        this.writeHardlink(rel, header);
        return;
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const format = type === 'fifo' ? constants.S_IFIFO : type === 'block-device' ? constants.S_IFBLK : constants.S_IFCHR;
        this.replacing(rel, () => this.native.mknod(abs, format | 0o600, header.devmajor ?? 0, header.devminor ?? 0));
        this.setOwnerAndMode(abs, header);
        this.setXattrs(abs, header);
        lutimesSync(abs, ...timesOf(header));
        this.linkable.add(rel);
        return;
      }
      default:
        throw new HullError('ARCHIVE_INVALID', `layer entry "${header.name}" has an unsupported type (${String(type)})`);
    }
  }

  /** Sets the directory times recorded along the way; call once after the last entry. */
  finish(): void {
    for (const [rel, [atime, mtime]] of this.dirTimes) lutimesSync(join(this.root, rel), atime, mtime);
  }

  /** Creates the file, streams the entry's content into it, applies metadata; returns the bytes written. */
  private async writeFile(rel: string, header: EntryHeader, entry: Entry): Promise<number> {
    const abs = join(this.root, rel);
    const fd = this.replacing(rel, () => openSync(abs, CREATE_FILE_FLAGS, 0o600));
    let written;
    try {
      written = await writeContent(fd, entry);
      // chown clears setuid/setgid, so the mode goes on after the owner.
      fchownSync(fd, ...ownerOf(header));
      fchmodSync(fd, modeOf(header));
      this.setXattrs(abs, header);
      futimesSync(fd, ...timesOf(header));
    } finally {
      closeSync(fd);
    }
    this.linkable.add(rel);
    return written;
  }

  private writeDir(rel: string, header: EntryHeader): void {
    const abs = join(this.root, rel);
    try {
      mkdirSync(abs, 0o700);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      // A directory over a directory merges (later metadata wins); over anything else, replaces.
      if (!lstatSync(abs).isDirectory()) {
        this.remove(rel);
        mkdirSync(abs, 0o700);
      }
    }
    this.safeDirs.add(rel);
    this.linkable.delete(rel);
    this.setOwnerAndMode(abs, header);
    this.setXattrs(abs, header);
    this.dirTimes.set(rel, timesOf(header));
  }

  /**
   * The header describes the target's inode, whose metadata its own entry already set;
   * re-applying it would only churn (and chown would briefly drop setuid bits).
   */
  private writeHardlink(rel: string, header: EntryHeader): void {
    const linkname = header.linkname ?? '';
    const target = cleanPath(linkname, header.name);
    this.ensureDir(parentOf(target), header.name, false);
    if (!this.linkable.has(target)) {
      throw new HullError('ARCHIVE_INVALID', `layer entry "${header.name}" is a hardlink to "${linkname}", which is not an earlier file of this layer`);
    }
    if (target === rel) return;
    this.replacing(rel, () => linkSync(join(this.root, target), join(this.root, rel)));
    this.linkable.add(rel);
  }

  private whiteout(parent: string, base: string, entryName: string): void {
    if (base === OPAQUE_MARKER) {
      this.ensureDir(parent, entryName, true);
      this.native.lsetxattr(join(this.root, parent), OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    // Other .wh..wh.* names are AUFS metadata too.
    if (base.startsWith(WHITEOUT_META_PREFIX)) return;

    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') {
      throw new HullError('LAYER_UNSAFE', `layer entry "${entryName}" is a whiteout for "${name}", which is not a file name`);
    }
    const target = parent === '' ? name : `${parent}/${name}`;
    this.ensureDir(parent, entryName, true);
    const abs = join(this.root, target);
    this.replacing(target, () => this.native.mknod(abs, constants.S_IFCHR, 0, 0));
    lchownSync(abs, 0, 0);
    this.linkable.delete(target);
  }

  /**
   * Makes sure `dir` (relative) is a real directory inside root, creating missing components
   * when `create`. Every component is checked with lstat, so no later write can be redirected
   * by a symlink; verified paths are cached, which makes this free for most entries.
   */
  private ensureDir(dir: string, entryName: string, create: boolean): void {
    if (this.safeDirs.has(dir)) return;
    let current = '';
    for (const part of dir.split('/')) {
      current = current === '' ? part : `${current}/${part}`;
      if (this.safeDirs.has(current)) continue;
      const abs = join(this.root, current);
      const stats = lstatSync(abs, { throwIfNoEntry: false });
      if (!stats) {
        if (!create) throw new HullError('ARCHIVE_INVALID', `layer entry "${entryName}" refers to "${current}", which this layer does not contain`);
        mkdirSync(abs, 0o755);
      } else if (stats.isSymbolicLink()) {
        throw new HullError('LAYER_UNSAFE', `layer entry "${entryName}" goes through the symlink "${current}", which could point outside the layer`);
      } else if (!stats.isDirectory()) {
        throw new HullError('ARCHIVE_INVALID', `layer entry "${entryName}" is inside "${current}", which is not a directory`);
      }
      this.safeDirs.add(current);
    }
  }

  /**
   * Runs `create`, which must not follow a symlink at `rel` (O_EXCL, mkdir, mknod, symlink and
   * link never do); if something already exists there, removes it and runs `create` once more.
   */
  private replacing<T>(rel: string, create: () => T): T {
    try {
      return create();
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
    this.remove(rel);
    return create();
  }

  private remove(rel: string): void {
    const abs = join(this.root, rel);
    if (lstatSync(abs).isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      this.forgetTree(rel);
    } else {
      unlinkSync(abs);
      this.linkable.delete(rel);
    }
  }

  /** Drops what was known about a removed directory tree. Rare, so a full scan is fine. */
  private forgetTree(rel: string): void {
    const prefix = `${rel}/`;
    const gone = (p: string): boolean => p === rel || p.startsWith(prefix);
    for (const p of this.safeDirs) if (gone(p)) this.safeDirs.delete(p);
    for (const p of this.linkable) if (gone(p)) this.linkable.delete(p);
    for (const p of this.dirTimes.keys()) if (gone(p)) this.dirTimes.delete(p);
  }

  /** For paths this layer just created or verified as non-symlinks, so chmod cannot be redirected. */
  private setOwnerAndMode(abs: string, header: EntryHeader): void {
    // chown clears setuid/setgid, so the mode goes on after the owner.
    lchownSync(abs, ...ownerOf(header));
    chmodSync(abs, modeOf(header));
  }

  private setXattrs(abs: string, header: EntryHeader): void {
    for (const [name, value] of xattrsOf(header)) {
      if (name.startsWith(OVERLAY_XATTR_PREFIX)) continue;
      try {
        this.native.lsetxattr(abs, name, value);
      } catch (e) {
        // security.* (SELinux labels, mostly) may be unsupported by the host; everything else
        // is part of the image's content and must not be dropped silently.
        if (name.startsWith('security.') && errnoCode(e) === 'ENOTSUP') continue;
        throw e;
      }
    }
  }
}

/** AUFS kept its metadata (.wh..wh.plnk, .wh..wh.aufs) at the layer top; like Docker, skip it whole. */
function isAufsMetadata(rel: string): boolean {
  return rel.startsWith(WHITEOUT_META_PREFIX) && rel !== OPAQUE_MARKER;
}

/** Streams an entry's content to `fd` in writev batches (see WRITE_BATCH); returns the bytes written. */
async function writeContent(fd: number, entry: Entry): Promise<number> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let total = 0;
  for await (const chunk of entry as AsyncIterable<Buffer>) {
    batch.push(chunk);
    batchBytes += chunk.length;
    total += chunk.length;
    if (batchBytes >= WRITE_BATCH) {
      let pending = batch;
      while (pending.length > 0) pending = unwritten(pending, (await writevAsync(fd, pending)).bytesWritten);
      batch = [];
      batchBytes = 0;
    }
  }
  while (batch.length > 0) batch = unwritten(batch, writevSync(fd, batch));
  return total;
}

/** What is left of `buffers` after a writev wrote `written` bytes: short writes happen (e.g. past IOV_MAX). */
function unwritten(buffers: Buffer[], written: number): Buffer[] {
  let i = 0;
  while (i < buffers.length && written >= (buffers[i] as Buffer).length) written -= (buffers[i++] as Buffer).length;
  const rest = buffers.slice(i);
  if (written > 0) rest[0] = (rest[0] as Buffer).subarray(written);
  return rest;
}

/**
 * The entry's path relative to the layer root ('' for the root itself). Leading slashes are
 * dropped as Docker does (`/etc/x` is `etc/x`); `..` that climbs out of the layer is refused.
 */
function cleanPath(name: string, entryName: string): string {
  const normal = posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (normal === '..' || normal.startsWith('../')) {
    throw new HullError('LAYER_UNSAFE', `layer entry "${entryName}" points outside the layer${name === entryName ? '' : ` ("${name}")`}`);
  }
  return normal === '.' ? '' : normal;
}

function parentOf(rel: string): string {
  const parent = posix.dirname(rel);
  return parent === '.' ? '' : parent;
}

/** [uid, gid]; PAX records override the ustar fields for ids too large for them. */
function ownerOf(header: EntryHeader): [number, number] {
  const paxUid = paxNumber(header, 'uid');
  const paxGid = paxNumber(header, 'gid');
  return [Number.isInteger(paxUid) ? paxUid : (header.uid ?? 0), Number.isInteger(paxGid) ? paxGid : (header.gid ?? 0)];
}

/** A numeric PAX record, NaN when absent or malformed. */
function paxNumber(header: EntryHeader, key: string): number {
  const value = header.pax?.[key];
  return value === undefined || value.trim() === '' ? Number.NaN : Number(value);
}

function modeOf(header: EntryHeader): number {
  return (header.mode ?? 0o644) & 0o7777;
}

/** [atime, mtime] in seconds; PAX records carry sub-second precision the ustar fields lack. */
function timesOf(header: EntryHeader): [number, number] {
  const paxMtime = paxNumber(header, 'mtime');
  const mtime = Number.isFinite(paxMtime) ? paxMtime : (header.mtime?.getTime() ?? 0) / 1000;
  const paxAtime = paxNumber(header, 'atime');
  return [Number.isFinite(paxAtime) ? paxAtime : mtime, mtime];
}

/**
 * tar-stream decodes PAX values as UTF-8 strings, which corrupts binary xattrs such as
 * security.capability (file capabilities of ping and friends). This keeps the raw bytes of
 * SCHILY.xattr.* records on the decoded PAX object. It hooks tar-stream 3's internal decoder;
 * if that ever disappears, the decoded strings are used instead.
 */
function keepRawPaxXattrs(ex: Extract): void {
  const internals = ex as unknown as {
    _decodeLongHeader?: (buf: Buffer) => void;
    _header: { type: string } | null;
    _pax: PaxRecords | null;
  };
  const decode = internals._decodeLongHeader;
  if (typeof decode !== 'function') return;
  internals._decodeLongHeader = function (this: typeof internals, buf: Buffer): void {
    decode.call(this, buf);
    if (this._header?.type === 'pax-header' && this._pax) this._pax[RAW_XATTRS] = parsePaxXattrs(buf);
  };
}

/** PAX records are "<length> <key>=<value>\n", the length counting the whole record in bytes. */
function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const xattrs = new Map<string, Buffer>();
  let offset = 0;
  while (offset < buf.length) {
    const space = buf.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number.parseInt(buf.toString('latin1', offset, space), 10);
    if (!(length > 0) || offset + length > buf.length) break;
    const record = buf.subarray(space + 1, offset + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq >= 0) {
      const key = record.toString('utf8', 0, eq);
      if (key.startsWith(PAX_XATTR_PREFIX)) xattrs.set(key.slice(PAX_XATTR_PREFIX.length), Buffer.from(record.subarray(eq + 1)));
    }
    offset += length;
  }
  return xattrs;
}

function xattrsOf(header: EntryHeader): Map<string, Buffer> {
  const pax = header.pax;
  const xattrs = new Map<string, Buffer>();
  if (!pax) return xattrs;
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(PAX_XATTR_PREFIX)) xattrs.set(key.slice(PAX_XATTR_PREFIX.length), Buffer.from(value, 'utf8'));
  }
  for (const [name, value] of pax[RAW_XATTRS] ?? []) xattrs.set(name, value);
  return xattrs;
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
