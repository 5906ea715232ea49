/**
 * Image and layer metadata. Every multi-row change runs in one transaction so a second
 * `hull` process never sees half an image.
 */
import type { Db } from './db.js';

export interface ImageRow {
  id: string;
  config: string;
  manifestDigest: string | null;
  manifestMediaType: string | null;
  size: number;
  createdAt: string;
  parent: string | null;
}

export interface LayerBlobRow {
  blobDigest: string;
  diffId: string;
  mediaType: string;
  size: number;
}

interface RawImage {
  id: string;
  config: string;
  manifest_digest: string | null;
  manifest_media_type: string | null;
  size: number;
  created_at: string;
  parent: string | null;
}

function toImage(r: RawImage): ImageRow {
  return {
    id: r.id,
    config: r.config,
    manifestDigest: r.manifest_digest,
    manifestMediaType: r.manifest_media_type,
    size: r.size,
    createdAt: r.created_at,
    parent: r.parent,
  };
}

export class ImageRecords {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Insert or refresh an image. An existing image keeps its created_at (Docker's "Created" is the config's anyway). */
  putImage(img: Omit<ImageRow, 'createdAt'> & { createdAt?: string }): void {
    this.db
      .prepare(
        `INSERT INTO images (id, config, manifest_digest, manifest_media_type, size, created_at, parent)
         VALUES (@id, @config, @manifestDigest, @manifestMediaType, @size, @createdAt, @parent)
         ON CONFLICT(id) DO UPDATE SET
           manifest_digest = COALESCE(excluded.manifest_digest, images.manifest_digest),
           manifest_media_type = COALESCE(excluded.manifest_media_type, images.manifest_media_type),
           size = excluded.size,
           parent = COALESCE(excluded.parent, images.parent)`,
      )
      .run({ ...img, createdAt: img.createdAt ?? new Date().toISOString() });
  }

  getImage(id: string): ImageRow | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as RawImage | undefined;
    return r && toImage(r);
  }

  listImages(): ImageRow[] {
    return (this.db.prepare('SELECT * FROM images ORDER BY created_at DESC').all() as RawImage[]).map(toImage);
  }

  /** Image ids starting with `prefix` (hex, without sha256:). */
  findByIdPrefix(prefix: string): string[] {
    const rows = this.db
      .prepare("SELECT id FROM images WHERE substr(id, 8, ?) = ? LIMIT 2")
      .all(prefix.length, prefix) as { id: string }[];
    return rows.map((r) => r.id);
  }

  deleteImage(id: string): void {
    this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
  }

  /** Point `name` (canonical repo:tag) at `imageId`; returns the image it pointed at before, if another. */
  setTag(name: string, imageId: string): string | undefined {
    const prev = this.db.prepare('SELECT image_id FROM image_tags WHERE name = ?').get(name) as { image_id: string } | undefined;
    this.db
      .prepare('INSERT INTO image_tags (name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id')
      .run(name, imageId);
    return prev && prev.image_id !== imageId ? prev.image_id : undefined;
  }

  getTag(name: string): string | undefined {
    const r = this.db.prepare('SELECT image_id FROM image_tags WHERE name = ?').get(name) as { image_id: string } | undefined;
    return r?.image_id;
  }

  removeTag(name: string): boolean {
    return this.db.prepare('DELETE FROM image_tags WHERE name = ?').run(name).changes > 0;
  }

  tagsOf(imageId: string): string[] {
    return (this.db.prepare('SELECT name FROM image_tags WHERE image_id = ? ORDER BY name').all(imageId) as { name: string }[]).map((r) => r.name);
  }

  allTags(): { name: string; imageId: string }[] {
    return (this.db.prepare('SELECT name, image_id FROM image_tags').all() as { name: string; image_id: string }[]).map((r) => ({
      name: r.name,
      imageId: r.image_id,
    }));
  }

  addRepoDigest(repository: string, digest: string, imageId: string): void {
    this.db
      .prepare(
        `INSERT INTO image_digests (repository, digest, image_id) VALUES (?, ?, ?)
         ON CONFLICT(repository, digest) DO UPDATE SET image_id = excluded.image_id`,
      )
      .run(repository, digest, imageId);
  }

  getByRepoDigest(repository: string, digest: string): string | undefined {
    const r = this.db.prepare('SELECT image_id FROM image_digests WHERE repository = ? AND digest = ?').get(repository, digest) as
      | { image_id: string }
      | undefined;
    return r?.image_id;
  }

  repoDigestsOf(imageId: string): { repository: string; digest: string }[] {
    return this.db
      .prepare('SELECT repository, digest FROM image_digests WHERE image_id = ? ORDER BY repository')
      .all(imageId) as { repository: string; digest: string }[];
  }

  removeRepoDigestsOf(imageId: string, repository: string): void {
    this.db.prepare('DELETE FROM image_digests WHERE image_id = ? AND repository = ?').run(imageId, repository);
  }

  putLayer(diffId: string, size: number): void {
    this.db.prepare('INSERT INTO layers (diff_id, size) VALUES (?, ?) ON CONFLICT(diff_id) DO NOTHING').run(diffId, size);
  }

  getLayer(diffId: string): { diffId: string; size: number } | undefined {
    const r = this.db.prepare('SELECT diff_id, size FROM layers WHERE diff_id = ?').get(diffId) as { diff_id: string; size: number } | undefined;
    return r && { diffId: r.diff_id, size: r.size };
  }

  listLayers(): string[] {
    return (this.db.prepare('SELECT diff_id FROM layers').all() as { diff_id: string }[]).map((r) => r.diff_id);
  }

  deleteLayer(diffId: string): void {
    this.db.prepare('DELETE FROM layers WHERE diff_id = ?').run(diffId);
    this.db.prepare('DELETE FROM layer_blobs WHERE diff_id = ?').run(diffId);
  }

  putLayerBlob(b: LayerBlobRow): void {
    this.db
      .prepare(
        `INSERT INTO layer_blobs (blob_digest, diff_id, media_type, size) VALUES (@blobDigest, @diffId, @mediaType, @size)
         ON CONFLICT(blob_digest) DO NOTHING`,
      )
      .run(b);
  }

  getLayerBlob(blobDigest: string): LayerBlobRow | undefined {
    const r = this.db.prepare('SELECT * FROM layer_blobs WHERE blob_digest = ?').get(blobDigest) as
      | { blob_digest: string; diff_id: string; media_type: string; size: number }
      | undefined;
    return r && { blobDigest: r.blob_digest, diffId: r.diff_id, mediaType: r.media_type, size: r.size };
  }

  blobsOfLayer(diffId: string): LayerBlobRow[] {
    return (
      this.db.prepare('SELECT * FROM layer_blobs WHERE diff_id = ?').all(diffId) as {
        blob_digest: string;
        diff_id: string;
        media_type: string;
        size: number;
      }[]
    ).map((r) => ({ blobDigest: r.blob_digest, diffId: r.diff_id, mediaType: r.media_type, size: r.size }));
  }

  addLease(leaseId: string, pid: number, digests: string[]): void {
    const stmt = this.db.prepare('INSERT OR IGNORE INTO leases (lease_id, pid, digest) VALUES (?, ?, ?)');
    for (const d of digests) stmt.run(leaseId, pid, d);
  }

  releaseLease(leaseId: string): void {
    this.db.prepare('DELETE FROM leases WHERE lease_id = ?').run(leaseId);
  }

  leases(): { leaseId: string; pid: number; digest: string }[] {
    return (this.db.prepare('SELECT lease_id, pid, digest FROM leases').all() as { lease_id: string; pid: number; digest: string }[]).map((r) => ({
      leaseId: r.lease_id,
      pid: r.pid,
      digest: r.digest,
    }));
  }
}
