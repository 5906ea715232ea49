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

export function cacheKey(parent: string, ...parts: string[]): string {
  const h = createHash('sha256');
  h.update(parent);
  for (const p of parts) h.update(`\0${p}`);
  return h.digest('hex');
}

export class BuildCache {
  constructor(
    private readonly db: Db,
    private readonly images: ImageStore,
  ) {}

  async get(key: string): Promise<ImageConfig | undefined> {
    const row = this.db.prepare('SELECT config FROM build_cache WHERE key = ?').get(key) as { config: string } | undefined;
    if (!row) return undefined;
    const cfg = parseImageConfig(row.config);
    for (const d of cfg.rootfs.diff_ids) {
      if (!this.images.records.getLayer(d) || !(await this.images.layers.has(d as Digest))) return undefined;
    }
    return cfg;
  }

  put(key: string, config: ImageConfig): void {
    this.db
      .prepare('INSERT INTO build_cache (key, config, created_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET config = excluded.config')
      .run(key, JSON.stringify(config), new Date().toISOString());
  }
}
