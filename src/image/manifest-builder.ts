/**
 * Manifests for images hull made or received without one it can push as is (load, import,
 * commit, build, or a pull whose blobs were shared with another image). Docker schema2 when
 * every layer is gzip (what Docker itself writes), OCI when a layer is zstd (schema2 has no
 * zstd type).
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { HullError } from '../util/errors.js';
import { compressGzip } from './compression.js';
import type { Digest } from './digest.js';
import {
  MEDIA_TYPE_DOCKER_CONFIG,
  MEDIA_TYPE_DOCKER_LAYER,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_OCI_CONFIG,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_OCI_LAYER_ZSTD,
  MEDIA_TYPE_OCI_MANIFEST,
  type Descriptor,
  type ImageManifest,
} from './media-types.js';
import type { ImageStore } from './store.js';

const GZIP_TYPES = new Set([MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP]);

/**
 * A pushable blob for a layer: a gzip blob if one is stored, else a zstd one, else the stored
 * uncompressed tar gzipped now (and remembered, so this happens once per layer).
 */
export async function layerBlobFor(store: ImageStore, diffId: Digest): Promise<Descriptor> {
  const blobs = store.records.blobsOfLayer(diffId);
  const present = [];
  for (const b of blobs) if (await store.blobs.has(b.blobDigest as Digest)) present.push(b);
  const pick = present.find((b) => GZIP_TYPES.has(b.mediaType)) ?? present.find((b) => b.mediaType === MEDIA_TYPE_OCI_LAYER_ZSTD) ?? present[0];
  if (!pick) {
    throw new HullError('NOT_FOUND', `layer ${diffId} has no stored blob to push; pull or load the image again`);
  }
  if (GZIP_TYPES.has(pick.mediaType) || pick.mediaType === MEDIA_TYPE_OCI_LAYER_ZSTD) {
    return { mediaType: pick.mediaType, digest: pick.blobDigest as Digest, size: pick.size };
  }
  const writer = await store.blobs.writer();
  try {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        writer.write(chunk).then(() => cb(), cb);
      },
    });
    await pipeline(createReadStream(store.blobs.path(pick.blobDigest as Digest)), compressGzip(), sink);
    const digest = await writer.commit();
    const size = await store.blobs.size(digest);
    store.records.putLayerBlob({ blobDigest: digest, diffId, mediaType: MEDIA_TYPE_DOCKER_LAYER, size });
    return { mediaType: MEDIA_TYPE_DOCKER_LAYER, digest, size };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

export async function buildManifest(
  store: ImageStore,
  configDigest: Digest,
  layers: Descriptor[],
): Promise<{ manifest: ImageManifest; body: Buffer; mediaType: string; digest: Digest }> {
  const oci = layers.some((l) => l.mediaType === MEDIA_TYPE_OCI_LAYER_ZSTD);
  const mediaType = oci ? MEDIA_TYPE_OCI_MANIFEST : MEDIA_TYPE_DOCKER_MANIFEST;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: oci ? MEDIA_TYPE_OCI_CONFIG : MEDIA_TYPE_DOCKER_CONFIG, digest: configDigest, size: await store.blobs.size(configDigest) },
    layers: layers.map((l) => ({
      mediaType: oci ? (l.mediaType === MEDIA_TYPE_DOCKER_LAYER ? MEDIA_TYPE_OCI_LAYER_GZIP : l.mediaType) : MEDIA_TYPE_DOCKER_LAYER,
      digest: l.digest,
      size: l.size,
    })),
  };
  const body = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = await store.blobs.put(body);
  return { manifest, body, mediaType, digest };
}

