/**
 * Image archives against the real skopeo: what skopeo writes hull loads, what hull saves skopeo
 * reads, and broken archives leave nothing behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { importRootfs } from '../../src/image/archive/import.js';
import { loadArchive } from '../../src/image/archive/load.js';
import { saveImages } from '../../src/image/archive/save.js';
import { sha256Of } from '../../src/image/digest.js';
import { hostPlatform } from '../../src/image/platform.js';
import { silentProgress } from '../../src/image/progress.js';
import { ImageStore } from '../../src/image/store.js';
import { openDb, type Db } from '../../src/state/db.js';
import { isHullError } from '../../src/util/errors.js';
import { buildOciLayout, busyboxImage, type BuiltImage } from '../helpers/images.js';

const execFileP = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await execFileP('skopeo', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

let work: string;
let layout: string;
let built: BuiltImage;
const dbs: Db[] = [];

async function newStore(name: string): Promise<ImageStore> {
  const root = join(work, name);
  const db = openDb(root);
  dbs.push(db);
  const store = new ImageStore(root, db);
  await store.init();
  return store;
}

async function load(store: ImageStore, file: string) {
  return loadArchive(store, createReadStream(file), silentProgress);
}

async function save(store: ImageStore, names: string[], file: string): Promise<void> {
  await saveImages(store, names, createWriteStream(file));
}

/** A tar of in-memory files and symlinks, for archives skopeo would never write. */
async function tarOf(files: Record<string, Buffer | string | { symlink: string }>): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const [name, data] of Object.entries(files)) {
    if (typeof data === 'object' && 'symlink' in data) pack.entry({ name, type: 'symlink', linkname: data.symlink }).end(undefined);
    else pack.entry({ name }, typeof data === 'string' ? Buffer.from(data) : data);
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

function assertEmpty(store: ImageStore): void {
  assert.deepEqual(store.list(), []);
  assert.deepEqual(store.records.allTags(), []);
  assert.deepEqual(store.records.listLayers(), []);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'hull-archive-'));
  layout = join(work, 'layout');
  built = await buildOciLayout(layout, busyboxImage());
  await skopeo('copy', '--quiet', `oci:${layout}`, `oci-archive:${join(work, 'bare-oci.tar')}`);
  await skopeo('copy', '--quiet', `oci:${layout}`, `oci-archive:${join(work, 'named-oci.tar')}:busybox:latest`);
  await skopeo('copy', '--quiet', `oci:${layout}`, `docker-archive:${join(work, 'skopeo-docker.tar')}:busybox:latest`);
});

after(async () => {
  for (const db of dbs) db.close();
  await rm(work, { recursive: true, force: true });
});

void describe('load', () => {
  void it('loads an oci-archive written by skopeo, untagged without a name and tagged with one', async () => {
    const store = await newStore('load-oci');
    const first = await load(store, join(work, 'bare-oci.tar'));
    assert.deepEqual(first.images, [{ id: built.configDigest, tags: [] }]);
    assert.deepEqual(first.messages, [`Loaded image ID: ${built.configDigest}`]);

    const second = await load(store, join(work, 'named-oci.tar'));
    assert.deepEqual(second.messages, ['Loaded image: busybox:latest']);
    const img = store.get('busybox');
    assert.equal(img.id, built.configDigest);
    assert.equal(img.row.manifestDigest, built.manifestDigest);
    assert.deepEqual(img.config.rootfs.diff_ids, built.layers.map((l) => l.diffId));
    for (const l of built.layers) {
      assert.ok(await store.layers.has(l.diffId));
      assert.deepEqual(
        store.records.blobsOfLayer(l.diffId).map((b) => b.blobDigest),
        [l.digest],
      );
    }
  });

  void it('loads a docker-archive written by skopeo, and says when a tag moves', async () => {
    const store = await newStore('load-docker');
    const result = await load(store, join(work, 'skopeo-docker.tar'));
    assert.deepEqual(result.images, [{ id: built.configDigest, tags: ['busybox:latest'] }]);
    const img = store.get('docker.io/library/busybox:latest');
    assert.deepEqual(img.config.rootfs.diff_ids, built.layers.map((l) => l.diffId));
    for (const l of built.layers) assert.ok(await store.layers.has(l.diffId));

    // Another image under the same tag.
    const other = join(work, 'other');
    const otherBuilt = await buildOciLayout(other, busyboxImage({ config: { Cmd: ['true'] } }));
    const otherArchive = join(work, 'other-docker.tar');
    await skopeo('copy', '--quiet', `oci:${other}`, `docker-archive:${otherArchive}:busybox:latest`);
    const moved = await load(store, otherArchive);
    assert.deepEqual(moved.messages, [
      `The image busybox:latest already exists, renaming the old one with ID ${built.configDigest} to empty string`,
      'Loaded image: busybox:latest',
    ]);
    assert.equal(store.get('busybox').id, otherBuilt.configDigest);
  });

  void it('loads a classic docker-archive whose layers are symlinks', async () => {
    const store = await newStore('load-classic');
    const layer = await tarOf({ 'etc/hostname': 'classic\n' });
    const diffId = sha256Of(layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [diffId, diffId] } }));
    const configName = `${sha256Of(config).slice(7)}.json`;
    const archive = join(work, 'classic.tar');
    await writeFile(
      archive,
      await tarOf({
        'aaaa/layer.tar': layer,
        'bbbb/layer.tar': { symlink: '../aaaa/layer.tar' },
        [configName]: config,
        'manifest.json': JSON.stringify([{ Config: configName, RepoTags: ['classic:1'], Layers: ['aaaa/layer.tar', 'bbbb/layer.tar'] }]),
      }),
    );
    const result = await load(store, archive);
    assert.deepEqual(result.images, [{ id: sha256Of(config), tags: ['classic:1'] }]);
    assert.deepEqual(
      store.records.blobsOfLayer(diffId).map((b) => [b.blobDigest, b.mediaType]),
      [[diffId, 'application/vnd.docker.image.rootfs.diff.tar']],
    );
  });

  void it('loads a gzip-compressed archive', async () => {
    const store = await newStore('load-gzip');
    const archive = join(work, 'skopeo-docker.tar');
    const gz = join(work, 'skopeo-docker.tar.gz');
    await writeFile(gz, gzipSync(await readFile(archive)));
    const result = await load(store, gz);
    assert.equal(result.images[0]?.id, built.configDigest);
  });
});

void describe('save', () => {
  let store: ImageStore;
  const archive = (): string => join(work, 'hull-saved.tar');

  before(async () => {
    store = await newStore('save');
    await load(store, join(work, 'named-oci.tar'));
    await save(store, ['busybox:latest'], archive());
  });

  void it('writes an archive skopeo reads as docker-archive and as oci-archive', async () => {
    const raw = JSON.parse(await skopeo('inspect', '--raw', `docker-archive:${archive()}`)) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    assert.equal(raw.config.digest, built.configDigest);
    assert.deepEqual(raw.layers.map((l) => l.digest), built.layers.map((l) => l.diffId));
    const inspect = JSON.parse(await skopeo('inspect', `docker-archive:${archive()}`)) as { RepoTags: string[] };
    assert.ok(Array.isArray(inspect.RepoTags));

    const copied = join(work, 'from-hull-docker');
    await skopeo('copy', '--quiet', `docker-archive:${archive()}`, `oci:${copied}`);
    const index = JSON.parse(await readFile(join(copied, 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1);

    const viaOci = JSON.parse(await skopeo('inspect', '--raw', `oci-archive:${archive()}`)) as { config: { digest: string } };
    assert.equal(viaOci.config.digest, built.configDigest);
  });

  void it('round-trips through load into another store with the same id and tag', async () => {
    const second = await newStore('save-roundtrip');
    const result = await load(second, archive());
    assert.deepEqual(result.images, [{ id: built.configDigest, tags: ['busybox:latest'] }]);
    const img = second.get('busybox:latest');
    assert.deepEqual(img.config, store.get('busybox:latest').config);
  });

  void it('is deterministic, and saves an image named by id without a tag', async () => {
    const again = join(work, 'hull-saved-again.tar');
    await save(store, ['busybox:latest'], again);
    assert.equal(sha256Of(await readFile(again)), sha256Of(await readFile(archive())));

    const byId = join(work, 'hull-saved-by-id.tar');
    await save(store, [built.configDigest.slice(7, 19)], byId);
    const other = await newStore('save-by-id');
    const result = await load(other, byId);
    assert.deepEqual(result.messages, [`Loaded image ID: ${built.configDigest}`]);
  });

  void it('saves several images in one archive, from uncompressed and gzip blobs', async () => {
    const source = await newStore('save-multi');
    await load(source, join(work, 'skopeo-docker.tar'));
    const rootfs = gzipSync(await tarOf({ 'etc/motd': 'imported\n' }));
    const importedId = await importRootfs(source, Readable.from([rootfs]), {});
    const file = join(work, 'multi.tar');
    await save(source, ['busybox', importedId], file);
    const raw = JSON.parse(await skopeo('inspect', '--raw', `docker-archive:${file}:busybox:latest`)) as { config: { digest: string } };
    assert.equal(raw.config.digest, built.configDigest);

    const target = await newStore('save-multi-target');
    const result = await load(target, file);
    assert.deepEqual(result.messages, ['Loaded image: busybox:latest', `Loaded image ID: ${importedId}`]);
    assert.deepEqual(target.get(importedId).config, source.get(importedId).config);
  });

  void it('refuses unknown names before writing anything', async () => {
    let written = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        cb();
      },
    });
    await assert.rejects(saveImages(store, ['busybox:latest', 'nope:1'], sink), (e: unknown) => isHullError(e, 'IMAGE_NOT_FOUND'));
    assert.equal(written, 0);
  });
});

void describe('import', () => {
  void it('makes a one-layer image with the changes applied', async () => {
    const store = await newStore('import');
    const rootfs = gzipSync(await tarOf({ 'bin/hello': '#!/bin/sh\necho hi\n', 'etc/motd': 'hi\n' }));
    const id = await importRootfs(store, Readable.from([rootfs]), { ref: 'imported:v1', changes: ['CMD ["sh"]', 'ENV A=b'] });
    const img = store.get('imported:v1');
    assert.equal(img.id, id);
    assert.deepEqual(img.config.config?.Cmd, ['sh']);
    assert.deepEqual(img.config.config?.Env, ['A=b']);
    assert.equal(img.config.architecture, hostPlatform().architecture);
    assert.equal(img.config.os, 'linux');
    assert.equal(img.config.history?.[0]?.comment, 'Imported from -');
    const [diffId] = img.config.rootfs.diff_ids;
    assert.ok(diffId && (await store.layers.has(diffId as never)));
    assert.equal(await readFile(join(store.layers.path(diffId as never), 'etc/motd'), 'utf8'), 'hi\n');
    assert.deepEqual(
      store.records.blobsOfLayer(diffId).map((b) => b.mediaType),
      ['application/vnd.docker.image.rootfs.diff.tar.gzip'],
    );
  });

  void it('refuses an unknown change before reading the tarball', async () => {
    const store = await newStore('import-bad');
    await assert.rejects(
      importRootfs(store, Readable.from([Buffer.alloc(0)]), { changes: ['FOO bar'] }),
      (e: unknown) => isHullError(e, 'INVALID_ARGUMENT') && e.message === 'FOO is not a valid change command',
    );
    assertEmpty(store);
  });
});

void describe('broken archives', () => {
  const expectFailure = async (name: string, data: Buffer, code: 'ARCHIVE_INVALID' | 'DIGEST_MISMATCH', message: RegExp): Promise<void> => {
    const store = await newStore(`broken-${name}`);
    const file = join(work, `broken-${name}.tar`);
    await writeFile(file, data);
    await assert.rejects(load(store, file), (e: unknown) => {
      assert.ok(isHullError(e, code), `expected ${code}, got ${String(e)}`);
      assert.match(e.message, message);
      return true;
    });
    assertEmpty(store);
  };

  void it('refuses a truncated archive', async () => {
    const store = await newStore('truncated-source');
    await load(store, join(work, 'named-oci.tar'));
    const file = join(work, 'to-truncate.tar');
    await save(store, ['busybox'], file);
    const whole = await readFile(file);
    // Cut inside a layer tar, mid-block.
    await expectFailure('truncated', whole.subarray(0, Math.floor(whole.length / 2) + 100), 'ARCHIVE_INVALID', /truncated|end of/);
  });

  void it('refuses an archive without manifest.json or index.json', async () => {
    await expectFailure('no-manifest', await tarOf({ 'hello.txt': 'hi' }), 'ARCHIVE_INVALID', /no manifest\.json or index\.json in archive/);
  });

  void it('refuses data that is not a tar', async () => {
    await expectFailure('not-tar', Buffer.from('this is not a tar archive at all'.repeat(40)), 'ARCHIVE_INVALID', /invalid tar header/);
  });

  void it('refuses a layer that does not match the config diff id', async () => {
    const good = await tarOf({ 'a.txt': 'a' });
    const evil = await tarOf({ 'a.txt': 'b' });
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256Of(good)] } }),
    );
    const configName = `${sha256Of(config).slice(7)}.json`;
    const archive = await tarOf({
      [configName]: config,
      'layer/layer.tar': evil,
      'manifest.json': JSON.stringify([{ Config: configName, RepoTags: ['evil:latest'], Layers: ['layer/layer.tar'] }]),
    });
    await expectFailure('diff-id', archive, 'DIGEST_MISMATCH', /diff id/);
  });

  void it('refuses an OCI blob whose content does not match its digest', async () => {
    const dir = join(work, 'tampered');
    const image = await buildOciLayout(dir, busyboxImage({ refName: 'tampered:1' }));
    const layer = image.layers[2]!;
    const path = join(dir, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = await readFile(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 0xff, bytes.length - 20);
    await writeFile(path, bytes);
    const file = join(work, 'tampered.tar');
    await pipeline(Readable.from([await tarDir(dir)]), createWriteStream(file));
    await expectFailure('oci-digest', await readFile(file), 'DIGEST_MISMATCH', /digest/);
  });
});

/** `tar -C dir -c .` without relying on GNU tar's exact output. */
async function tarDir(dir: string): Promise<Buffer> {
  const { stdout } = await execFileP('tar', ['-C', dir, '-cf', '-', '.'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}
