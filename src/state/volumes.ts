/** Volume rows. Labels and options are JSON objects. */
import type { Db } from './db.js';

export interface VolumeRow {
  name: string;
  driver: string;
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
}

interface Raw {
  name: string;
  driver: string;
  created_at: string;
  labels: string;
  options: string;
}

const toRow = (r: Raw): VolumeRow => ({
  name: r.name,
  driver: r.driver,
  createdAt: r.created_at,
  labels: JSON.parse(r.labels) as Record<string, string>,
  options: JSON.parse(r.options) as Record<string, string>,
});

export class VolumeRecords {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Insert unless the name exists; returns the stored row either way (two creators get one volume). */
  insertOrGet(row: VolumeRow): { row: VolumeRow; created: boolean } {
    return this.transaction(() => {
      const info = this.db
        .prepare('INSERT OR IGNORE INTO volumes (name, driver, created_at, labels, options) VALUES (?, ?, ?, ?, ?)')
        .run(row.name, row.driver, row.createdAt, JSON.stringify(row.labels), JSON.stringify(row.options));
      return { row: this.get(row.name)!, created: info.changes === 1 };
    });
  }

  get(name: string): VolumeRow | undefined {
    const r = this.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Raw | undefined;
    return r && toRow(r);
  }

  list(): VolumeRow[] {
    return (this.db.prepare('SELECT * FROM volumes ORDER BY name').all() as Raw[]).map(toRow);
  }

  delete(name: string): void {
    this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
    this.db.prepare('DELETE FROM volume_holders WHERE volume = ?').run(name);
  }

  addHolder(volume: string, containerId: string): void {
    this.db.prepare('INSERT OR IGNORE INTO volume_holders (volume, container_id) VALUES (?, ?)').run(volume, containerId);
  }

  /** Drop every hold of a container; returns the volumes it held. */
  dropHolder(containerId: string): string[] {
    const rows = this.db.prepare('SELECT volume FROM volume_holders WHERE container_id = ?').all(containerId) as { volume: string }[];
    this.db.prepare('DELETE FROM volume_holders WHERE container_id = ?').run(containerId);
    return rows.map((r) => r.volume);
  }

  holderCount(volume: string): number {
    return (this.db.prepare('SELECT count(*) AS n FROM volume_holders WHERE volume = ?').get(volume) as { n: number }).n;
  }
}
