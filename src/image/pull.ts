/**
 * `hull pull`: resolve a reference to one platform's manifest, then fetch config and layers.
 * Layers download in parallel and unpack while they stream (see layer-ingest.ts); an
 * interrupted download resumes with an HTTP Range request from the last byte written.
 * Metadata is recorded in one transaction at the end, so a killed pull leaves no image.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runLimited } from '../util/concurrency.js';
import { HullError, isHullError } from '../util/errors.js';
import { parseImageConfig } from './config.js';
import { sha256Of, shortId, type Digest, type ImageId } from './digest.js';
import { ingestLayer } from './layer-ingest.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from './media-types.js';
import { formatPlatform, hostPlatform, platformMatches, selectManifest } from './platform.js';
import type { ProgressSink } from './progress.js';
import { familiarString, formatReference, parseNormalizedTagged, repositoryName, type Reference } from './reference.js';
import type { RegistryClient } from './registry/client.js';
import { clientFor } from './registry/connect.js';
import type { ImageStore, StoredImage } from './store.js';

/** Docker's default (max-concurrent-downloads = 3); more only adds contention on 2 cores. */
const DOWNLOAD_CONCURRENCY = 3;
const BLOB_ATTEMPTS = 5;

export interface PullOptions {
  platform?: Platform;
  progress: ProgressSink;
  signal?: AbortSignal;
}

export interface PullResult {
  ref: Reference;
  image: StoredImage;
  /** The digest the reference resolved to (index digest for multi-platform images). */
  digest: Digest;
  upToDate: boolean;
}

export async function pullImage(store: ImageStore, input: string, opts: PullOptions): Promise<PullResult> {
  const ref = parseNormalizedTagged(input);
  const repo = ref.path;
  const client = await clientFor(ref.domain);
  const wanted = opts.platform ?? hostPlatform();
  const progress = opts.progress;
  // Docker names the repository by its path alone here ("Pulling from library/busybox").
  progress({ id: ref.tag ?? ref.digest, status: `Pulling from ${ref.path}` });

  const top = await client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest');
  let manifestBody = top.body;
  let manifestDigest = top.digest;
  let manifestMediaType = top.mediaType;
  if (isIndexMediaType(top.mediaType)) {
    const index = JSON.parse(top.body.toString()) as ImageIndex;
    const chosen = selectManifest(index, wanted);
    const m = await client.getManifest(repo, chosen.digest);
    manifestBody = m.body;
    manifestDigest = m.digest;
    manifestMediaType = m.mediaType;
  }
  if (!isManifestMediaType(manifestMediaType)) {
    throw new HullError('UNSUPPORTED_MEDIA_TYPE', `unsupported manifest media type "${manifestMediaType}" for ${familiarString(ref)}`);
  }
  const manifest = JSON.parse(manifestBody.toString()) as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new HullError('REGISTRY_ERROR', `manifest ${manifestDigest} of ${familiarString(ref)} has no config or layers`);
  }

  const configBody = await fetchSmallBlob(client, repo, manifest.config);
  const config = parseImageConfig(configBody);
  if (!isIndexMediaType(top.mediaType) && opts.platform && !platformMatches(wanted, { architecture: config.architecture, os: config.os, variant: config.variant })) {
    throw new HullError(
      'PLATFORM_NOT_FOUND',
      `image with reference ${familiarString(ref)} was found but its platform (${formatPlatform({ architecture: config.architecture, os: config.os, variant: config.variant })}) does not match the specified platform (${formatPlatform(wanted)})`,
    );
  }
  const diffIds = config.rootfs.diff_ids as Digest[];
  if (diffIds.length !== manifest.layers.length) {
    throw new HullError('REGISTRY_ERROR', `manifest ${manifestDigest} lists ${manifest.layers.length} layers but its config has ${diffIds.length} diff ids`);
  }
  const imageId = manifest.config.digest as ImageId;
  const existing = store.load(imageId);
  // Taken before deciding what is present, so a concurrent rmi cannot collect a layer we reuse.
  const lease = store.lease([...diffIds, manifestDigest, imageId]);
  let upToDate = false;
  try {
    const present = await Promise.all(
      diffIds.map(async (d) => store.records.getLayer(d) !== undefined && (await store.layers.has(d))),
    );
    manifest.layers.forEach((desc, i) => progress({ id: shortId(desc.digest), status: present[i] ? 'Already exists' : 'Pulling fs layer' }));
    const layerSizes = await runLimited(
      manifest.layers.map((desc, i) => async () => {
        const diffId = diffIds[i]!;
        const id = shortId(desc.digest);
        if (present[i]) return { diffId, desc, size: store.records.getLayer(diffId)!.size, fetched: false };
        const layer = await ingestLayer(store, blobChunks(client, repo, desc, opts.signal), {
          expectedBlob: desc.digest,
          expectedSize: desc.size,
          expectedDiffId: diffId,
          onBytes: (n) => progress({ id, status: 'Downloading', current: n, total: desc.size }),
        });
        progress({ id, status: 'Download complete' });
        progress({ id, status: 'Pull complete' });
        return { diffId, desc, size: layer.size, fetched: true };
      }),
      DOWNLOAD_CONCURRENCY,
    );

    await store.blobs.put(manifestBody, manifestDigest);
    await store.blobs.put(configBody, imageId);
    const repoName = repositoryName(ref);
    store.records.transaction(() => {
      for (const l of layerSizes) {
        store.records.putLayer(l.diffId, l.size);
        if (l.fetched) store.records.putLayerBlob({ blobDigest: l.desc.digest, diffId: l.diffId, mediaType: l.desc.mediaType, size: l.desc.size });
      }
      store.records.putImage({
        id: imageId,
        config: configBody.toString(),
        manifestDigest,
        manifestMediaType,
        size: layerSizes.reduce((a, l) => a + l.size, 0),
        parent: null,
      });
      store.records.addRepoDigest(repoName, top.digest, imageId);
      if (ref.tag !== undefined && !ref.digest) {
        const name = formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag });
        upToDate = existing !== undefined && store.records.getTag(name) === imageId;
        store.records.setTag(name, imageId);
      } else {
        upToDate = existing !== undefined;
      }
    });
  } finally {
    lease.release();
  }
  progress({ status: `Digest: ${top.digest}` });
  progress({ status: `Status: ${upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiarString(ref)}` });
  return { ref, image: store.get(imageId), digest: top.digest, upToDate };
}

async function fetchSmallBlob(client: RegistryClient, repo: string, desc: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of blobChunks(client, repo, desc)) chunks.push(Buffer.from(c));
  const body = Buffer.concat(chunks);
  if (sha256Of(body) !== desc.digest) {
    throw new HullError('DIGEST_MISMATCH', `digest mismatch for ${desc.digest}: the registry sent different content; nothing was stored`);
  }
  return body;
}

/**
 * The bytes of one blob, surviving dropped connections: after a transient failure the download
 * resumes from the last byte handed out (Range request), or skips what was already handed out
 * if the registry ignores ranges.
 */
export async function* blobChunks(client: RegistryClient, repo: string, desc: Descriptor, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.fetchBlob(repo, desc.digest, { offset, signal });
      let skip = offset - res.offset;
      for await (const raw of res.body) {
        let chunk: Uint8Array = raw;
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        offset += chunk.length;
        yield chunk;
      }
      if (offset < desc.size) throw new Error(`connection closed after ${offset} of ${desc.size} bytes`);
      return;
    } catch (e) {
      // Registry answers (404, 401, digest errors) are final; only transport failures are retried.
      if (isHullError(e) && e.code !== 'REGISTRY_UNREACHABLE') throw e;
      if (signal?.aborted || attempt >= BLOB_ATTEMPTS) {
        throw isHullError(e) ? e : new HullError('REGISTRY_UNREACHABLE', `download of ${desc.digest} failed after ${attempt} attempts: ${(e as Error).message}`, { cause: e });
      }
      await sleep(200 * attempt);
    }
  }
}
