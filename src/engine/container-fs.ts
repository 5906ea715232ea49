/**
 * A container's filesystem as Docker's verbs see it: `diff` (changes in the upper directory),
 * `commit` (the upper directory as a new layer over the image), `export` (the merged tree as a
 * tar) and `cp` (tar in and out of any path).
 *
 * Containers are untrusted: any path they control is resolved with the container root as `/`
 * (FollowSymlinkInScope, as Docker does), and every read or write below a resolved path goes
 * through directory fds opened with O_NOFOLLOW (see layer-pack.ts), so no symlink, however it
 * got there or whenever it was swapped in, sends hull outside the container. A running
 * container is paused while `cp` and `commit` work on it (no process can race the checks);
 * `export` reads a running container's tree live, as Docker does, guarded by the fds alone.
 *
 * A container that is not running gets a private overlay mount of its own (read-only from
 * upper + image layers for reading, read-write with the upper dir for `cp` into it), which is
 * opened and then lazily detached at once: it lives only as long as hull's fd to it, so not
 * even a crash leaves a mount behind, and a concurrent `start` is never confused by it.
 */
import {
  chmodSync,
  closeSync,
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
  readdirSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import type { Container, ContainerService } from './containers.js';
import { containerPaths } from '../container/paths.js';
import { isMounted } from '../container/rootfs.js';
import { resolveUser } from '../container/spec/user.js';
import { applyChanges } from '../image/archive/changes.js';
import { layerMediaType } from '../image/archive/layer-media-type.js';
import { compressGzip } from '../image/compression.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image/config.js';
import type { Digest, ImageId } from '../image/digest.js';
import { ingestLayer } from '../image/layer-ingest.js';
import { byteOrder, fdPath, isWhiteout, OPAQUE_XATTR, packLayer, packPath, packRootfs } from '../image/layer-pack.js';
import { formatReference, parseNormalizedTagged } from '../image/reference.js';
import type { ImageStore, StoredImage } from '../image/store.js';
import { HullError } from '../util/errors.js';
import { pidTempName } from '../util/fs.js';
import { nativeAddon } from '../util/native.js';

/** What the filesystem verbs need of the engine. */
export interface FsContext {
  root: string;
  images: ImageStore;
  containers: ContainerService;
}

/** Docker's change kinds (GET /containers/{id}/changes). */
export const CHANGE_MODIFIED = 0;
export const CHANGE_ADDED = 1;
export const CHANGE_DELETED = 2;

export interface Change {
  Path: string;
  Kind: typeof CHANGE_MODIFIED | typeof CHANGE_ADDED | typeof CHANGE_DELETED;
}

const MS_RDONLY = 1;
const MNT_DETACH = 2;
const MAX_SYMLINKS = 255;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';

/**
 * Mount points runc creates in the root filesystem when the image lacks them. Docker puts them
 * in a per-container init layer below the upper dir, so they never show in diff or commit;
 * hull has no init layer, so they are recognised and left out instead (only while they are
 * still the empty file or directory runc made).
 */
const MOUNT_POINTS = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue', 'sys/fs/cgroup'];

function isLive(c: Container): boolean {
  return c.state.Status === 'running' || c.state.Status === 'paused' || c.state.Status === 'restarting';
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * lstat of `rel` below `base`, or undefined when it does not exist or any component above it is
 * not a real directory (a symlink there would lead out of `base`).
 */
function safeLstat(base: string, rel: string): Stats | undefined {
  if (rel === '') return lstatSync(base, { throwIfNoEntry: false });
  const parts = rel.split('/');
  let cur = base;
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i]}`;
    let st: Stats | undefined;
    try {
      st = lstatSync(cur, { throwIfNoEntry: false });
    } catch (e) {
      if (errnoCode(e) === 'ENOTDIR') return undefined;
      throw e;
    }
    if (!st) return undefined;
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

function isOpaqueDir(path: string): boolean {
  return nativeAddon().lgetxattr(path, OPAQUE_XATTR)?.toString() === 'y';
}

/** The image's layers seen as overlayfs merges them (top layer first), for "did this exist before?". */
export class Lowers {
  /** `dirs`: layer directories, top layer first. */
  constructor(private readonly dirs: string[]) {}

  lookup(rel: string): Stats | undefined {
    for (const d of this.dirs) {
      const st = safeLstat(d, rel);
      if (st) return isWhiteout(st) ? undefined : st;
      if (this.hidesBelow(d, rel)) return undefined;
    }
    return undefined;
  }

  /** True when layer `d` cuts `rel` off from the layers below it (whiteout, file or opaque dir above it). */
  private hidesBelow(d: string, rel: string): boolean {
    for (let a = parentOf(rel); ; a = parentOf(a)) {
      if (a !== '') {
        const st = safeLstat(d, a);
        if (st && (!st.isDirectory() || isOpaqueDir(`${d}/${a}`))) return true;
      }
      if (a === '') return false;
    }
  }

  /** Names visible under the directory `rel` in the merged image. */
  children(rel: string): string[] {
    const names = new Set<string>();
    const hidden = new Set<string>();
    for (const d of this.dirs) {
      const st = safeLstat(d, rel);
      if (st?.isDirectory()) {
        for (const n of readdirSync(`${d}/${rel}`)) {
          if (hidden.has(n) || names.has(n)) continue;
          const cst = lstatSync(`${d}/${rel}/${n}`);
          if (isWhiteout(cst)) hidden.add(n);
          else names.add(n);
        }
        if (isOpaqueDir(`${d}/${rel}`)) break;
      } else if (st || this.hidesBelow(d, rel)) {
        break;
      }
    }
    return [...names];
  }
}

function lowersOf(ctx: FsContext, image: StoredImage): Lowers {
  return new Lowers([...image.config.rootfs.diff_ids].reverse().map((d) => ctx.images.layers.path(d as Digest)));
}

function imageOf(ctx: FsContext, c: Container): StoredImage {
  const image = ctx.images.load(c.imageId);
  if (!image) throw new HullError('IMAGE_NOT_FOUND', `No such image: ${c.imageId}`);
  return image;
}

/**
 * The upper-dir paths that are only runc's mount points (see MOUNT_POINTS), with the
 * directories that hold nothing else.
 */
function mountArtifacts(c: Container, upper: string, lowers: Lowers): Set<string> {
  const dests = [...Object.keys(c.doc.HostConfig.Tmpfs ?? {}), ...(c.doc.MountPoints ?? []).map((m) => m.Destination)];
  return runcMountArtifacts(upper, lowers, dests);
}

/** mountArtifacts for any overlay upper over `lowers` (builds run containers without a Container record). */
export function runcMountArtifacts(upper: string, lowers: Lowers, extraPoints: string[] = []): Set<string> {
  const points = new Set([...MOUNT_POINTS, ...extraPoints.map((p) => posix.normalize(p).replace(/^\/+|\/+$/g, ''))]);
  const candidates = new Set<string>();
  for (const p of points) for (let q = p; q !== ''; q = parentOf(q)) candidates.add(q);
  const depth = (p: string): number => p.split('/').length;
  const out = new Set<string>();
  for (const p of [...candidates].sort((a, b) => depth(b) - depth(a))) {
    const st = safeLstat(upper, p);
    if (!st) continue;
    if (st.isFile() && st.size === 0 && points.has(p) && !lowers.lookup(p)) out.add(p);
    else if (st.isDirectory() && !isOpaqueDir(`${upper}/${p}`)) {
      // A directory holding only mount points was copied up (or made) for them alone.
      const kids = readdirSync(`${upper}/${p}`);
      if (kids.every((k) => out.has(`${p}/${k}`)) && (kids.length > 0 || (points.has(p) && !lowers.lookup(p)))) out.add(p);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// diff

/** `docker diff`: the container's changes against its image, in Docker's order. */
export function containerChanges(ctx: FsContext, ref: string): Change[] {
  const c = ctx.containers.get(ref);
  const upper = containerPaths(ctx.root, c.id).upper;
  if (!lstatSync(upper, { throwIfNoEntry: false })?.isDirectory()) return [];
  const lowers = lowersOf(ctx, imageOf(ctx, c));
  const excluded = mountArtifacts(c, upper, lowers);
  const nodes: { rel: string; kind: Change['Kind'] | undefined }[] = [];
  const changedDirs = new Set<string>();

  /** `isNew`: `rel` did not exist in the image (added, or below an opaque directory). */
  const walk = (rel: string, isNew: boolean): void => {
    const dir = rel === '' ? upper : `${upper}/${rel}`;
    const names = new Set(readdirSync(dir));
    const opaque = rel !== '' && isOpaqueDir(dir);
    // An opaque directory replaced whatever the image had there: those entries are deleted.
    const gone = opaque && !isNew ? lowers.children(rel).filter((n) => !names.has(n)) : [];
    const hidden = isNew || opaque;
    for (const n of [...names, ...gone].sort(byteOrder)) {
      const childRel = rel === '' ? n : `${rel}/${n}`;
      if (excluded.has(childRel)) continue;
      if (!names.has(n)) {
        nodes.push({ rel: childRel, kind: CHANGE_DELETED });
        continue;
      }
      const st = lstatSync(`${upper}/${childRel}`);
      if (isWhiteout(st)) {
        nodes.push({ rel: childRel, kind: CHANGE_DELETED });
        continue;
      }
      const before = hidden ? undefined : lowers.lookup(childRel);
      let kind: Change['Kind'] | undefined = before ? CHANGE_MODIFIED : CHANGE_ADDED;
      // A directory only copied up because something below it changed is not itself a change.
      if (
        before?.isDirectory() &&
        st.isDirectory() &&
        before.mode === st.mode &&
        before.size === st.size &&
        Math.floor(before.mtimeMs) === Math.floor(st.mtimeMs) &&
        !isOpaqueDir(`${upper}/${childRel}`)
      ) {
        kind = undefined;
      }
      nodes.push({ rel: childRel, kind });
      if (st.isDirectory()) walk(childRel, before === undefined);
    }
  };
  walk('', false);

  for (const node of nodes) {
    if (node.kind === undefined) continue;
    for (let p = parentOf(node.rel); p !== ''; p = parentOf(p)) changedDirs.add(p);
  }
  const out: Change[] = [];
  for (const node of nodes) {
    const kind = node.kind ?? (changedDirs.has(node.rel) ? CHANGE_MODIFIED : undefined);
    if (kind !== undefined) out.push({ Path: `/${node.rel}`, Kind: kind });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pause, views of the root filesystem

/** Runs `fn` with the container frozen (`runc pause`) when it runs, so nothing changes under hull. */
async function withPaused<T>(ctx: FsContext, c: Container, pause: boolean, fn: () => Promise<T>): Promise<T> {
  if (!pause || c.state.Status !== 'running') return fn();
  const runtime = ctx.containers.runtimeFor(c);
  // Only a container hull finds running is paused, and only one it paused is resumed.
  const paused = (await runtime.status(c.id)) === 'running' && (await runtime.pause(c.id).then(() => true, () => false));
  try {
    return await fn();
  } finally {
    if (paused) await runtime.resume(c.id);
  }
}

interface RootView {
  /** `/proc/self/fd/<n>`: the merged root, through hull's own fd to it. */
  root: string;
  close(): void;
}

/**
 * The container's merged root: its live mount when running, else a private overlay (see the
 * module comment). `rw` views write into the container's upper dir.
 */
async function openView(ctx: FsContext, c: Container, rw: boolean): Promise<RootView> {
  const paths = containerPaths(ctx.root, c.id);
  if (isLive(c) && isMounted(paths.rootfs)) return viewOf(openSync(paths.rootfs, constants.O_RDONLY | constants.O_DIRECTORY));
  const image = imageOf(ctx, c);
  const lowers = [...image.config.rootfs.diff_ids].reverse().map((d) => ctx.images.layers.path(d as Digest));
  await mkdir(paths.upper, { recursive: true });
  await mkdir(paths.work, { recursive: true });
  // overlayfs needs two lowers without an upper, one with: with fewer layers the upper dir is the tree.
  if (lowers.length === 0) return viewOf(openSync(paths.upper, constants.O_RDONLY | constants.O_DIRECTORY));
  const target = join(paths.dir, `mnt-${pidTempName()}`);
  mkdirSync(target, { mode: 0o700 });
  const native = nativeAddon();
  try {
    const data = rw ? `lowerdir=${lowers.join(':')},upperdir=${paths.upper},workdir=${paths.work}` : `lowerdir=${[paths.upper, ...lowers].join(':')}`;
    try {
      native.mount('overlay', target, 'overlay', rw ? 0 : MS_RDONLY, data);
    } catch (e) {
      throw new HullError('INTERNAL', `cannot mount the container's root filesystem: ${(e as Error).message}`, { cause: e });
    }
    try {
      return viewOf(openSync(target, constants.O_RDONLY | constants.O_DIRECTORY));
    } finally {
      native.umount2(target, MNT_DETACH);
    }
  } finally {
    rmdirSync(target);
  }
}

function viewOf(fd: number): RootView {
  let open = true;
  return {
    root: fdPath(fd),
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// export

/** `docker export`: the merged root filesystem as a tar stream. */
export async function exportContainer(ctx: FsContext, ref: string): Promise<Readable> {
  const c = ctx.containers.get(ref);
  const view = await openView(ctx, c, false);
  const tar = packRootfs(`${view.root}/.`);
  tar.once('close', () => view.close());
  return tar;
}

// ---------------------------------------------------------------------------------------------
// commit

export interface CommitOptions {
  /** REPOSITORY[:TAG] */
  ref?: string;
  author?: string;
  comment?: string;
  changes?: string[];
  /** Pause a running container while its changes are read (Docker's default: true). */
  pause?: boolean;
}

/** The image-relevant part of a container's Config, over the image's own (for fields a container does not carry). */
function imageConfigOf(c: Container, base: ContainerConfig | undefined): ContainerConfig {
  const k = c.doc.Config;
  const cfg: ContainerConfig = {
    ...(base?.ArgsEscaped !== undefined ? { ArgsEscaped: base.ArgsEscaped } : {}),
    ...(base?.Healthcheck ? { Healthcheck: base.Healthcheck } : {}),
    ...(base?.Shell ? { Shell: base.Shell } : {}),
    User: k.User,
    Env: k.Env,
    Cmd: k.Cmd,
    Entrypoint: k.Entrypoint,
    WorkingDir: k.WorkingDir,
    Labels: k.Labels,
  };
  if (k.ExposedPorts && Object.keys(k.ExposedPorts).length > 0) cfg.ExposedPorts = k.ExposedPorts;
  if (k.Volumes && Object.keys(k.Volumes).length > 0) cfg.Volumes = k.Volumes;
  if (k.StopSignal) cfg.StopSignal = k.StopSignal;
  return cfg;
}

/** moby's daemon/commit.go merge(): the --change config wins, the container fills the rest. */
export function mergeCommitConfig(user: ContainerConfig, container: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = structuredClone(user);
  if (!out.User) out.User = container.User ?? '';
  if (!out.ExposedPorts || Object.keys(out.ExposedPorts).length === 0) {
    if (container.ExposedPorts) out.ExposedPorts = container.ExposedPorts;
  } else {
    for (const p of Object.keys(container.ExposedPorts ?? {})) out.ExposedPorts[p] ??= {};
  }
  if (!out.Env || out.Env.length === 0) out.Env = container.Env ?? [];
  else {
    const keys = new Set(out.Env.map((e) => e.split('=')[0]));
    for (const e of container.Env ?? []) if (!keys.has(e.split('=')[0])) out.Env.push(e);
  }
  out.Labels = { ...(container.Labels ?? {}), ...(out.Labels ?? {}) };
  if (!out.Entrypoint || out.Entrypoint.length === 0) {
    if (!out.Cmd || out.Cmd.length === 0) {
      out.Cmd = container.Cmd ?? null;
      if (container.ArgsEscaped !== undefined) out.ArgsEscaped = container.ArgsEscaped;
    }
    if (out.Entrypoint === undefined) out.Entrypoint = container.Entrypoint ?? null;
  }
  if (container.Healthcheck) out.Healthcheck = { ...container.Healthcheck, ...(out.Healthcheck ?? {}) };
  if (!out.WorkingDir) out.WorkingDir = container.WorkingDir ?? '';
  if (!out.Volumes || Object.keys(out.Volumes).length === 0) {
    if (container.Volumes) out.Volumes = container.Volumes;
  } else {
    out.Volumes = { ...out.Volumes, ...(container.Volumes ?? {}) };
  }
  if (!out.StopSignal && container.StopSignal) out.StopSignal = container.StopSignal;
  if (container.Shell && !out.Shell) out.Shell = container.Shell;
  return out;
}

/** `docker commit`: a new image = the container's image + its changes as one layer. Returns the image id. */
export async function commitContainer(ctx: FsContext, ref: string, opts: CommitOptions = {}): Promise<ImageId> {
  // Everything that can be refused is refused before anything is written.
  const tag = opts.ref ? parseNormalizedTagged(opts.ref) : undefined;
  if (tag?.digest !== undefined) throw new HullError('INVALID_ARGUMENT', 'refusing to create a tag with a digest reference');
  const userConfig = applyChanges({}, opts.changes ?? []);
  const c = ctx.containers.get(ref);
  const image = imageOf(ctx, c);
  const store = ctx.images;
  const paths = containerPaths(ctx.root, c.id);
  await mkdir(paths.upper, { recursive: true });
  const lowers = lowersOf(ctx, image);

  // The base image's layers must outlive this commit even if it is removed meanwhile.
  const lease = store.lease([...image.config.rootfs.diff_ids, image.id]);
  try {
    const layer = await withPaused(ctx, c, opts.pause ?? true, async () => {
      const excluded = mountArtifacts(c, paths.upper, lowers);
      const empty = readdirSync(paths.upper).every((n) => excluded.has(n));
      if (empty) return undefined;
      const tar = packLayer(paths.upper, (rel) => excluded.has(rel));
      const gz = compressGzip();
      const piping = pipeline(tar, gz);
      piping.catch(() => undefined);
      const result = await ingestLayer(store, gz);
      await piping;
      return result;
    });
    const inner = layer ? store.lease([layer.diffId, layer.blobDigest]) : undefined;
    try {
      const created = new Date().toISOString();
      const history: HistoryEntry = {
        created,
        ...(opts.author ? { author: opts.author } : {}),
        // Docker records the container's Cmd (without the entrypoint), joined by spaces.
        created_by: (c.doc.Config.Cmd ?? []).join(' '),
        ...(opts.comment ? { comment: opts.comment } : {}),
        ...(layer ? {} : { empty_layer: true }),
      };
      const base = image.config;
      const config: ImageConfig = {
        architecture: base.architecture,
        ...(base.variant !== undefined ? { variant: base.variant } : {}),
        os: base.os,
        ...(base['os.version'] !== undefined ? { 'os.version': base['os.version'] } : {}),
        created,
        ...(opts.author ? { author: opts.author } : {}),
        config: mergeCommitConfig(userConfig, imageConfigOf(c, base.config)),
        rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, ...(layer ? [layer.diffId] : [])] },
        history: [...(base.history ?? []), history],
      };
      const configBody = Buffer.from(JSON.stringify(config));
      const id = (await store.blobs.put(configBody)) as ImageId;
      store.records.transaction(() => {
        if (layer) {
          store.records.putLayer(layer.diffId, layer.size);
          store.records.putLayerBlob({ blobDigest: layer.blobDigest, diffId: layer.diffId, mediaType: layerMediaType('gzip'), size: layer.blobSize });
        }
        store.records.putImage({
          id,
          config: configBody.toString(),
          manifestDigest: null,
          manifestMediaType: null,
          size: image.row.size + (layer?.size ?? 0),
          parent: image.id,
        });
        if (tag) store.records.setTag(formatReference(tag), id);
      });
      return id;
    } finally {
      inner?.release();
    }
  } finally {
    lease.release();
  }
}

// ---------------------------------------------------------------------------------------------
// cp

/**
 * Docker's FollowSymlinkInScope: `path` resolved inside `root` with `root` as `/`. Symlinks are
 * read, never followed by the kernel; absolute targets restart at the root, `..` stops there.
 * With `followLast` false the final component is kept as it is (a symlink stays a symlink).
 * Returns the clean container path (`/a/b`).
 */
export function resolveInScope(root: string, path: string, followLast = true): string {
  const resolved: string[] = [];
  let pending = path.split('/');
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    if (!followLast && pending.every((p) => p === '' || p === '.')) {
      resolved.push(part);
      continue;
    }
    let st: Stats | undefined;
    try {
      st = lstatSync(`${root}/${candidate.join('/')}`, { throwIfNoEntry: false });
    } catch (e) {
      if (errnoCode(e) !== 'ENOTDIR') throw e;
    }
    if (!st?.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new HullError('INVALID_ARGUMENT', `too many links in ${path}`);
    const target = readlinkSync(`${root}/${candidate.join('/')}`);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/'), ...pending];
  }
  return `/${resolved.join('/')}`;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  /** The symlink's target, resolved in the container (Docker's LinkTarget); '' for other files. */
  linkTarget: string;
  isDir: boolean;
  isSymlink: boolean;
  isFile: boolean;
}

function statOf(name: string, st: Stats, linkTarget: string): PathStat {
  return {
    name,
    size: st.size,
    mode: st.mode,
    mtime: st.mtime.toISOString(),
    linkTarget,
    isDir: st.isDirectory(),
    isSymlink: st.isSymbolicLink(),
    isFile: st.isFile(),
  };
}

function notFound(path: string, ref: string): HullError {
  return new HullError('NOT_FOUND', `Could not find the file ${path} in container ${ref}`);
}

/**
 * Docker's cp reaches into volumes and bind mounts: a path at or below a mount point is the
 * mount's host directory (the rest resolved with that directory as its scope).
 */
function throughMounts(c: Container, abs: string, followLast: boolean, forWrite = false): string | undefined {
  const points = (c.doc.MountPoints ?? []).filter((m) => m.Type !== 'tmpfs' && m.Source !== '').sort((a, b) => b.Destination.length - a.Destination.length);
  const m = points.find((p) => abs === p.Destination || abs.startsWith(`${p.Destination}/`));
  if (!m) return undefined;
  if (forWrite && !m.RW) throw new HullError('CONFLICT', 'mounted volume is marked read-only');
  const inner = resolveInScope(m.Source, abs.slice(m.Destination.length) || '/', followLast);
  return inner === '/' ? m.Source : `${m.Source}${inner}`;
}

/** A container path as Docker's ResolvePath sees it: parent resolved in scope, the last component kept. */
function locate(c: Container, view: RootView, path: string, followLast: boolean): { abs: string; host: string } {
  const abs = resolveInScope(view.root, path, followLast);
  return { abs, host: throughMounts(c, abs, followLast) ?? (abs === '/' ? view.root : `${view.root}${abs}`) };
}

/** `HEAD /containers/{id}/archive`: what is at `path` in the container, undefined when nothing is. */
export async function statContainerPath(ctx: FsContext, ref: string, path: string): Promise<PathStat | undefined> {
  const c = ctx.containers.get(ref);
  return withPaused(ctx, c, true, async () => {
    const view = await openView(ctx, c, false);
    try {
      const { abs, host } = locate(c, view, path, false);
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (!st) return undefined;
      const link = st.isSymbolicLink() ? resolveInScope(view.root, abs, true) : '';
      return statOf(posix.basename(abs) || '/', abs === '/' ? lstatSync(`${view.root}/.`) : st, link);
    } catch (e) {
      if (errnoCode(e) === 'ENOTDIR') return undefined;
      throw e;
    } finally {
      view.close();
    }
  });
}

export interface ArchiveOptions {
  /**
   * The source's name in the tar (Docker rebases it on the client); the path's basename by
   * default. A function decides from what the path turned out to be, and may refuse.
   */
  name?: string | ((stat: PathStat) => string);
  /** Follow a symlink at `path` itself (`cp -L`), inside the container. */
  followLink?: boolean;
}

/**
 * `GET /containers/{id}/archive`: a tar of `path`. The stream is produced while the container
 * stays paused; it must be consumed (or destroyed) for the container to resume.
 */
export async function archiveFromContainer(ctx: FsContext, ref: string, path: string, opts: ArchiveOptions = {}): Promise<{ stat: PathStat; tar: Readable }> {
  const c = ctx.containers.get(ref);
  let resume!: () => void;
  const released = new Promise<void>((r) => (resume = r));
  let ready!: (v: { stat: PathStat; tar: Readable }) => void;
  let failed!: (e: unknown) => void;
  const result = new Promise<{ stat: PathStat; tar: Readable }>((res, rej) => {
    ready = res;
    failed = rej;
  });
  // The pause lasts until the tar is fully read: the reads are what it protects.
  void withPaused(ctx, c, true, async () => {
    const view = await openView(ctx, c, false);
    try {
      const { abs, host } = locate(c, view, path, opts.followLink ?? false);
      const st = abs === '/' ? lstatSync(`${view.root}/.`) : lstatSync(host, { throwIfNoEntry: false });
      if (!st) throw notFound(path, ref);
      if (!st.isDirectory() && /\/\.?$/.test(path)) throw new HullError('INVALID_ARGUMENT', `not a directory: ${path}`);
      const stat = statOf(posix.basename(abs), st, '');
      const fallback = /\/\.$/.test(path) || path === '.' ? '.' : posix.basename(abs) || '.';
      const name = typeof opts.name === 'function' ? opts.name(stat) : (opts.name ?? fallback);
      const tar = packPath(abs === '/' ? `${view.root}/.` : host, { name });
      tar.once('close', () => resume());
      ready({ stat, tar });
      await released;
    } catch (e) {
      failed(errnoCode(e) === 'ENOTDIR' ? notFound(path, ref) : e);
    } finally {
      view.close();
    }
  }).catch((e: unknown) => failed(e));
  return result;
}

export interface ExtractOptions {
  /** `cp -a`: files are owned by the container's user (Config.User) instead of the tar's owners. */
  copyUIDGID?: boolean;
  /** Refuse to replace a directory with a non-directory or the reverse (Docker's cp default). */
  noOverwriteDirNonDir?: boolean;
}

/** `PUT /containers/{id}/archive`: extract `tar` into the directory `path` of the container. */
export async function extractToContainer(ctx: FsContext, ref: string, path: string, tar: Readable, opts: ExtractOptions = {}): Promise<void> {
  const c = ctx.containers.get(ref);
  if (c.doc.HostConfig.ReadonlyRootfs) throw new HullError('CONFLICT', 'container rootfs is marked read-only');
  await withPaused(ctx, c, true, async () => {
    const view = await openView(ctx, c, true);
    try {
      const abs = resolveInScope(view.root, path, true);
      const host = throughMounts(c, abs, true, true) ?? (abs === '/' ? `${view.root}/.` : `${view.root}${abs}`);
      const st = lstatSync(host, { throwIfNoEntry: false });
      if (!st) throw notFound(path, ref);
      if (!st.isDirectory()) throw new HullError('INVALID_ARGUMENT', 'extraction point is not a directory');
      let owner: { uid: number; gid: number } | undefined;
      if (opts.copyUIDGID && c.doc.Config.User) {
        const u = await resolveUser(view.root, c.doc.Config.User);
        owner = { uid: u.uid, gid: u.gid };
      }
      await extractTar(tar, host, { chown: true, ...(owner ? { owner } : {}), noOverwriteDirNonDir: opts.noOverwriteDirNonDir ?? true, displayRoot: abs });
    } finally {
      view.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// tar extraction (cp in, and cp out on the host side)

export interface TarExtractOptions {
  /** Apply the entries' owners (or `owner`); false leaves files to the user running hull (Docker's NoLchown). */
  chown: boolean;
  owner?: { uid: number; gid: number };
  noOverwriteDirNonDir: boolean;
  /** How `dest` is named in error messages. */
  displayRoot?: string;
  /** Permission bits given to every entry instead of the tar's (`COPY --chmod`). */
  mode?: number;
}

type TarHeader = {
  name: string;
  type?: string | null;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  pax?: unknown;
};

/**
 * Extracts a tar into the directory `dest` the way Docker's cp does (archive.Untar): existing
 * directories merge, other files are replaced, missing parents are created 0755. Every entry is
 * reached component by component through O_NOFOLLOW directory fds, so an entry can neither
 * climb out with `..` nor write through a symlink, whatever is already in `dest`.
 */
export async function extractTar(tar: Readable, dest: string, opts: TarExtractOptions): Promise<void> {
  const root = openSync(dest, constants.O_RDONLY | constants.O_DIRECTORY);
  const native = nativeAddon();
  const dirTimes: [string, Date][] = [];
  const display = (rel: string): string => posix.join(opts.displayRoot ?? dest, rel);
  const ex = extract();
  const piping = pipeline(tar, ex);
  piping.catch(() => undefined);

  /** Opens the directory `rel` below root, creating missing components. Caller closes the fd. */
  const openDir = (rel: string, create: boolean): number => {
    let fd = openSync(`${fdPath(root)}/.`, DIR_FLAGS);
    for (const part of rel === '' ? [] : rel.split('/')) {
      const p = fdPath(fd, part);
      let next: number;
      try {
        next = openSync(p, DIR_FLAGS);
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT' && create) {
          mkdirSync(p, 0o755);
          next = openSync(p, DIR_FLAGS);
        } else {
          closeSync(fd);
          if (code === 'ELOOP' || code === 'ENOTDIR') {
            throw new HullError('INVALID_ARGUMENT', `cannot extract below "${display(rel)}": a path component is not a directory (symlinks are not followed)`);
          }
          throw e;
        }
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  };

  try {
    for await (const entry of ex) {
      const h = entry.header as TarHeader;
      const rel = cleanEntryPath(h.name);
      const type = h.type === 'file' && h.name.endsWith('/') ? 'directory' : (h.type ?? 'file');
      if (rel === '' || type === 'pax-global-header') {
        entry.resume();
        continue;
      }
      const parentFd = openDir(parentOf(rel), true);
      try {
        const base = posix.basename(rel);
        const p = fdPath(parentFd, base);
        const existing = lstatSync(p, { throwIfNoEntry: false });
        if (existing) {
          if (opts.noOverwriteDirNonDir && existing.isDirectory() && type !== 'directory') {
            throw new HullError('CONFLICT', `cannot overwrite directory "${display(rel)}" with non-directory "${h.name}"`);
          }
          if (opts.noOverwriteDirNonDir && !existing.isDirectory() && type === 'directory') {
            throw new HullError('CONFLICT', `cannot overwrite non-directory "${display(rel)}" with directory "${h.name}"`);
          }
          if (!(existing.isDirectory() && type === 'directory')) {
            if (existing.isDirectory()) rmSync(p, { recursive: true, force: true });
            else unlinkSync(p);
          }
        }
        const [uid, gid] = opts.owner ? [opts.owner.uid, opts.owner.gid] : ownerOf(h);
        const mode = opts.mode ?? (h.mode ?? 0o644) & 0o7777;
        const mtime = h.mtime ?? new Date();
        switch (type) {
          case 'file':
          case 'contiguous-file': {
            const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
            try {
              for await (const chunk of entry as AsyncIterable<Buffer>) {
                for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
              }
              if (opts.chown) fchownSync(fd, uid, gid);
              fchmodSync(fd, mode);
              setXattrs(native, p, h);
              futimesSync(fd, mtime, mtime);
            } finally {
              closeSync(fd);
            }
            continue;
          }
          case 'directory': {
            if (!existing) mkdirSync(p, 0o700);
            const fd = openSync(p, DIR_FLAGS);
            try {
              if (opts.chown) fchownSync(fd, uid, gid);
              fchmodSync(fd, mode);
              setXattrs(native, `${fdPath(fd)}/.`, h);
            } finally {
              closeSync(fd);
            }
            dirTimes.push([rel, mtime]);
            break;
          }
          case 'symlink':
            symlinkSync(h.linkname ?? '', p);
            if (opts.chown) lchownSync(p, uid, gid);
            setXattrs(native, p, h);
            lutimesSync(p, mtime, mtime);
            break;
          case 'link': {
            const target = cleanEntryPath(h.linkname ?? '');
            const tfd = openDir(parentOf(target), false);
            try {
              linkSync(fdPath(tfd, posix.basename(target)), p);
            } finally {
              closeSync(tfd);
            }
            break;
          }
          case 'character-device':
          case 'block-device':
          case 'fifo': {
            const fmt = type === 'fifo' ? constants.S_IFIFO : type === 'block-device' ? constants.S_IFBLK : constants.S_IFCHR;
            native.mknod(p, fmt | 0o600, h.devmajor ?? 0, h.devminor ?? 0);
            if (opts.chown) lchownSync(p, uid, gid);
            // mknod(2) made the node just now in a directory hull holds open, with the container
            // paused or stopped: nothing can have swapped it for a symlink chmod would follow.
            chmodSync(p, mode);
            setXattrs(native, p, h);
            lutimesSync(p, mtime, mtime);
            break;
          }
          default:
            throw new HullError('ARCHIVE_INVALID', `tar entry "${h.name}" has an unsupported type (${String(type)})`);
        }
        entry.resume();
      } finally {
        closeSync(parentFd);
      }
    }
    await piping;
    // Directory times last: writing their children changed them.
    for (const [rel, mtime] of dirTimes.reverse()) {
      const fd = openDir(rel, false);
      try {
        futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    closeSync(root);
  }
}

/** The entry's path relative to the extraction directory; `..` cannot climb above it (clamped, as a chroot would). */
function cleanEntryPath(name: string): string {
  const normal = posix.normalize(`/${name}`).replace(/\/+$/, '');
  return normal.replace(/^\/+/, '');
}

function ownerOf(h: TarHeader): [number, number] {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const uid = pax.uid !== undefined ? Number(pax.uid) : (h.uid ?? 0);
  const gid = pax.gid !== undefined ? Number(pax.gid) : (h.gid ?? 0);
  return [uid, gid];
}

function setXattrs(native: ReturnType<typeof nativeAddon>, path: string, h: TarHeader): void {
  const pax = (h.pax ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(pax)) {
    if (!key.startsWith('SCHILY.xattr.')) continue;
    const name = key.slice('SCHILY.xattr.'.length);
    if (name.startsWith(OVERLAY_XATTR_PREFIX)) continue;
    try {
      native.lsetxattr(path, name, Buffer.from(value, 'utf8'));
    } catch (e) {
      // Like Docker's cp: attributes the destination cannot hold are dropped, not fatal.
      if (errnoCode(e) !== 'ENOTSUP' && errnoCode(e) !== 'EPERM') throw e;
    }
  }
}
