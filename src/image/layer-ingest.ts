/**
 * One pass over a layer blob does everything: the compressed bytes are hashed and written to
 * the blob store, and at the same time decompressed, hashed again (the diff id) and unpacked.
 * Nothing becomes visible until both digests check out: the blob by rename, the layer
 * directory by rename, the metadata by the caller's transaction.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
  let failure: Error | undefined;
  const fail = (e: unknown): void => {
    failure ??= e instanceof Error ? e : new Error(String(e));
  };
  const start = (first: Uint8Array): void => {
    const kind = detectCompression(Buffer.from(first.buffer, first.byteOffset, first.byteLength));
    // pipeline() destroys every stage on any error, so a broken gzip stream ends the unpack too.
    const stages = kind === 'none' ? [input, hashTap] : [input, decompressStream(kind), hashTap];
    pipeline(stages).catch(fail);
    const done = unpackLayer(hashTap, pending.dir).catch((e: unknown) => {
      fail(e);
      throw e;
    });
    // Awaited later; until then a rejection must not count as unhandled.
    done.catch(() => undefined);
    unpacked = done;
  };
  let writing: Promise<void> = Promise.resolve();
  try {
    let total = 0;
    for await (const chunk of source) {
      if (chunk.length === 0) continue;
      if (!unpacked) start(chunk);
      // The disk write of this chunk overlaps with decompressing it; writes stay in order.
      await writing;
      writing = writer.write(chunk);
      writing.catch(() => undefined);
      total += chunk.length;
      opts.onBytes?.(total);
      // After an unpack failure, reading goes on only to learn whether the download was corrupt.
      if (failure === undefined && !input.write(chunk)) await Promise.race([once(input, 'drain'), unpacked!.catch(() => undefined)]);
    }
    await writing;
    if (!unpacked) throw new HullError('ARCHIVE_INVALID', 'layer blob is empty');
    input.end();
    let size = 0;
    try {
      ({ size } = await unpacked);
    } catch (e) {
      fail(e);
    }
    // A blob that does not match its digest explains any unpack failure: report that first.
    writer.verify();
    if (failure !== undefined) throw failure;
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
    await writing.catch(() => undefined);
    await writer.abort();
    await pending.abort();
    throw e;
  }
}
