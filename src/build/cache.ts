/**
 * The build cache: cache key → image config after the step (rootfs.diff_ids, config, history).
 * An entry is only trusted when every layer it names is still stored.
 */
import { createHash } from 'node:crypto';
import type { ImageConfig } from '../image/config.js';
import { parseImageConfig } from '../image/config.js';
import type { Digest } from '../image/digest.js';
import type { ImageStore } from '../image/store.js';
import type { Db } from '../state/db.js';
import { isPidAlive } from '../util/fs.js';
import { rm } from 'node:fs/promises';

export function cacheKey(parent: string, ...parts: string[]): string {
  const h = createHash('sha256');
  h.update(parent);
  for (const p of parts) h.update(`\0${p}`);
  return h.digest('hex');
}

export class BuildCache {
  /** Layers found stored during this build (callers lease them right after the lookup). */
  private readonly present = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly images: ImageStore,
  ) {}

  async get(key: string): Promise<ImageConfig | undefined> {
    const row = this.db.prepare('SELECT config FROM build_cache WHERE key = ?').get(key) as { config: string } | undefined;
    if (!row) return undefined;
    const cfg = parseImageConfig(row.config);
    // A step's layers are its parent's plus at most one: each is checked once per build.
    for (const d of cfg.rootfs.diff_ids) {
      if (this.present.has(d)) continue;
      if (!this.images.records.getLayer(d) || !(await this.images.layers.has(d as Digest))) return undefined;
      this.present.add(d);
    }
    return cfg;
  }

  put(key: string, config: ImageConfig): void {
    this.db
      .prepare('INSERT INTO build_cache (key, config, created_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET config = excluded.config')
      .run(key, JSON.stringify(config), new Date().toISOString());
  }

  /**
   * `builder prune`: forgets every cache entry, then removes the layers no image uses and no
   * live operation holds (a build's step layers, kept only for the cache). Returns the bytes freed.
   */
  async prune(): Promise<number> {
    const trash: string[] = [];
    let reclaimed = 0;
    const records = this.images.records;
    records.transaction(() => {
      this.db.prepare('DELETE FROM build_cache').run();
      this.db.prepare('DELETE FROM build_file_digests').run();
      const live = this.images.liveDiffIds();
      for (const l of records.leases()) if (l.pid === process.pid || isPidAlive(l.pid)) live.add(l.digest);
      for (const diffId of records.listLayers()) {
        if (live.has(diffId)) continue;
        reclaimed += records.getLayer(diffId)?.size ?? 0;
        const blobs = records.blobsOfLayer(diffId);
        records.deleteLayer(diffId);
        for (const b of blobs) if (!live.has(b.blobDigest)) this.images.blobs.deleteSync(b.blobDigest as Digest);
        const t = this.images.layers.retire(diffId as Digest);
        if (t) trash.push(t);
      }
    });
    for (const t of trash) await rm(t, { recursive: true, force: true });
    return reclaimed;
  }
}
