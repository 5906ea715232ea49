/**
 * Offline test images: OCI image layouts built on disk from a declarative spec, so tests and
 * benchmarks never need the network or Docker Hub. Output is deterministic (fixed mtimes, no
 * owner names, fixed `created`), so the same spec always yields the same digests and tests can
 * assert on them across runs.
 */
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import type { Header, Pack } from 'tar-stream';
import { sha256Of } from '../../src/image/digest.js';
import type { Digest } from '../../src/image/digest.js';
import { runHull } from './hull.js';

const execFileP = promisify(execFile);

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** Every tar entry and the image config carry this time, so digests do not depend on when a test ran. */
export const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'whiteout' | 'opaque';

export interface LayerEntry {
  /** Path inside the rootfs; a leading `/` is ignored. For `whiteout` the path being deleted, for `opaque` the directory. */
  path: string;
  type: LayerEntryType;
  /** File content. A function is called only when the entry is written, so big images never hold all their data in memory. */
  content?: string | Uint8Array | (() => Uint8Array);
  mode?: number;
  uid?: number;
  gid?: number;
  /** Symlink target, or for a hardlink the rootfs path of the file it links to. */
  linkname?: string;
  mtime?: Date;
}

export type LayerSpec = LayerEntry[];

export type Compression = 'gzip' | 'zstd' | 'none';

export interface ImageConfigSpec {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  /** `["80/tcp", "53/udp"]`; written as Go's map-of-empty-structs form. */
  ExposedPorts?: string[];
  Labels?: Record<string, string>;
  /** `["/data"]`: the image's VOLUME entries, written in Go's map-of-empty-structs form. */
  Volumes?: string[];
}

export interface ImageSpec {
  layers: LayerSpec[];
  /** Docker schema2 manifest and media types instead of OCI. */
  docker?: boolean;
  /** Layer compression, `gzip` by default. */
  compression?: Compression;
  /** zlib level for gzip layers; benchmarks lower it because their data is incompressible anyway. */
  gzipLevel?: number;
  config?: ImageConfigSpec;
  /** `created_by` of one history entry per layer; defaults to a generic description. */
  layerHistory?: string[];
  /** `created_by` of extra `empty_layer` history entries appended after the layer entries (as ENV/CMD do). */
  emptyLayerHistory?: string[];
  /** Written as the `org.opencontainers.image.ref.name` annotation of the manifest in index.json. */
  refName?: string;
}

export interface BuiltLayer {
  /** Digest of the blob as stored (compressed). */
  digest: Digest;
  /** Digest of the uncompressed tar. */
  diffId: Digest;
  /** Size of the stored blob in bytes. */
  size: number;
  mediaType: string;
}

export interface BuiltImage {
  manifestDigest: Digest;
  configDigest: Digest;
  layers: BuiltLayer[];
}

function layerMediaType(docker: boolean, compression: Compression): string {
  if (docker) {
    // Docker's schema2 has no zstd media type; refusing is better than writing an image nothing reads.
    if (compression === 'zstd') throw new Error('Docker schema2 images cannot have zstd layers; use the OCI format');
    return compression === 'gzip' ? MEDIA_TYPES.dockerLayerGzip : MEDIA_TYPES.dockerLayerTar;
  }
  if (compression === 'gzip') return MEDIA_TYPES.ociLayerGzip;
  return compression === 'zstd' ? MEDIA_TYPES.ociLayerZstd : MEDIA_TYPES.ociLayerTar;
}

function stripSlash(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+$/, '');
}

function splitParent(p: string): [string, string] {
  const i = p.lastIndexOf('/');
  return i < 0 ? ['', p] : [p.slice(0, i + 1), p.slice(i + 1)];
}

function toBuffer(content: LayerEntry['content']): Buffer {
  if (content === undefined) return Buffer.alloc(0);
  const c = typeof content === 'function' ? content() : content;
  if (typeof c === 'string') return Buffer.from(c, 'utf8');
  return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

type TarHeader = Partial<Header> & Pick<Header, 'name'>;

/**
 * The tar header and body of one spec entry; whiteouts become the AUFS-style marker files OCI
 * specifies. Regular files always get a body (tar-stream only closes a file entry given one).
 */
function tarEntry(e: LayerEntry): { header: TarHeader; body?: Buffer } {
  const path = stripSlash(e.path);
  const base = { uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? FIXED_MTIME, uname: '', gname: '' };
  switch (e.type) {
    case 'file': {
      const body = toBuffer(e.content);
      return { header: { ...base, name: path, type: 'file', mode: e.mode ?? 0o644, size: body.length }, body };
    }
    case 'dir':
      return { header: { ...base, name: `${path}/`, type: 'directory', mode: e.mode ?? 0o755 } };
    case 'symlink':
      if (e.linkname === undefined) throw new Error(`symlink ${e.path} needs a linkname`);
      return { header: { ...base, name: path, type: 'symlink', mode: e.mode ?? 0o777, linkname: e.linkname } };
    case 'hardlink':
      if (e.linkname === undefined) throw new Error(`hardlink ${e.path} needs a linkname`);
      return {
        header: { ...base, name: path, type: 'link', mode: e.mode ?? 0o644, linkname: stripSlash(e.linkname) },
      };
    case 'whiteout': {
      const [dir, name] = splitParent(path);
      return { header: { ...base, name: `${dir}.wh.${name}`, type: 'file', mode: e.mode ?? 0o644 }, body: Buffer.alloc(0) };
    }
    case 'opaque':
      return { header: { ...base, name: `${path}/.wh..wh..opq`, type: 'file', mode: e.mode ?? 0o644 }, body: Buffer.alloc(0) };
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
function digester(): { stream: Transform; result: () => { digest: Digest; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${hash.digest('hex')}` as Digest, size }) };
}

async function feed(pack: Pack, entries: LayerSpec): Promise<void> {
  for (const e of entries) {
    const { header, body } = tarEntry(e);
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (body) pack.entry(header, body, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
}

/** Runs `zstd` as a filter: the stream to write the tar into, and the compressed output to read. */
function zstdFilter(): { input: PassThrough; output: PassThrough; done: Promise<void> } {
  const child = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const input = new PassThrough();
  const output = new PassThrough();
  const done = Promise.all([
    pipeline(input, child.stdin),
    pipeline(child.stdout, output),
    new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited with ${code}`))));
    }),
  ]).then(() => undefined);
  return { input, output, done };
}

/**
 * Streams one layer: tar → (diffId hash) → compressor → (digest hash) → temp file, renamed to its
 * digest at the end. Streaming keeps a 200 MB benchmark image from living in memory twice.
 */
async function writeLayer(
  blobs: string,
  tmpSuffix: string,
  entries: LayerSpec,
  compression: Compression,
  gzipLevel: number,
) {
  const pack = tarPack();
  const diff = digester();
  const blob = digester();
  const tmp = join(blobs, `.tmp-layer-${process.pid}-${Date.now()}-${tmpSuffix}`);
  const out = createWriteStream(tmp);
  let work: Promise<unknown>;
  if (compression === 'zstd') {
    const z = zstdFilter();
    work = Promise.all([pipeline(pack, diff.stream, z.input), pipeline(z.output, blob.stream, out), z.done]);
  } else if (compression === 'gzip') {
    work = pipeline(pack, diff.stream, createGzip({ level: gzipLevel }), blob.stream, out);
  } else {
    work = pipeline(pack, diff.stream, blob.stream, out);
  }
  await Promise.all([feed(pack, entries), work]);
  const { digest, size } = blob.result();
  await rename(tmp, join(blobs, digest.slice('sha256:'.length)));
  return { digest, diffId: diff.result().digest, size };
}

async function writeBlob(blobs: string, data: string): Promise<{ digest: Digest; size: number }> {
  const bytes = Buffer.from(data, 'utf8');
  const digest = sha256Of(bytes);
  await writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
  return { digest, size: bytes.length };
}

/** Writes `spec` as an OCI image layout in `dir` (created if missing; an existing index.json is replaced). */
export async function buildOciLayout(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  const docker = spec.docker ?? false;
  const compression = spec.compression ?? 'gzip';
  const mediaType = layerMediaType(docker, compression);
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });

  // Layers are written concurrently: zlib compresses on the libuv thread pool, so a big image
  // builds several times faster than layer by layer.
  const layers: BuiltLayer[] = await Promise.all(
    spec.layers.map(async (entries, i) => ({
      ...(await writeLayer(blobs, `${i}`, entries, compression, spec.gzipLevel ?? 6)),
      mediaType,
    })),
  );

  const created = FIXED_MTIME.toISOString();
  const c = spec.config ?? {};
  const containerConfig: Record<string, unknown> = { Env: c.Env ?? [], Cmd: c.Cmd ?? [] };
  if (c.Entrypoint) containerConfig.Entrypoint = c.Entrypoint;
  if (c.WorkingDir) containerConfig.WorkingDir = c.WorkingDir;
  if (c.User) containerConfig.User = c.User;
  if (c.ExposedPorts) containerConfig.ExposedPorts = Object.fromEntries(c.ExposedPorts.map((p) => [p, {}]));
  if (c.Labels) containerConfig.Labels = c.Labels;
  if (c.Volumes) containerConfig.Volumes = Object.fromEntries(c.Volumes.map((p) => [p, {}]));
  const history = [
    ...spec.layers.map((_, i) => ({ created, created_by: spec.layerHistory?.[i] ?? `hull-test: layer ${i + 1}` })),
    ...(spec.emptyLayerHistory ?? []).map((by) => ({ created, created_by: by, empty_layer: true })),
  ];
  const config = await writeBlob(
    blobs,
    JSON.stringify({
      created,
      architecture: 'amd64',
      os: 'linux',
      config: containerConfig,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history,
    }),
  );

  const manifestMediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const manifest = await writeBlob(
    blobs,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestMediaType,
      config: { mediaType: docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig, ...config },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    }),
  );

  const descriptor: Record<string, unknown> = {
    mediaType: manifestMediaType,
    ...manifest,
    platform: { architecture: 'amd64', os: 'linux' },
  };
  if (spec.refName !== undefined) descriptor.annotations = { 'org.opencontainers.image.ref.name': spec.refName };
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [descriptor] }),
  );
  return { manifestDigest: manifest.digest, configDigest: config.digest, layers };
}

/** Applets linked in the busybox image; all exist in Debian's busybox-static. */
export const BUSYBOX_APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'echo', 'true', 'false', 'sleep', 'id', 'env', 'pwd', 'uname', 'hostname',
  'mkdir', 'rmdir', 'rm', 'touch', 'wc', 'head', 'tail', 'grep', 'ps', 'top', 'kill', 'nc', 'wget', 'sed',
  'tr', 'seq', 'dd', 'stat', 'readlink', 'realpath', 'test', '[', 'printf', 'mount', 'umount', 'nproc', 'cp',
  'mv', 'ln', 'chmod', 'chown', 'df', 'du', 'find', 'xargs', 'sort', 'uniq', 'cut', 'awk', 'date', 'whoami',
  'which', 'tee', 'yes', 'sync', 'timeout', 'mkfifo', 'ip', 'ifconfig', 'ping', 'httpd', 'free', 'hexdump',
  'md5sum', 'sha256sum', 'tar', 'gzip', 'basename', 'dirname', 'expr', 'nslookup', 'netstat', 'setsid',
  'su', 'vi', 'less', 'more', 'diff', 'tac', 'base64', 'uptime', 'pidof', 'killall', 'groups', 'time', 'xxd',
] as const;

export const BUSYBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
`;

const GROUP = `root:x:0:
daemon:x:1:
nogroup:x:65534:
app:x:1000:
`;

/**
 * What the busybox image's final rootfs must look like, for tests that check layer application:
 * `/etc/motd` is deleted by a whiteout and `/data` is replaced wholesale by an opaque directory.
 */
export const BUSYBOX_EXPECTED = {
  /** Files in /data after all layers, with their content. */
  data: { 'data/new.txt': 'new data from layer 3\n', 'data/new-link.txt': 'new data from layer 3\n' },
  /** Paths that lower layers created and upper layers removed. */
  removed: ['etc/motd', 'data/hello.txt', 'data/sub/deep.txt', 'data/hello-link.txt'],
  motd: 'Welcome to hull\n',
} as const;

export interface BusyboxOptions {
  docker?: boolean;
  compression?: Compression;
  refName?: string;
  /** Overrides merged over the default config (`Cmd ["sh"]`, PATH). */
  config?: ImageConfigSpec;
  /** Extra layers appended after the standard three. */
  extraLayers?: LayerSpec[];
}

/** Layer 1: a minimal static-busybox rootfs with users, groups and the usual mount points. */
export function busyboxRootfsLayer(): LayerSpec {
  const busybox = readFileSync('/bin/busybox');
  return [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', content: busybox, mode: 0o755 },
    ...BUSYBOX_APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { path: 'dev', type: 'dir' },
    { path: 'etc', type: 'dir' },
    { path: 'etc/passwd', type: 'file', content: PASSWD },
    { path: 'etc/group', type: 'file', content: GROUP },
    { path: 'home', type: 'dir' },
    { path: 'home/app', type: 'dir', uid: 1000, gid: 1000 },
    { path: 'proc', type: 'dir', mode: 0o555 },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'sys', type: 'dir', mode: 0o555 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'usr', type: 'dir' },
    { path: 'usr/bin', type: 'dir' },
    { path: 'usr/bin/env', type: 'symlink', linkname: '/bin/busybox' },
    { path: 'var', type: 'dir' },
  ];
}

/** The standard test image: busybox rootfs, then a layer adding /data and /etc/motd, then one deleting and replacing them. */
export function busyboxImage(opts: BusyboxOptions = {}): ImageSpec {
  const layer2: LayerSpec = [
    { path: 'data', type: 'dir' },
    { path: 'data/hello.txt', type: 'file', content: 'hello from layer 2\n' },
    { path: 'data/hello-link.txt', type: 'hardlink', linkname: 'data/hello.txt' },
    { path: 'data/sub', type: 'dir' },
    { path: 'data/sub/deep.txt', type: 'file', content: 'deep\n' },
    { path: 'etc/motd', type: 'file', content: BUSYBOX_EXPECTED.motd },
  ];
  const layer3: LayerSpec = [
    { path: 'data', type: 'dir' },
    { path: 'data', type: 'opaque' },
    { path: 'data/new.txt', type: 'file', content: BUSYBOX_EXPECTED.data['data/new.txt'], uid: 1000, gid: 1000 },
    { path: 'data/new-link.txt', type: 'hardlink', linkname: 'data/new.txt', uid: 1000, gid: 1000 },
    { path: 'etc/motd', type: 'whiteout' },
  ];
  const spec: ImageSpec = {
    layers: [busyboxRootfsLayer(), layer2, layer3, ...(opts.extraLayers ?? [])],
    config: { Env: [`PATH=${BUSYBOX_PATH}`], Cmd: ['sh'], ...opts.config },
    layerHistory: ['ADD busybox rootfs /', 'COPY data /data', 'RUN rm /etc/motd && rm -r /data/*'],
    emptyLayerHistory: ['CMD ["sh"]'],
  };
  if (opts.docker !== undefined) spec.docker = opts.docker;
  if (opts.compression !== undefined) spec.compression = opts.compression;
  if (opts.refName !== undefined) spec.refName = opts.refName;
  return spec;
}

export interface BusyboxArchives {
  /** OCI archive of `busybox:latest`, for `hull load` (and podman). */
  ociArchive: string;
  /** docker-archive of the same image, for dockerd 20.10's `docker load` (it predates OCI archives). */
  dockerArchive?: string;
}

/**
 * The standard busybox test image (plus `extraLayers`) written under `work` as an OCI layout,
 * then turned by skopeo into an archive tagged `busybox:latest` (and a docker-archive with
 * `docker: true`).
 */
export async function busyboxArchives(work: string, opts: { docker?: boolean; extraLayers?: LayerSpec[] } = {}): Promise<BusyboxArchives> {
  const layout = join(work, 'busybox-layout');
  await buildOciLayout(layout, busyboxImage({ refName: 'latest', extraLayers: opts.extraLayers ?? [] }));
  const ociArchive = join(work, 'busybox.oci.tar');
  await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `oci-archive:${ociArchive}:busybox:latest`]);
  if (!opts.docker) return { ociArchive };
  const dockerArchive = join(work, 'busybox.docker.tar');
  await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `docker-archive:${dockerArchive}:busybox:latest`]);
  return { ociArchive, dockerArchive };
}

/** `busyboxArchives`, then `hull load` of the OCI archive into the state root `root`: the image is `busybox:latest`. */
export async function loadBusybox(root: string, work: string, opts: { docker?: boolean; extraLayers?: LayerSpec[] } = {}): Promise<BusyboxArchives> {
  const archives = await busyboxArchives(work, opts);
  const r = await runHull(['load', '-i', archives.ociArchive], { root });
  if (r.code !== 0) throw new Error(`hull load: ${r.stderr}`);
  return archives;
}

/** Deterministic incompressible bytes. xorshift32 over 32-bit words: ~1 GB/s, unlike per-byte crypto. */
export function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

const FILES_PER_LAYER = 4;

/**
 * A ~`totalMB` benchmark image: the busybox rootfs plus `layers` data layers of
 * pseudo-random files (so the image has `layers + 1` layers). gzip level 1, since the data
 * does not compress and level 6 would only make the benchmark setup slow.
 */
export async function bigImage(dir: string, totalMB = 200, layers = 5, compression: Compression = 'gzip') {
  const fileSize = Math.floor((totalMB * 1024 * 1024) / (layers * FILES_PER_LAYER));
  const dataLayers: LayerSpec[] = [];
  for (let l = 0; l < layers; l++) {
    const entries: LayerSpec = [{ path: `big/layer${l}`, type: 'dir' }];
    for (let f = 0; f < FILES_PER_LAYER; f++) {
      const seed = l * FILES_PER_LAYER + f + 1;
      entries.push({ path: `big/layer${l}/file${f}.bin`, type: 'file', content: () => pseudoRandomBytes(fileSize, seed) });
    }
    dataLayers.push([{ path: 'big', type: 'dir' }, ...entries]);
  }
  return buildOciLayout(dir, {
    layers: [busyboxRootfsLayer(), ...dataLayers],
    compression,
    gzipLevel: 1,
    config: { Env: [`PATH=${BUSYBOX_PATH}`], Cmd: ['sh'] },
  });
}

let preserveDigestsSupported: boolean | undefined;

async function skopeoSupportsPreserveDigests(): Promise<boolean> {
  if (preserveDigestsSupported === undefined) {
    const { stdout } = await execFileP('skopeo', ['copy', '--help']);
    preserveDigestsSupported = stdout.includes('--preserve-digests');
  }
  return preserveDigestsSupported;
}

/**
 * Pushes the single image in `layoutDir` to a plain-HTTP registry with the real skopeo, and
 * returns the pushed manifest digest. Tests rely on the registry serving byte-identical blobs,
 * so a push that changed the manifest (e.g. recompressed layers) is an error, not a surprise later.
 */
export async function pushWithSkopeo(layoutDir: string, destRef: string, expectedDigest?: Digest): Promise<Digest> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (await skopeoSupportsPreserveDigests()) args.push('--preserve-digests');
  await execFileP('skopeo', [...args, `oci:${layoutDir}`, `docker://${destRef}`], { maxBuffer: 16 * 1024 * 1024 });
  const { stdout } = await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${destRef}`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const pushed = sha256Of(Buffer.from(stdout, 'utf8'));
  const local = expectedDigest ?? (await localManifestDigest(layoutDir));
  if (pushed !== local) throw new Error(`skopeo changed the manifest while pushing: ${local} became ${pushed}`);
  return pushed;
}

async function localManifestDigest(layoutDir: string): Promise<Digest> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: Digest }[] };
  const first = index.manifests[0];
  if (index.manifests.length !== 1 || !first) throw new Error(`${layoutDir}: expected exactly one manifest in index.json`);
  return first.digest;
}
