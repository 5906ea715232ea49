import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, openDb } from './db.js';
import { MIGRATIONS } from './schema.js';
import { HullError } from '../util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hull-db-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a new root is migrated to the last schema version, in WAL mode', () => {
  const root = join(dir, 'new');
  const db = openDb(root);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
  // Opening again runs nothing and keeps the version.
  const again = openDb(root, { existing: true });
  assert.equal(again.pragma('user_version', { simple: true }), MIGRATIONS.length);
  again.close();
});

test('migrations run in order, each once, and a later one applies to an older database', () => {
  const db = new Database(':memory:');
  migrate(db, ['CREATE TABLE a (x)']);
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  migrate(db, ['CREATE TABLE a (x)', 'CREATE TABLE b (y)']);
  assert.equal(db.pragma('user_version', { simple: true }), 2);
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  assert.deepEqual(tables, ['a', 'b']);
  db.close();
});

test('a failing migration leaves the database at its old version', () => {
  const db = new Database(':memory:');
  migrate(db, ['CREATE TABLE a (x)']);
  assert.throws(() => migrate(db, ['CREATE TABLE a (x)', 'CREATE TABLE c (z)', 'NOT SQL']));
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  assert.equal((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'c'").get() as { n: number }).n, 0);
  db.close();
});

test('a database a newer hull migrated further is refused with a clear error, and left as it was', () => {
  const root = join(dir, 'newer');
  openDb(root).close();
  const raw = new Database(join(root, 'hull.db'));
  raw.pragma(`user_version = ${MIGRATIONS.length + 3}`);
  raw.close();
  assert.throws(
    () => openDb(root),
    (e: unknown) => e instanceof HullError && e.code === 'STATE_CORRUPT' && /newer than this hull knows/.test(e.message),
  );
  const check = new Database(join(root, 'hull.db'));
  assert.equal(check.pragma('user_version', { simple: true }), MIGRATIONS.length + 3);
  check.close();
});
