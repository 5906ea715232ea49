import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { sleepSync } from '../util/concurrency.js';
import { HullError } from '../util/errors.js';
import { MIGRATIONS } from './schema.js';

export type Db = Database.Database;

/**
 * Open (and migrate) the metadata database under `root`. WAL lets readers run while one
 * writer commits; busy_timeout makes a second `hull` process wait for the lock instead of
 * failing, so concurrent CLI calls serialise their writes safely. `existing`: fail rather than
 * create the root or its database (the monitor's exit command).
 */
export function openDb(root: string, opts: { existing?: boolean } = {}): Db {
  if (!opts.existing) mkdirSync(root, { recursive: true, mode: 0o711 });
  const db = new Database(join(root, 'hull.db'), { fileMustExist: opts.existing === true });
  db.pragma('busy_timeout = 30000');
  if (!isWalFile(join(root, 'hull.db'))) useWal(db);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  try {
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  cacheStatements(db);
  return db;
}

/** WAL is persistent: the header's read/write versions (bytes 18, 19) are 2 once it is set. */
function isWalFile(path: string): boolean {
  const header = Buffer.alloc(20);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    return readSync(fd, header, 0, 20, 0) === 20 && header[18] === 2 && header[19] === 2;
  } finally {
    closeSync(fd);
  }
}

/**
 * Switch a new database to WAL. SQLite answers this pragma with SQLITE_BUSY without calling the
 * busy handler while another connection holds the file (two `hull` processes opening a fresh
 * root at once, or one checkpointing on close), so retry for a bounded time.
 */
function useWal(db: Db): void {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw e;
      sleepSync(20);
    }
  }
}

/**
 * Every record method prepares its SQL on each call; preparing costs more than running a small
 * query (`hull serve`'s containers/json spent most of its time there, a few statements per
 * container). A long-lived process reuses each statement by its text. Safe as long as no
 * caller changes a statement's mode differently for the same text (only safeIntegers(true) is
 * used, always with the same statements) or iterates one while running it again.
 */
function cacheStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let st = cache.get(sql);
    if (!st) cache.set(sql, (st = prepare(sql)));
    return st;
  }) as Db['prepare'];
}

/**
 * The end of a connection in a process that exits without closing it (a warm CLI worker, once
 * its client has the answer). Closing, as the last connection, checkpoints and deletes the WAL;
 * the next command's first write then creates it again, and SQLite syncs a new WAL's header and,
 * for a file it opened to create, its directory: two fsyncs in that command's `create: row`
 * (5-16 ms measured here, 0.8 ms of CPU). Instead: checkpoint as close would (the same
 * durability: every commit so far is in the database file, synced), then start the WAL over
 * with a write that changes nothing (the header's sync is paid here), and leave both files.
 * The next process recovers a one-frame WAL and appends to it without syncing (NORMAL). Any
 * failure closes as before.
 */
export function handOverDb(db: Db): void {
  try {
    db.pragma('busy_timeout = 1000');
    db.pragma('wal_checkpoint(PASSIVE)');
    // user_version is rewritten with its own value under the write lock: no migration can slip in between.
    const restart = db.transaction(() => {
      const v = db.pragma('user_version', { simple: true }) as number;
      db.pragma(`user_version = ${v}`);
    });
    restart.immediate();
  } catch {
    db.close();
  }
}

/**
 * For a warm CLI worker while it idles: SQLite's first connection in a process costs several ms
 * more than later ones (library initialisation, first statements prepared); an in-memory one
 * pays that before the command needs its real database.
 */
export function warmSqlite(): void {
  const db = new Database(':memory:');
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)');
  db.prepare('INSERT INTO t (k, v) VALUES (?, ?)').run('k', 'v');
  db.prepare('SELECT v FROM t WHERE k = ?').get('k');
  db.close();
}

/**
 * Bring the schema up to this hull's. A database a newer hull has migrated further is refused:
 * this hull would read and write tables whose meaning it does not know (an older binary run
 * against the state of a newer one, e.g. after a downgrade).
 */
export function migrate(db: Db, migrations: readonly string[] = MIGRATIONS): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) throw tooNew(db, current, migrations.length);
  if (current === migrations.length) return;
  // IMMEDIATE takes the write lock first, so two processes never both run a migration.
  const run = db.transaction(() => {
    const now = db.pragma('user_version', { simple: true }) as number;
    if (now > migrations.length) throw tooNew(db, now, migrations.length);
    for (let v = now; v < migrations.length; v++) {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }
  });
  run.immediate();
}

function tooNew(db: Db, found: number, known: number): HullError {
  return new HullError(
    'STATE_CORRUPT',
    `${db.name} has schema version ${found}, newer than this hull knows (${known}): it was written by a newer hull; run that hull, or use another --root`,
  );
}
