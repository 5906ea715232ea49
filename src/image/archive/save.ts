/**
 * `hull save`: images as a docker-archive tar.
 *
 * The layout is Docker 25+'s, which is a docker-archive and an OCI image layout at once:
 * `blobs/sha256/<hex>` holds each config, each layer as an UNCOMPRESSED tar (named by its diff
 * id) and an OCI manifest per image; `manifest.json` points at those blob paths, `index.json`
 * names the manifests, and `repositories` keeps the legacy tag map. skopeo 1.9.3 (Debian 12)
 * reads it both as `docker-archive:` (it follows manifest.json's paths, whatever they are) and
 * as `oci-archive:` (test/integration/archive.test.ts checks both), and Docker's loader has
 * followed manifest.json's paths since 1.10; so there is no reason to write the classic
 * `<v1 id>/layer.tar` layout with its synthetic v1 ids.
 *
 * Every entry has mtime 0 (as Docker's manifests do), so saving the same images twice gives
 * byte-identical archives.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Pack } from 'tar-stream';
import { HullError } from '../../util/errors.js';
import { pidTempName } from '../../util/fs.js';
import { sniffingDecompressor } from '../compression.js';
import { digestHex, sha256Of, type Digest, type ImageId } from '../digest.js';
import { MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST, type Descriptor, type ImageManifest } from '../media-types.js';
import { familiarName, familiarString, formatReference, parseReference, repositoryName, type Reference } from '../reference.js';
import type { ImageStore, StoredImage } from '../store.js';

/** containerd's image name annotation; Docker 25+ writes it next to the OCI ref name. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

const EPOCH = new Date(0);

type EntryHeader = Parameters<Pack['entry']>[0];
type Sink = ReturnType<Pack['entry']>;

interface SaveItem {
  image: StoredImage;
  /** Tagged references to record for the image, in the order asked for. */
  refs: Reference[];
}

/** One `manifest.json` entry, as Docker writes and reads it. */
export interface ArchiveManifestItem {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  Parent?: string;
}

/**
 * Write the images `names` name (tags, repositories, ids or id prefixes) to `out` as one
 * archive. Every name is resolved before the first byte is written, so an unknown name fails
 * cleanly instead of leaving half an archive.
 */
export async function saveImages(store: ImageStore, names: string[], out: Writable): Promise<void> {
  const items = resolveNames(store, names);
  const tmp = join(store.tmpDir, pidTempName());
  await mkdir(tmp, { recursive: true });
  const pack = tarPack();
  const tar = new TarWriter(pack, pipeline(pack, out));
  try {
    await tar.directory('blobs/');
    await tar.directory('blobs/sha256/');
    const written = new Set<string>();
    const manifestJson: ArchiveManifestItem[] = [];
    const index: Descriptor[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { image, refs } of items) {
      const config = Buffer.from(image.row.config);
      if (sha256Of(config) !== image.id) {
        throw new HullError('STATE_CORRUPT', `the stored config of image ${image.id} does not match its id; pull or load the image again`);
      }
      if (!written.has(image.id)) {
        await tar.buffer(blobPath(image.id), config);
        written.add(image.id);
      }
      const diffIds = image.config.rootfs.diff_ids as Digest[];
      const layers: Descriptor[] = [];
      for (const diffId of diffIds) {
        const size = written.has(diffId) ? tar.sizeOf(diffId) : await writeLayer(store, tar, diffId, tmp);
        written.add(diffId);
        layers.push({ mediaType: MEDIA_TYPE_OCI_LAYER, digest: diffId, size });
      }
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPE_OCI_MANIFEST,
        config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: image.id, size: config.length },
        layers,
      };
      const manifestBody = Buffer.from(JSON.stringify(manifest));
      const manifestDigest = sha256Of(manifestBody);
      if (!written.has(manifestDigest)) {
        await tar.buffer(blobPath(manifestDigest), manifestBody);
        written.add(manifestDigest);
      }
      const descriptor: Descriptor = { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: manifestDigest, size: manifestBody.length };
      for (const ref of refs) {
        index.push({ ...descriptor, annotations: { [ANNOTATION_IMAGE_NAME]: formatReference(ref), [ANNOTATION_REF_NAME]: ref.tag! } });
        const repo = familiarName(ref);
        const last = diffIds[diffIds.length - 1];
        if (last) (repositories[repo] ??= {})[ref.tag!] = digestHex(last);
      }
      if (refs.length === 0) index.push(descriptor);
      manifestJson.push({
        Config: blobPath(image.id),
        RepoTags: refs.length > 0 ? refs.map((r) => familiarString(r)) : null,
        Layers: diffIds.map(blobPath),
      });
    }
    await tar.buffer('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests: index })));
    await tar.buffer('manifest.json', Buffer.from(`${JSON.stringify(manifestJson)}\n`));
    await tar.buffer('oci-layout', Buffer.from('{"imageLayoutVersion": "1.0.0"}'));
    if (Object.keys(repositories).length > 0) await tar.buffer('repositories', Buffer.from(`${JSON.stringify(repositories)}\n`));
    await tar.finish();
  } catch (e) {
    await tar.abort(e);
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function blobPath(digest: string): string {
  return `blobs/sha256/${digestHex(digest as Digest)}`;
}

/**
 * Docker's parseNames: `repo:tag` saves that tag, a bare `repo` every tag of the repository,
 * `repo@digest`, an id or an id prefix the image without a tag. Images named twice are saved once.
 */
function resolveNames(store: ImageStore, names: string[]): SaveItem[] {
  const items = new Map<ImageId, SaveItem>();
  const add = (image: StoredImage, ref?: Reference): void => {
    let item = items.get(image.id);
    if (!item) {
      item = { image, refs: [] };
      items.set(image.id, item);
    }
    if (ref?.tag !== undefined && !item.refs.some((r) => formatReference(r) === formatReference(ref))) item.refs.push(ref);
  };
  for (const name of names) {
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch {
      // Not a reference: an id (sha256:…) or something store.get explains.
    }
    if (ref && ref.tag === undefined && ref.digest === undefined) {
      const repo = repositoryName(ref);
      const tags = store.records.allTags().filter((t) => t.name.slice(0, t.name.lastIndexOf(':')) === repo);
      for (const t of tags.sort((a, b) => a.name.localeCompare(b.name))) add(store.get(t.imageId), parseReference(t.name));
      if (tags.length > 0) continue;
    }
    const image = store.get(name);
    // A hex prefix can parse as a repository name; it only names a tag if one resolves to it.
    const tagged = ref && ref.digest === undefined && store.records.getTag(formatReference({ ...ref, tag: ref.tag ?? 'latest' })) === image.id;
    add(image, tagged ? { ...ref!, tag: ref!.tag ?? 'latest' } : undefined);
  }
  return [...items.values()];
}

/**
 * Append the uncompressed tar of a layer as `blobs/sha256/<diff id>` and return its size. Tar
 * headers need the size up front, so a compressed blob is first decompressed into a temp file
 * (and checked against the diff id on the way, so the archive never carries a wrong layer).
 */
async function writeLayer(store: ImageStore, tar: TarWriter, diffId: Digest, tmp: string): Promise<number> {
  const candidates = store.records.blobsOfLayer(diffId);
  const present = [];
  for (const b of candidates) if (await store.blobs.has(b.blobDigest as Digest)) present.push(b);
  // An uncompressed blob has the diff id as its digest: it can go into the archive as is.
  if (present.some((b) => b.blobDigest === diffId)) return tar.file(blobPath(diffId), store.blobs.path(diffId), diffId);
  const blob = present[0];
  if (!blob) throw new HullError('NOT_FOUND', `layer ${diffId} has no stored blob to save; pull or load the image again`);
  const file = join(tmp, digestHex(diffId));
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(store.blobs.read(blob.blobDigest as Digest), sniffingDecompressor(), tap, createWriteStream(file));
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== diffId) {
    throw new HullError('DIGEST_MISMATCH', `stored blob ${blob.blobDigest} decompresses to ${actual}, not layer ${diffId}; pull or load the image again`);
  }
  try {
    return await tar.file(blobPath(diffId), file, diffId);
  } finally {
    // Freed as soon as it is in the archive: disk use stays at one layer at a time.
    await rm(file, { force: true });
  }
}

/** Appends entries to a tar-stream pack with backpressure; fails fast if the output breaks. */
class TarWriter {
  private readonly broken: Promise<never>;
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly pack: Pack,
    private readonly done: Promise<void>,
  ) {
    this.broken = new Promise<never>((_, reject) => {
      done.catch(reject);
    });
    // Observed through `broken` or `finish`; never an unhandled rejection.
    this.broken.catch(() => undefined);
  }

  /** The size of an entry written by `file` under `key`. */
  sizeOf(key: string): number {
    const size = this.sizes.get(key);
    if (size === undefined) throw new HullError('INTERNAL', `archive entry ${key} was not written`);
    return size;
  }

  directory(name: string): Promise<void> {
    return this.add({ name, type: 'directory', mode: 0o755 });
  }

  buffer(name: string, data: Buffer): Promise<void> {
    return this.add({ name, type: 'file', mode: 0o644, size: data.length }, data);
  }

  /** Stream a file into an entry; `key` remembers its size for later references. */
  async file(name: string, path: string, key: string): Promise<number> {
    const { size } = await stat(path);
    let entry!: Sink;
    const written = this.entry({ name, type: 'file', mode: 0o644, size }, (e) => {
      entry = e;
    });
    for await (const chunk of createReadStream(path)) {
      if (!entry.write(chunk)) await Promise.race([new Promise<void>((resolve) => entry.once('drain', () => resolve())), this.broken]);
    }
    entry.end(undefined);
    await Promise.race([written, this.broken]);
    this.sizes.set(key, size);
    return size;
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
  }

  async abort(e: unknown): Promise<void> {
    this.pack.destroy(e instanceof Error ? e : new Error(String(e)));
    await this.done.catch(() => undefined);
  }

  private async add(h: EntryHeader, data?: Buffer): Promise<void> {
    const written = this.entry(h, (entry) => {
      entry.end(data);
    });
    await Promise.race([written, this.broken]);
  }

  /** Start an entry (handed to `start`); resolves once tar-stream has taken all of it. */
  private entry(h: EntryHeader, start: (entry: Sink) => void): Promise<void> {
    const header: EntryHeader = { uid: 0, gid: 0, uname: '', gname: '', mtime: EPOCH, ...h };
    const written = new Promise<void>((resolve, reject) => {
      start(this.pack.entry(header, (err?: Error | null) => (err ? reject(err) : resolve())));
    });
    written.catch(() => undefined);
    return written;
  }
}
