/**
 * The image store: blobs, unpacked layers and their metadata, and the lookups Docker users
 * expect (name[:tag], name@digest, full id, id prefix).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../state/db.js';
import { ImageRecords, type ImageRow } from '../state/images.js';
import { HullError } from '../util/errors.js';
import { isPidAlive } from '../util/fs.js';
import { BlobStore } from './blob-store.js';
import { parseImageConfig, type ImageConfig } from './config.js';
import { asImageId, type Digest, type ImageId } from './digest.js';
import { LayerStore } from './layer-store.js';
import {
  familiarString,
  formatReference,
  parseNormalizedTagged,
  parseReference,
  repositoryName,
  type Reference,
} from './reference.js';

export interface StoredImage {
  id: ImageId;
  row: ImageRow;
  config: ImageConfig;
  /** Canonical tags, e.g. docker.io/library/busybox:latest. */
  tags: string[];
  /** Canonical repository@digest strings. */
  repoDigests: string[];
}

export class ImageStore {
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
  readonly records: ImageRecords;

  constructor(
    readonly root: string,
    db: Db,
  ) {
    this.blobs = new BlobStore(root);
    this.layers = new LayerStore(root);
    this.records = new ImageRecords(db);
  }

  async init(): Promise<void> {
    await this.blobs.init();
    await this.layers.init();
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  load(id: string): StoredImage | undefined {
    const row = this.records.getImage(id);
    if (!row) return undefined;
    return {
      id: asImageId(row.id as Digest),
      row,
      config: parseImageConfig(row.config),
      tags: this.records.tagsOf(row.id),
      repoDigests: this.records.repoDigestsOf(row.id).map((d) => `${d.repository}@${d.digest}`),
    };
  }

  list(): StoredImage[] {
    return this.records.listImages().map((row) => this.load(row.id)!);
  }

  /** Find an image by id, id prefix, name[:tag] or name@digest; undefined when absent. */
  find(input: string): StoredImage | undefined {
    const hex = input.startsWith('sha256:') ? input.slice(7) : input;
    if (/^[a-f0-9]{64}$/.test(hex)) return this.load(`sha256:${hex}`);
    let ref: Reference | undefined;
    try {
      ref = parseReference(input);
    } catch (e) {
      if (!input.startsWith('sha256:')) {
        if (!/^[a-f0-9]+$/.test(hex)) throw e;
      }
    }
    if (ref?.digest) {
      const id = this.records.getByRepoDigest(repositoryName(ref), ref.digest);
      if (id) return this.load(id);
    } else if (ref) {
      const id = this.records.getTag(formatReference({ ...ref, tag: ref.tag ?? 'latest' }));
      if (id) return this.load(id);
    }
    // Docker falls back to an id prefix for anything that looks like hex.
    if (/^[a-f0-9]+$/.test(hex) && (ref?.tag === undefined || input.startsWith('sha256:'))) {
      const ids = this.records.findByIdPrefix(hex);
      if (ids.length > 1) throw new HullError('INVALID_ARGUMENT', `multiple IDs found with provided prefix: ${hex}`);
      if (ids.length === 1) return this.load(ids[0]!);
    }
    return undefined;
  }

  /** Like find, but a missing image is Docker's "No such image" error. */
  get(input: string): StoredImage {
    const img = this.find(input);
    if (!img) throw new HullError('IMAGE_NOT_FOUND', `No such image: ${input}`);
    return img;
  }

  /** Diff ids used by any stored image: what must never be garbage-collected. */
  liveDiffIds(): Set<string> {
    const live = new Set<string>();
    for (const row of this.records.listImages()) {
      for (const d of parseImageConfig(row.config).rootfs.diff_ids) live.add(d);
    }
    return live;
  }

  /**
   * Keep `digests` (diff ids, manifest and config digests) out of garbage collection until
   * released: an operation that will record an image using them (pull, load, import) takes the
   * lease before it decides what is already present. A lease dies with its process.
   */
  lease(digests: string[]): { release(): void } {
    const leaseId = `${process.pid}-${randomBytes(6).toString('hex')}`;
    this.records.transaction(() => this.records.addLease(leaseId, process.pid, digests));
    return { release: () => this.records.releaseLease(leaseId) };
  }

  /** Digests under a live lease; leases of dead processes are dropped on the way. */
  private leasedDigests(): Set<string> {
    const leased = new Set<string>();
    for (const l of this.records.leases()) {
      if (l.pid === process.pid || isPidAlive(l.pid)) leased.add(l.digest);
      else this.records.releaseLease(l.leaseId);
    }
    return leased;
  }

  /**
   * After images were deleted: remove their layers, layer blobs, manifest and config unless a
   * remaining image or a live lease still uses them. Only what the deleted images owned is
   * considered. Deciding, forgetting the rows and moving layer directories out of place happen
   * in one transaction, so a concurrent pull either sees the layer gone or holds a lease on it.
   */
  async collectGarbage(removed: ImageRow[]): Promise<{ layers: string[]; reclaimed: number }> {
    const removedLayers: string[] = [];
    const trash: string[] = [];
    const doomedBlobs = new Set<string>();
    let reclaimed = 0;
    this.records.transaction(() => {
      const live = this.liveDiffIds();
      const liveBlobs = this.leasedDigests();
      for (const d of liveBlobs) live.add(d);
      for (const row of this.records.listImages()) {
        liveBlobs.add(row.id);
        if (row.manifestDigest) liveBlobs.add(row.manifestDigest);
      }
      for (const img of removed) {
        doomedBlobs.add(img.id);
        if (img.manifestDigest) doomedBlobs.add(img.manifestDigest);
        for (const diffId of parseImageConfig(img.config).rootfs.diff_ids) {
          if (live.has(diffId) || removedLayers.includes(diffId)) continue;
          for (const b of this.records.blobsOfLayer(diffId)) doomedBlobs.add(b.blobDigest);
          reclaimed += this.records.getLayer(diffId)?.size ?? 0;
          this.records.deleteLayer(diffId);
          const t = this.layers.retire(diffId as Digest);
          if (t) trash.push(t);
          removedLayers.push(diffId);
        }
      }
      for (const b of liveBlobs) doomedBlobs.delete(b);
      for (const diffId of live) for (const b of this.records.blobsOfLayer(diffId)) doomedBlobs.delete(b.blobDigest);
      // Unlinking is quick; doing it under the lock keeps a concurrent lease-then-write safe.
      for (const blob of doomedBlobs) this.blobs.deleteSync(blob as Digest);
    });
    for (const t of trash) await rm(t, { recursive: true, force: true });
    return { layers: removedLayers, reclaimed };
  }
}

/** The reference as the user typed it, normalised with a default tag: what pull/push/tag take. */
export function normalizeTagged(input: string): Reference {
  return parseNormalizedTagged(input);
}

export { familiarString };
