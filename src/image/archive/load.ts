/**
 * `hull load`: images from a docker-archive (`docker save`, classic or Docker 25+ layout, or
 * `skopeo copy … docker-archive:`) or an OCI image layout tar (`skopeo copy … oci-archive:`),
 * optionally gzip/zstd compressed as a whole.
 *
 * Tar members come in any order (the manifest may be last), so the archive is first spooled to
 * a temp directory, hashing every file on the way. Then everything that can be checked without
 * unpacking (JSON, configs, blob digests, layer counts) is checked for every image, then layers
 * are ingested (which checks diff ids), and only then is anything recorded, in one transaction:
 * a bad archive leaves no image, tag or layer record behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { HullError, isHullError, messageOf } from '../../util/errors.js';
import { drainedOrClosed } from '../../util/drain.js';
import { pidTempName } from '../../util/fs.js';
import { detectCompression, sniffingDecompressor } from '../compression.js';
import { parseImageConfig, type ImageConfig } from '../config.js';
import { shortId, type Digest, type ImageId } from '../digest.js';
import { ingestLayer } from '../layer-ingest.js';
import {
  MEDIA_TYPE_OCI_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from '../media-types.js';
import { hostPlatform, selectManifest } from '../platform.js';
import type { ProgressSink } from '../progress.js';
import { familiarString, formatReference, parseNormalizedTagged, type Reference } from '../reference.js';
import type { ImageStore } from '../store.js';
import { layerMediaType } from './layer-media-type.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, type ArchiveManifestItem } from './save.js';

/** Symlink hops followed inside an archive before giving up (classic archives use one). */
const MAX_LINK_HOPS = 16;
/** manifest.json, index.json, manifests and configs are read whole; real ones are kilobytes. */
const MAX_JSON_BYTES = 64 << 20;

export interface LoadedImage {
  id: ImageId;
  /** Familiar tags (`busybox:latest`); empty when the image was loaded untagged. */
  tags: string[];
}

export interface LoadResult {
  images: LoadedImage[];
  /**
   * Docker's report lines (`Loaded image: busybox:latest`, `Loaded image ID: sha256:…`, tag
   * moves). Separate from progress because `docker load -q` still prints them.
   */
  messages: string[];
}

interface SpooledFile {
  path: string;
  size: number;
  digest: Digest;
}

type SpooledEntry = SpooledFile | { link: string };

interface PlannedLayer {
  diffId: Digest;
  file: SpooledFile;
  mediaType: string;
}

interface PlannedImage {
  id: ImageId;
  configBody: Buffer;
  config: ImageConfig;
  layers: PlannedLayer[];
  refs: Reference[];
  manifest?: { body: Buffer; digest: Digest; mediaType: string };
}

function invalid(message: string): HullError {
  return new HullError('ARCHIVE_INVALID', message);
}

export async function loadArchive(store: ImageStore, input: Readable, progress: ProgressSink): Promise<LoadResult> {
  const dir = join(store.tmpDir, pidTempName());
  await mkdir(dir, { recursive: true });
  try {
    const archive = new Archive(await spool(input, dir));
    const images = await plan(archive);
    const ingested = await ingestLayers(store, images, progress);
    return await record(store, images, ingested);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Archive paths as Docker's tar reader compares them: no `./`, no leading or trailing `/`. */
function cleanPath(name: string): string {
  return posix.normalize(`/${name}`).replace(/^\/+|\/+$/g, '');
}

/** Write every regular file of the tar to `dir`, hashed; remember links and skip the rest. */
async function spool(input: Readable, dir: string): Promise<Map<string, SpooledEntry>> {
  const entries = new Map<string, SpooledEntry>();
  const extract = tarExtract();
  const decompressed = sniffingDecompressor();
  let feedError: unknown;
  // The archive may itself be compressed, as `docker load` accepts `docker save | gzip`.
  const feeding = (async () => {
    const upstream = pipeline(input, decompressed);
    upstream.catch(() => undefined);
    for await (const chunk of decompressed) {
      if (!extract.write(chunk)) await drainedOrClosed(extract);
      if (extract.destroyed) return;
    }
    await upstream;
    extract.end(undefined);
  })().catch((e: unknown) => {
    feedError = e;
    extract.destroy(e instanceof Error ? e : new Error(String(e)));
  });
  let n = 0;
  try {
    for await (const entry of extract) {
      const name = cleanPath(entry.header.name);
      const type = entry.header.type;
      if (type === 'file' || type === 'contiguous-file') {
        const path = join(dir, String(n++));
        entries.set(name, await spoolFile(entry, path));
      } else {
        if (type === 'symlink' && entry.header.linkname) {
          // Relative to the link's directory, as in classic archives' `../<id>/layer.tar`.
          const target = entry.header.linkname.startsWith('/') ? entry.header.linkname : posix.join(posix.dirname(name), entry.header.linkname);
          entries.set(name, { link: cleanPath(target) });
        } else if (type === 'link' && entry.header.linkname) {
          entries.set(name, { link: cleanPath(entry.header.linkname) });
        }
        entry.resume();
      }
    }
  } catch (e) {
    // Either the input failed (and took the extractor down with it) or the tar itself is bad.
    if (feedError !== undefined && e === feedError) throw readError(feedError);
    const failure = feedError ?? e;
    decompressed.destroy();
    input.destroy();
    await feeding;
    if (isHullError(failure)) throw failure;
    const msg = messageOf(failure);
    throw invalid(/end of data/i.test(msg) ? 'unexpected end of archive: the tar is truncated' : `invalid tar header: ${msg}`);
  }
  await feeding;
  if (feedError !== undefined) throw readError(feedError);
  return entries;
}

function readError(e: unknown): HullError {
  return isHullError(e) ? e : invalid(`cannot read archive: ${messageOf(e)}`);
}

async function spoolFile(entry: AsyncIterable<unknown>, path: string): Promise<SpooledFile> {
  const hash = createHash('sha256');
  const fh: FileHandle = await open(path, 'w', 0o600);
  let size = 0;
  try {
    for await (const raw of entry) {
      const chunk = raw as Buffer;
      hash.update(chunk);
      size += chunk.length;
      let pos = 0;
      while (pos < chunk.length) pos += (await fh.write(chunk, pos, chunk.length - pos)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}` as Digest };
}

/** Lookups into the spooled archive, with the checks every reader of it needs. */
class Archive {
  constructor(private readonly entries: Map<string, SpooledEntry>) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The file at `name`, following links; undefined when absent. */
  find(name: string): SpooledFile | undefined {
    let current = cleanPath(name);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const entry = this.entries.get(current);
      if (!entry) return undefined;
      if (!('link' in entry)) {
        const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(current);
        // A content-addressed path is a promise about the content: hold the archive to it.
        if (m && entry.digest !== `sha256:${m[1]}`) {
          throw new HullError('DIGEST_MISMATCH', `archive member ${current} has digest ${entry.digest}; the archive is corrupt`);
        }
        return entry;
      }
      current = entry.link;
    }
    throw invalid(`archive member ${name} is a symlink loop`);
  }

  get(name: string, what: string): SpooledFile {
    const file = this.find(name);
    if (!file) throw invalid(`${what} ${name} is not in the archive`);
    return file;
  }

  /** Parse a JSON member, given by archive path or as an already resolved file. */
  async json<T>(member: string | SpooledFile, what: string): Promise<{ value: T; body: Buffer; file: SpooledFile }> {
    const file = typeof member === 'string' ? this.get(member, what) : member;
    const name = typeof member === 'string' ? member : file.digest;
    if (file.size > MAX_JSON_BYTES) throw invalid(`${what} ${name} is too large (${file.size} bytes)`);
    const body = await readFile(file.path);
    try {
      return { value: JSON.parse(body.toString()) as T, body, file };
    } catch (e) {
      throw invalid(`invalid ${what} ${name}: ${messageOf(e)}`);
    }
  }

  /** A blob of an OCI layout, checked against its descriptor. */
  blob(desc: Descriptor, what: string): SpooledFile {
    if (typeof desc?.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(desc.digest)) {
      throw invalid(`${what} has an invalid or unsupported digest "${String(desc?.digest)}"`);
    }
    const file = this.get(`blobs/sha256/${desc.digest.slice(7)}`, what);
    if (typeof desc.size === 'number' && desc.size !== file.size) {
      throw new HullError('DIGEST_MISMATCH', `${what} ${desc.digest} is ${file.size} bytes, but its descriptor says ${desc.size}`);
    }
    return file;
  }
}

async function plan(archive: Archive): Promise<PlannedImage[]> {
  if (archive.has('manifest.json')) return planDockerArchive(archive);
  if (archive.has('index.json')) return planOciLayout(archive);
  if (archive.has('repositories')) throw invalid('legacy archives without manifest.json (Docker before 1.10) are not supported');
  throw invalid('no manifest.json or index.json in archive');
}

async function readConfig(archive: Archive, member: string | SpooledFile): Promise<{ id: ImageId; body: Buffer; config: ImageConfig }> {
  const { body, file } = await archive.json<unknown>(member, 'image config');
  let config: ImageConfig;
  try {
    config = parseImageConfig(body);
  } catch (e) {
    throw invalid(`invalid image config ${file.digest}: ${messageOf(e)}`);
  }
  return { id: file.digest as ImageId, body, config };
}

function parseTag(name: string, where: string): Reference {
  let ref: Reference;
  try {
    ref = parseNormalizedTagged(name);
  } catch (e) {
    throw invalid(`invalid image name "${name}" in ${where}: ${messageOf(e)}`);
  }
  if (ref.digest !== undefined) throw invalid(`invalid image name "${name}" in ${where}: a digest reference cannot be a tag`);
  return ref;
}

async function planDockerArchive(archive: Archive): Promise<PlannedImage[]> {
  const { value: items } = await archive.json<ArchiveManifestItem[]>('manifest.json', 'manifest');
  if (!Array.isArray(items)) throw invalid('invalid manifest manifest.json: expected a JSON array');
  const images: PlannedImage[] = [];
  for (const item of items) {
    if (typeof item?.Config !== 'string' || !Array.isArray(item.Layers)) {
      throw invalid('invalid manifest manifest.json: every entry needs Config and Layers');
    }
    const { id, body, config } = await readConfig(archive, item.Config);
    const diffIds = config.rootfs.diff_ids as Digest[];
    if (item.Layers.length !== diffIds.length) {
      throw invalid(`image ${id} lists ${item.Layers.length} layers in manifest.json but its config has ${diffIds.length} diff ids`);
    }
    const layers: PlannedLayer[] = [];
    for (const [i, path] of item.Layers.entries()) {
      const file = archive.get(String(path), 'layer');
      layers.push({ diffId: diffIds[i]!, file, mediaType: await sniffedMediaType(file) });
    }
    images.push({ id, configBody: body, config, layers, refs: (item.RepoTags ?? []).map((t) => parseTag(String(t), 'manifest.json')) });
  }
  return images;
}

/** docker-archive layers carry no media type: name what the bytes are. */
async function sniffedMediaType(file: SpooledFile): Promise<string> {
  const fh = await open(file.path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    return layerMediaType(detectCompression(head.subarray(0, bytesRead)));
  } finally {
    await fh.close();
  }
}

/**
 * The tag an OCI layout names an image by: containerd's full-name annotation, else the OCI ref
 * name when it is a whole reference (`busybox:latest`, as `skopeo copy … oci-archive:f:busybox:latest`
 * writes). A bare tag (`latest`, what `oci:dir:latest` writes) names no repository, so, as in
 * Docker, the image loads untagged.
 */
function ociRef(annotations: Record<string, string> | undefined): Reference | undefined {
  const full = annotations?.[ANNOTATION_IMAGE_NAME];
  if (full) return parseTag(full, 'index.json');
  const refName = annotations?.[ANNOTATION_REF_NAME];
  if (refName && /[:/]/.test(refName) && !refName.includes('@')) return parseTag(refName, 'index.json');
  return undefined;
}

async function planOciLayout(archive: Archive): Promise<PlannedImage[]> {
  if (archive.has('oci-layout')) {
    const { value: layout } = await archive.json<{ imageLayoutVersion?: unknown }>('oci-layout', 'layout file');
    if (layout?.imageLayoutVersion !== '1.0.0') throw invalid(`unsupported OCI layout version ${JSON.stringify(layout?.imageLayoutVersion)}`);
  }
  const { value: index } = await archive.json<ImageIndex>('index.json', 'index');
  if (!Array.isArray(index?.manifests)) throw invalid('invalid index index.json: no manifests');
  const byId = new Map<ImageId, PlannedImage>();
  for (const top of index.manifests) {
    let desc = top;
    if (isIndexMediaType(desc.mediaType)) {
      const nested = await archive.json<ImageIndex>(archive.blob(desc, 'index'), 'index');
      if (!Array.isArray(nested.value?.manifests)) throw invalid(`invalid index ${desc.digest}: no manifests`);
      desc = selectManifest(nested.value, hostPlatform());
    }
    // Other artifacts (signatures, attestations) are not images; Docker skips them too.
    if (desc.mediaType !== undefined && !isManifestMediaType(desc.mediaType)) continue;
    const manifestFile = archive.blob(desc, 'manifest');
    const { value: manifest, body } = await archive.json<ImageManifest>(manifestFile, 'manifest');
    if (!manifest?.config || !Array.isArray(manifest.layers)) throw invalid(`invalid manifest ${desc.digest}: no config or layers`);
    const configFile = archive.blob(manifest.config, 'image config');
    const { id, body: configBody, config } = await readConfig(archive, configFile);
    const diffIds = config.rootfs.diff_ids as Digest[];
    if (manifest.layers.length !== diffIds.length) {
      throw invalid(`manifest ${desc.digest} lists ${manifest.layers.length} layers but its config has ${diffIds.length} diff ids`);
    }
    const layers = manifest.layers.map((l, i): PlannedLayer => ({ diffId: diffIds[i]!, file: archive.blob(l, 'layer'), mediaType: l.mediaType }));
    const ref = ociRef(top.annotations);
    const image = byId.get(id) ?? {
      id,
      configBody,
      config,
      layers,
      refs: [],
      manifest: { body, digest: manifestFile.digest, mediaType: manifest.mediaType ?? desc.mediaType ?? MEDIA_TYPE_OCI_MANIFEST },
    };
    if (ref && !image.refs.some((r) => formatReference(r) === formatReference(ref))) image.refs.push(ref);
    byId.set(id, image);
  }
  if (byId.size === 0) throw invalid('index.json names no image manifest');
  return [...byId.values()];
}

interface IngestedLayer {
  size: number;
  blobDigest: Digest;
  blobSize: number;
}

/** Unpack every layer not already here; diff ids are verified by ingestLayer. */
async function ingestLayers(store: ImageStore, images: PlannedImage[], progress: ProgressSink): Promise<Map<Digest, IngestedLayer>> {
  const done = new Map<Digest, IngestedLayer>();
  for (const image of images) {
    for (const layer of image.layers) {
      if (done.has(layer.diffId)) continue;
      const known = store.records.getLayer(layer.diffId);
      if (known && (await store.layers.has(layer.diffId)) && (await store.blobs.has(layer.file.digest))) {
        done.set(layer.diffId, { size: known.size, blobDigest: layer.file.digest, blobSize: layer.file.size });
        continue;
      }
      const id = shortId(layer.diffId);
      const total = layer.file.size;
      const result = await ingestLayer(store, createReadStream(layer.file.path), {
        expectedBlob: layer.file.digest,
        expectedSize: total,
        expectedDiffId: layer.diffId,
        onBytes: (current) => progress({ id, status: 'Loading layer', current, total }),
      });
      done.set(layer.diffId, { size: result.size, blobDigest: result.blobDigest, blobSize: result.blobSize });
    }
  }
  return done;
}

async function record(store: ImageStore, images: PlannedImage[], layers: Map<Digest, IngestedLayer>): Promise<LoadResult> {
  for (const image of images) {
    await store.blobs.put(image.configBody, image.id);
    if (image.manifest) await store.blobs.put(image.manifest.body, image.manifest.digest);
  }
  const moved: { image: PlannedImage; ref: Reference; previous: string }[] = [];
  store.records.transaction(() => {
    for (const image of images) {
      let size = 0;
      for (const l of image.layers) {
        const ingested = layers.get(l.diffId)!;
        size += ingested.size;
        store.records.putLayer(l.diffId, ingested.size);
        store.records.putLayerBlob({ blobDigest: ingested.blobDigest, diffId: l.diffId, mediaType: l.mediaType, size: ingested.blobSize });
      }
      store.records.putImage({
        id: image.id,
        config: image.configBody.toString(),
        manifestDigest: image.manifest?.digest ?? null,
        manifestMediaType: image.manifest?.mediaType ?? null,
        size,
        parent: null,
      });
      for (const ref of image.refs) {
        const previous = store.records.setTag(formatReference(ref), image.id);
        if (previous) moved.push({ image, ref, previous });
      }
    }
  });
  const result: LoadResult = { images: [], messages: [] };
  for (const image of images) {
    for (const ref of image.refs) {
      const m = moved.find((x) => x.image === image && x.ref === ref);
      if (m) result.messages.push(`The image ${familiarString(ref)} already exists, renaming the old one with ID ${m.previous} to empty string`);
      result.messages.push(`Loaded image: ${familiarString(ref)}`);
    }
    if (image.refs.length === 0) result.messages.push(`Loaded image ID: ${image.id}`);
    result.images.push({ id: image.id, tags: image.refs.map((r) => familiarString(r)) });
  }
  return result;
}
