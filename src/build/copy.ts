/**
 * COPY/ADD into a step's root filesystem, with Docker's rules: a directory source copies its
 * contents, a file lands at the destination or inside it when the destination is a directory
 * (ends in `/`, or already is one), missing parents are created 0755, owners are 0:0 unless
 * `--chown`, `--chmod` overrides permissions. Paths inside the root are resolved with the root
 * as `/` and written through extractTar's no-follow directory fds, so a symlink in the image
 * cannot send a copy outside it.
 */
import { chownSync, lstatSync, mkdirSync, openSync, readSync, closeSync } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { extractTar, resolveInScope } from '../engine/container-fs.js';
import { packPath } from '../image/layer-pack.js';
import { HullError } from '../util/errors.js';

export interface CopySource {
  /** Host path of the source (already resolved inside its own scope). */
  abs: string;
  isDir: boolean;
  /** The name a file keeps when copied into a directory. */
  name: string;
  /** Leaves out paths below a directory source (.dockerignore). */
  exclude?: (rel: string) => boolean;
  /** ADD: a local tar archive is unpacked instead of copied. */
  extract?: boolean;
}

export interface CopyOptions {
  owner: { uid: number; gid: number };
  mode?: number;
  cmd: string;
}

/** Creates the container directory `path` (resolved in scope) and missing parents; returns its host path. */
export function ensureDir(rootfs: string, path: string, owner: { uid: number; gid: number }): string {
  const resolved = resolveInScope(rootfs, path);
  let cur = rootfs;
  for (const part of resolved.split('/').filter(Boolean)) {
    cur = `${cur}/${part}`;
    const st = lstatSync(cur, { throwIfNoEntry: false });
    if (!st) {
      mkdirSync(cur, 0o755);
      chownSync(cur, owner.uid, owner.gid);
    } else if (!st.isDirectory()) {
      throw new HullError('INVALID_ARGUMENT', `cannot copy to non-directory: ${posix.join(path)}`);
    }
  }
  return cur;
}

function isDirIn(rootfs: string, path: string): boolean {
  const resolved = resolveInScope(rootfs, path);
  return lstatSync(`${rootfs}${resolved}`, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** tar, gzip, bzip2 or xz by magic bytes (Docker's archive.DetectCompression + tar header check). */
export function archiveKind(path: string): 'tar' | 'gzip' | 'bzip2' | 'xz' | undefined {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(512);
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n >= 3 && head.subarray(0, 3).toString() === 'BZh') return 'bzip2';
  if (n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n >= 262 && head.subarray(257, 262).toString() === 'ustar') return 'tar';
  return undefined;
}

function openArchive(path: string, kind: 'tar' | 'gzip' | 'bzip2' | 'xz'): Readable {
  const file = createReadStream(path);
  if (kind === 'tar') return file;
  if (kind === 'gzip') {
    const gz = createGunzip();
    file.pipe(gz);
    file.on('error', (e) => gz.destroy(e));
    return gz;
  }
  const child = spawn(kind === 'xz' ? 'xz' : 'bzip2', ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
  file.pipe(child.stdin);
  return child.stdout;
}

async function extractInto(tar: Readable, dir: string, opts: { owner?: { uid: number; gid: number }; mode?: number }): Promise<void> {
  await extractTar(tar, dir, {
    chown: true,
    ...(opts.owner ? { owner: opts.owner } : {}),
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    noOverwriteDirNonDir: false,
  });
}

export async function copyInto(rootfs: string, sources: CopySource[], dest: string, multi: boolean, opts: CopyOptions): Promise<void> {
  const destIsDir = dest.endsWith('/') || multi;
  if (multi && !dest.endsWith('/')) {
    throw new HullError('INVALID_ARGUMENT', `When using ${opts.cmd} with more than one source file, the destination must be a directory and end with a /`);
  }
  for (const s of sources) {
    if (s.isDir) {
      const dir = ensureDir(rootfs, dest, opts.owner);
      await extractInto(packPath(s.abs, { mode: 'tree', ...(s.exclude ? { exclude: s.exclude } : {}) }), dir, opts);
      continue;
    }
    if (s.extract) {
      const kind = archiveKind(s.abs);
      if (kind) {
        const dir = ensureDir(rootfs, dest, opts.owner);
        // Docker unpacks with the archive's own owners; --chown/--chmod do not apply.
        const tar = openArchive(s.abs, kind);
        await extractInto(tar, dir, {});
        continue;
      }
    }
    let dir: string;
    let name: string;
    if (destIsDir || isDirIn(rootfs, dest)) {
      dir = ensureDir(rootfs, dest, opts.owner);
      name = s.name;
    } else {
      dir = ensureDir(rootfs, posix.dirname(dest), opts.owner);
      name = posix.basename(dest);
    }
    await extractInto(packPath(s.abs, { mode: 'tree', name, followSource: true }), dir, opts);
  }
}
