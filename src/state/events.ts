/** The events table: append, trim, read after a sequence number or within a time range. */
import type { Db } from './db.js';

export interface EventRow {
  seq: number;
  timeNano: bigint;
  type: string;
  action: string;
  actorId: string;
  attributes: Record<string, string>;
}

interface Raw {
  seq: number;
  time_nano: bigint;
  type: string;
  action: string;
  actor_id: string;
  attributes: string;
}

/** Docker's daemon keeps the last 256 events for `since`; we keep more, the table is cheap. */
const KEEP = 1024;

const toRow = (r: Raw): EventRow => ({
  seq: Number(r.seq),
  timeNano: BigInt(r.time_nano),
  type: r.type,
  action: r.action,
  actorId: r.actor_id,
  attributes: JSON.parse(r.attributes) as Record<string, string>,
});

export class EventRecords {
  constructor(private readonly db: Db) {}

  append(type: string, action: string, actorId: string, attributes: Record<string, string>, timeNano = nowNano()): void {
    const info = this.db
      .prepare('INSERT INTO events (time_nano, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)')
      .run(timeNano, type, action, actorId, JSON.stringify(attributes));
    this.db.prepare('DELETE FROM events WHERE seq <= ?').run(Number(info.lastInsertRowid) - KEEP);
  }

  /** The newest sequence number (0 when there are no events). */
  lastSeq(): number {
    const r = this.db.prepare('SELECT MAX(seq) AS s FROM events').get() as { s: number | null };
    return r.s === null ? 0 : Number(r.s);
  }

  /** Events after `seq`, oldest first, at most `limit`. */
  after(seq: number, limit = 256): EventRow[] {
    const rows = this.db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').safeIntegers(true).all(seq, limit) as Raw[];
    return rows.map(toRow);
  }

  /** The newest event of `actorId` with `action`, if still kept. */
  lastOf(actorId: string, action: string): EventRow | undefined {
    const r = this.db.prepare('SELECT * FROM events WHERE actor_id = ? AND action = ? ORDER BY seq DESC LIMIT 1').safeIntegers(true).get(actorId, action) as Raw | undefined;
    return r && toRow(r);
  }

  /** Events with `since <= time <= until` (nanoseconds), oldest first. */
  between(sinceNano: bigint, untilNano: bigint): EventRow[] {
    const rows = this.db.prepare('SELECT * FROM events WHERE time_nano >= ? AND time_nano <= ? ORDER BY seq').safeIntegers(true).all(sinceNano, untilNano) as Raw[];
    return rows.map(toRow);
  }
}

export function nowNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}
