import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../state/db.js';
import { FileDigests } from './file-digests.js';

const dir = mkdtempSync(join(tmpdir(), 'hull-file-digests-'));
const db = openDb(join(dir, 'root'));
after(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
/** Any file counts as old enough to remember (the racy window is for real builds). */
const ANY_AGE = -(10n ** 15n);

async function digestOf(d: FileDigests, path: string): Promise<string> {
  return d.digest(path, lstatSync(path, { bigint: true }));
}

test('a remembered digest is used while the stat is unchanged, in a later build', async () => {
  const f = join(dir, 'a.txt');
  writeFileSync(f, 'one');
  const first = new FileDigests(db, ANY_AGE);
  assert.equal(await digestOf(first, f), sha('one'));
  first.save();
  const second = new FileDigests(db, ANY_AGE);
  assert.equal(await digestOf(second, f), sha('one'));
  assert.deepEqual([second.hits, second.misses], [1, 0]);
});

test('same size and a restored mtime still miss: ctime moved', async () => {
  const f = join(dir, 'b.txt');
  writeFileSync(f, 'AAAA');
  const before = statSync(f);
  const d1 = new FileDigests(db, ANY_AGE);
  await digestOf(d1, f);
  d1.save();
  writeFileSync(f, 'BBBB');
  utimesSync(f, before.atime, before.mtime);
  const d2 = new FileDigests(db, ANY_AGE);
  assert.equal(await digestOf(d2, f), sha('BBBB'));
  assert.deepEqual([d2.hits, d2.misses], [0, 1]);
});

test('a file renamed over the path misses (new inode), and a recent file is not remembered', async () => {
  const f = join(dir, 'c.txt');
  writeFileSync(f, 'same');
  const d1 = new FileDigests(db, ANY_AGE);
  await digestOf(d1, f);
  d1.save();
  writeFileSync(join(dir, 'c.new'), 'diff');
  renameSync(join(dir, 'c.new'), f);
  const d2 = new FileDigests(db);
  assert.equal(await digestOf(d2, f), sha('diff'));
  d2.save();
  // Just written: inside the racy window, so the next build hashes it again.
  const d3 = new FileDigests(db);
  await digestOf(d3, f);
  assert.deepEqual([d3.hits, d3.misses], [0, 1]);
});

test('without a database (a tar context) nothing is remembered', async () => {
  const f = join(dir, 'd.txt');
  writeFileSync(f, 'x');
  const d1 = new FileDigests(undefined, ANY_AGE);
  await digestOf(d1, f);
  d1.save();
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM build_file_digests WHERE path = ?').get(f) as { n: number }).n, 0);
});
