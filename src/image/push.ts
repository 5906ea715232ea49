/**
 * `hull push`: upload an image's blobs and manifest. Blobs the registry already has are skipped
 * (HEAD), blobs known to live in another repository of the same registry are mounted instead of
 * uploaded, and the manifest the image was pulled with is pushed byte for byte when all its blobs
 * are at hand, so digests survive a pull/push round trip (as skopeo and Docker keep them).
 */
import { createReadStream } from 'node:fs';
import { runLimited } from '../util/concurrency.js';
import { HullError } from '../util/errors.js';
import { parseImageConfig } from './config.js';
import { shortId, type Digest } from './digest.js';
import { buildManifest, layerBlobFor } from './manifest-builder.js';
import { isForeignLayerMediaType, type Descriptor, type ImageManifest } from './media-types.js';
import type { ProgressSink } from './progress.js';
import { familiarName, formatReference, parseNormalizedTagged, repositoryName, type Reference } from './reference.js';
import { clientFor } from './registry/connect.js';
import type { ImageStore, StoredImage } from './store.js';

const UPLOAD_CONCURRENCY = 3;

export interface PushResult {
  ref: Reference;
  digest: Digest;
  size: number;
}

export async function pushImage(store: ImageStore, input: string, progress: ProgressSink): Promise<PushResult> {
  const ref = parseNormalizedTagged(input);
  if (ref.digest) throw new HullError('INVALID_ARGUMENT', 'cannot push a digest reference');
  const local = formatReference(ref);
  const image = store.find(local);
  if (!image) throw new HullError('IMAGE_NOT_FOUND', `An image does not exist locally with the tag: ${familiarName(ref)}`);
  progress({ status: `The push refers to repository [${familiarName(ref)}]` });

  const { manifest, body, mediaType } = await manifestForPush(store, image);
  const client = await clientFor(ref.domain);
  const repo = ref.path;
  const mountSources = mountCandidates(store, ref.domain, repo);
  const noSources: string[] = [];

  const blobs: Descriptor[] = [...manifest.layers.filter((l) => !isForeignLayerMediaType(l.mediaType)), manifest.config];
  await runLimited(
    blobs.map((desc) => async () => {
      const isConfig = desc === manifest.config;
      const id = shortId(desc.digest);
      if (!isConfig) progress({ id, status: 'Preparing' });
      if (await client.blobExists(repo, desc.digest)) {
        if (!isConfig) progress({ id, status: 'Layer already exists' });
        return;
      }
      for (const from of mountSources.get(desc.digest) ?? noSources) {
        if (await client.mountBlob(repo, desc.digest, from)) {
          if (!isConfig) progress({ id, status: `Mounted from ${from.replace(/^library\//, '')}` });
          return;
        }
      }
      if (!isConfig) progress({ id, status: 'Pushing', current: 0, total: desc.size });
      await client.uploadBlob(repo, desc.digest, desc.size, () => createReadStream(store.blobs.path(desc.digest)));
      if (!isConfig) progress({ id, status: 'Pushed' });
    }),
    UPLOAD_CONCURRENCY,
  );
  const digest = await client.putManifest(repo, ref.tag ?? 'latest', mediaType, body);
  store.records.addRepoDigest(repositoryName(ref), digest, image.id);
  progress({ status: `${ref.tag}: digest: ${digest} size: ${body.length}` });
  return { ref, digest, size: body.length };
}

/** Reuse the stored manifest when every blob it names is here; otherwise build one from what is. */
async function manifestForPush(store: ImageStore, image: StoredImage): Promise<{ manifest: ImageManifest; body: Buffer; mediaType: string }> {
  const { manifestDigest, manifestMediaType } = image.row;
  if (manifestDigest && manifestMediaType && (await store.blobs.has(manifestDigest as Digest))) {
    const body = await store.blobs.readBuffer(manifestDigest as Digest);
    const manifest = JSON.parse(body.toString()) as ImageManifest;
    const blobsHere = await Promise.all(
      manifest.layers.map(async (l) => isForeignLayerMediaType(l.mediaType) || (await store.blobs.has(l.digest))),
    );
    if (blobsHere.every(Boolean) && (await store.blobs.has(manifest.config.digest))) {
      return { manifest, body, mediaType: manifestMediaType };
    }
  }
  const config = parseImageConfig(image.row.config);
  const layers: Descriptor[] = [];
  for (const diffId of config.rootfs.diff_ids) layers.push(await layerBlobFor(store, diffId as Digest));
  return buildManifest(store, image.id, layers);
}

/**
 * For each blob, the other repositories on the same registry it is known to live in (from the
 * repo digests of local images that contain it): candidates for a cross-repository mount.
 */
function mountCandidates(store: ImageStore, domain: string, repo: string): Map<string, string[]> {
  const sources = new Map<string, string[]>();
  const add = (blob: string, path: string): void => {
    const list = sources.get(blob) ?? [];
    if (!list.includes(path)) list.push(path);
    sources.set(blob, list);
  };
  for (const img of store.list()) {
    const repos = img.repoDigests
      .map((rd) => rd.slice(0, rd.indexOf('@')))
      .filter((name) => name.startsWith(`${domain}/`))
      .map((name) => name.slice(domain.length + 1))
      .filter((path) => path !== repo);
    if (repos.length === 0) continue;
    for (const path of repos) {
      add(img.id, path);
      for (const diffId of img.config.rootfs.diff_ids) for (const b of store.records.blobsOfLayer(diffId)) add(b.blobDigest, path);
    }
  }
  return sources;
}
