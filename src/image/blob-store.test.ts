import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isHullError } from '../util/errors.js';
import { BlobStore } from './blob-store.js';
import { sha256Of } from './digest.js';

async function withStore(fn: (store: BlobStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'hull-blobs-'));
  try {
    const store = new BlobStore(root);
    await store.init();
    await fn(store, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('a verified blob is stored under its digest', () =>
  withStore(async (store) => {
    const data = Buffer.from('hello blob');
    const d = await store.put(data, sha256Of(data));
    assert.equal(d, sha256Of(data));
    assert.ok(await store.has(d));
    assert.deepEqual(await store.readBuffer(d), data);
  }));

test('a digest mismatch stores nothing and leaves no temp file', () =>
  withStore(async (store, root) => {
    const data = Buffer.from('real content');
    const claimed = sha256Of('other content');
    await assert.rejects(store.put(data, claimed), (e: unknown) => isHullError(e, 'DIGEST_MISMATCH'));
    assert.equal(await store.has(claimed), false);
    assert.equal(await store.has(sha256Of(data)), false);
    assert.deepEqual(await readdir(join(root, 'blobs', 'ingest')), []);
  }));

test('a size larger than declared is refused while streaming', () =>
  withStore(async (store) => {
    const w = await store.writer(undefined, 4);
    await assert.rejects(w.write(Buffer.from('too long')), (e: unknown) => isHullError(e, 'DIGEST_MISMATCH'));
    await w.abort();
  }));

test('temp files of dead writers are swept on open; live ones are kept', () =>
  withStore(async (_store, root) => {
    const ingest = join(root, 'blobs', 'ingest');
    // pid 2^22+1 is above Linux's pid_max ceiling, so no process has it.
    await writeFile(join(ingest, '4194305-1-dead'), 'partial');
    await writeFile(join(ingest, `${process.pid}-1-live`), 'partial');
    await new BlobStore(root).init();
    assert.deepEqual(await readdir(ingest), [`${process.pid}-1-live`]);
  }));

test('concurrent writers of the same blob both succeed', () =>
  withStore(async (store) => {
    const data = Buffer.alloc(1 << 20, 7);
    const results = await Promise.all([1, 2, 3, 4].map(() => store.put(data, sha256Of(data))));
    assert.ok(results.every((d) => d === sha256Of(data)));
    assert.equal((await store.list()).length, 1);
  }));
