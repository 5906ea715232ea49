/** Container rows. Config and state are JSON documents: their shape belongs to container/. */
import type { Db } from './db.js';

export interface ContainerRow {
  id: string;
  name: string;
  imageId: string;
  createdAt: string;
  config: string;
  state: string;
}

interface Raw {
  id: string;
  name: string;
  image_id: string;
  created_at: string;
  config: string;
  state: string;
}

const toRow = (r: Raw): ContainerRow => ({ id: r.id, name: r.name, imageId: r.image_id, createdAt: r.created_at, config: r.config, state: r.state });

export class ContainerRecords {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Insert; a taken name is a UNIQUE violation the caller turns into Docker's conflict error. */
  insert(row: ContainerRow): void {
    this.db
      .prepare('INSERT INTO containers (id, name, image_id, created_at, config, state) VALUES (@id, @name, @imageId, @createdAt, @config, @state)')
      .run(row);
  }

  get(id: string): ContainerRow | undefined {
    const r = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Raw | undefined;
    return r && toRow(r);
  }

  byName(name: string): ContainerRow | undefined {
    const r = this.db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as Raw | undefined;
    return r && toRow(r);
  }

  byIdPrefix(prefix: string): ContainerRow[] {
    return (this.db.prepare('SELECT * FROM containers WHERE substr(id, 1, ?) = ? LIMIT 2').all(prefix.length, prefix) as Raw[]).map(toRow);
  }

  list(): ContainerRow[] {
    return (this.db.prepare('SELECT * FROM containers ORDER BY created_at DESC, rowid DESC').all() as Raw[]).map(toRow);
  }

  usingImage(imageId: string): ContainerRow[] {
    return (this.db.prepare('SELECT * FROM containers WHERE image_id = ?').all(imageId) as Raw[]).map(toRow);
  }

  setState(id: string, state: string): void {
    this.db.prepare('UPDATE containers SET state = ? WHERE id = ?').run(state, id);
  }

  setConfig(id: string, config: string): void {
    this.db.prepare('UPDATE containers SET config = ? WHERE id = ?').run(config, id);
  }

  rename(id: string, name: string): void {
    this.db.prepare('UPDATE containers SET name = ? WHERE id = ?').run(name, id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }
}
