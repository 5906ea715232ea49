/**
 * `hull import`: a root filesystem tarball (plain, gzip or zstd) becomes the single layer of a
 * new image, as `docker import` does: host platform unless told otherwise, `created` now, one
 * history entry, and the `--change` instructions applied to an empty config.
 */
import type { Readable } from 'node:stream';
import { HullError } from '../../util/errors.js';
import { detectCompression } from '../compression.js';
import type { ContainerConfig, ImageConfig } from '../config.js';
import type { ImageId } from '../digest.js';
import { ingestLayer } from '../layer-ingest.js';
import type { Platform } from '../media-types.js';
import { hostPlatform } from '../platform.js';
import { formatReference, parseNormalizedTagged } from '../reference.js';
import type { ImageStore } from '../store.js';
import { applyChanges } from './changes.js';
import { layerMediaType } from './layer-media-type.js';

export interface ImportOptions {
  /** REPOSITORY[:TAG] to tag the new image with. */
  ref?: string;
  /** Dockerfile instructions (`--change`), see changes.ts. */
  changes?: string[];
  /** `--message`: replaces the default history comment. */
  message?: string;
  /** Where the tarball came from (`-` for stdin, a path or URL), for the default comment. */
  source?: string;
  platform?: Platform;
}

/** Import `input` and return the new image's id. */
export async function importRootfs(store: ImageStore, input: Readable, opts: ImportOptions = {}): Promise<ImageId> {
  // Everything that can be refused is refused before the tarball is read.
  const ref = opts.ref === undefined ? undefined : parseNormalizedTagged(opts.ref);
  if (ref?.digest !== undefined) throw new HullError('INVALID_ARGUMENT', 'cannot import digest reference');
  const containerConfig: ContainerConfig = applyChanges({}, opts.changes ?? []);
  const platform = opts.platform ?? hostPlatform();

  let head: Buffer | undefined;
  async function* sniffed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of input) {
      const buf = chunk as Buffer;
      if (head === undefined && buf.length > 0) head = buf;
      yield buf;
    }
  }
  const layer = await ingestLayer(store, sniffed());
  const mediaType = layerMediaType(detectCompression(head ?? Buffer.alloc(0)));

  const created = new Date().toISOString();
  const comment = opts.message || `Imported from ${opts.source ?? '-'}`;
  const config: ImageConfig = {
    architecture: platform.architecture,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    os: platform.os,
    created,
    comment,
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    // Docker's history entry for an import has no created_by.
    history: [{ created, comment }],
  };
  const configBody = Buffer.from(JSON.stringify(config));
  const id = (await store.blobs.put(configBody)) as ImageId;
  store.records.transaction(() => {
    store.records.putLayer(layer.diffId, layer.size);
    store.records.putLayerBlob({ blobDigest: layer.blobDigest, diffId: layer.diffId, mediaType, size: layer.blobSize });
    store.records.putImage({ id, config: configBody.toString(), manifestDigest: null, manifestMediaType: null, size: layer.size, parent: null });
    if (ref) store.records.setTag(formatReference(ref), id);
  });
  return id;
}
