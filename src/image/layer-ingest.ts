/**
 * One pass over a layer blob does everything: the compressed bytes are hashed and written to
 * the blob store, and at the same time decompressed, hashed again (the diff id) and unpacked.
 * Nothing becomes visible until both digests check out: the blob by rename, the layer
 * directory by rename, the metadata by the caller's transaction.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { HullError } from '../util/errors.js';
import type { BlobWriter } from './blob-store.js';
import { decompressStream, detectCompression } from './compression.js';
import type { Digest } from './digest.js';
import { unpackLayer } from './layer-unpack.js';
import type { PendingLayer } from './layer-store.js';
import type { ImageStore } from './store.js';

export interface IngestedLayer {
  blobDigest: Digest;
  blobSize: number;
  diffId: Digest;
  /** Bytes of the unpacked tree (sum of file sizes), Docker's layer size. */
  size: number;
  /** False when another process committed the same layer first (ours was discarded). */
  committed: boolean;
}

export interface IngestOptions {
  expectedBlob?: Digest;
  expectedSize?: number;
  expectedDiffId?: Digest;
  onBytes?: (compressedBytesSoFar: number) => void;
}

/** Consume `source` (the blob's bytes) into the store; see the module comment. */
export async function ingestLayer(store: ImageStore, source: AsyncIterable<Uint8Array>, opts: IngestOptions = {}): Promise<IngestedLayer> {
  const writer: BlobWriter = await store.blobs.writer(opts.expectedBlob, opts.expectedSize);
  const pending: PendingLayer = await store.layers.begin();
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  const diffHash = createHash('sha256');
  const hashTap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      diffHash.update(chunk);
      cb(null, chunk);
    },
  });
  let unpacked: Promise<{ size: number }> | undefined;
  let failure: unknown;
  const start = (first: Uint8Array): void => {
    const kind = detectCompression(Buffer.from(first.buffer, first.byteOffset, first.byteLength));
    const tar: Readable = kind === 'none' ? input.pipe(hashTap) : input.pipe(decompressStream(kind)).pipe(hashTap);
    // Errors inside the decompressor must surface here, not as unhandled stream errors.
    const fail = (e: unknown): void => {
      failure ??= e;
      input.destroy();
    };
    if (kind !== 'none') input.on('error', fail);
    const done = unpackLayer(tar, pending.dir).catch((e: unknown) => {
      fail(e);
      throw e;
    });
    // Awaited later; until then a rejection must not count as unhandled.
    done.catch(() => undefined);
    unpacked = done;
  };
  try {
    let total = 0;
    for await (const chunk of source) {
      if (failure) throw failure;
      if (chunk.length === 0) continue;
      if (!unpacked) start(chunk);
      await writer.write(chunk);
      total += chunk.length;
      opts.onBytes?.(total);
      if (!input.write(chunk)) await Promise.race([once(input, 'drain'), unpacked!]);
    }
    if (!unpacked) throw new HullError('ARCHIVE_INVALID', 'layer blob is empty');
    input.end();
    const { size } = await unpacked;
    if (failure) throw failure;
    const diffId = `sha256:${diffHash.digest('hex')}` as Digest;
    if (opts.expectedDiffId && diffId !== opts.expectedDiffId) {
      throw new HullError(
        'DIGEST_MISMATCH',
        `layer content does not match the image config: expected diff id ${opts.expectedDiffId}, got ${diffId}; nothing was stored`,
      );
    }
    // The blob is kept (as containerd does) so push and save need no recompression.
    const blobDigest = await writer.commit();
    const committed = await pending.commit(diffId);
    return { blobDigest, blobSize: total, diffId, size, committed };
  } catch (e) {
    input.destroy();
    await writer.abort();
    await pending.abort();
    throw e;
  }
}
