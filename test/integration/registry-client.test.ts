/**
 * RegistryClient against the real distribution registry (Debian's docker-registry), including
 * htpasswd Basic auth and Bearer token auth with an in-process token issuer.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import type { Digest } from '../../src/image/digest.js';
import { sha256Of } from '../../src/image/digest.js';
import type { ImageManifest } from '../../src/image/media-types.js';
import { MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST } from '../../src/image/media-types.js';
import type { RegistryClientOptions } from '../../src/image/registry/client.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { isHullError } from '../../src/util/errors.js';
import type { TestRegistry } from '../helpers/registry.js';
import { startRegistry, withRegistry } from '../helpers/registry.js';

const UA = 'hull-test/0';


function client(reg: TestRegistry, extra: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({ domain: reg.host, userAgent: UA, ...extra });
}

interface PushedImage {
  layer: Buffer;
  layerDigest: Digest;
  manifest: Buffer;
  manifestDigest: Digest;
}

/** Push a tiny one-layer OCI image (layer streamed, config as a Buffer) and tag it. */
async function pushImage(c: RegistryClient, repo: string, tag: string): Promise<PushedImage> {
  const layer = Buffer.from(`layer bytes for ${repo} — ${'x'.repeat(1000)}`);
  const layerDigest = sha256Of(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
  const configDigest = sha256Of(config);
  await c.uploadBlob(repo, layerDigest, layer.length, () => Readable.from([layer.subarray(0, 100), layer.subarray(100)]));
  await c.uploadBlob(repo, configDigest, config.length, () => config);
  const m: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_OCI_MANIFEST,
    config: { mediaType: MEDIA_TYPE_OCI_CONFIG, digest: configDigest, size: config.length },
    layers: [{ mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: layerDigest, size: layer.length }],
  };
  const manifest = Buffer.from(JSON.stringify(m));
  const manifestDigest = await c.putManifest(repo, tag, MEDIA_TYPE_OCI_MANIFEST, manifest);
  assert.equal(manifestDigest, sha256Of(manifest));
  return { layer, layerDigest, manifest, manifestDigest };
}

void describe('RegistryClient against docker-registry', () => {
  void it('pings, pushes blobs and a manifest, and reads them back', async () => {
    await withRegistry({}, async (reg) => {
      const c = client(reg);
      assert.equal(c.baseUrl, `http://${reg.host}`, 'loopback registries use plain HTTP');
      await c.ping();
      const blob = Buffer.from('hello');
      assert.equal(await c.blobExists('hull/app', sha256Of(blob)), false);
      const img = await pushImage(c, 'hull/app', 'v1');
      assert.equal(await c.blobExists('hull/app', img.layerDigest), true);

      const byTag = await c.getManifest('hull/app', 'v1');
      assert.equal(byTag.mediaType, MEDIA_TYPE_OCI_MANIFEST);
      assert.equal(byTag.digest, img.manifestDigest);
      assert.deepEqual(byTag.body, img.manifest);
      const byDigest = await c.getManifest('hull/app', img.manifestDigest);
      assert.deepEqual(byDigest.body, img.manifest);

      const fetched = await c.fetchBlob('hull/app', img.layerDigest);
      assert.equal(fetched.offset, 0);
      assert.equal(fetched.size, img.layer.length);
      assert.equal(await text(fetched.body), img.layer.toString());
    });
  });

  void it('resumes a blob download with Range', async () => {
    await withRegistry({}, async (reg) => {
      const c = client(reg);
      const img = await pushImage(c, 'hull/range', 'latest');
      const tail = await c.fetchBlob('hull/range', img.layerDigest, { offset: 100 });
      assert.equal(tail.offset, 100);
      assert.equal(tail.size, img.layer.length, 'size is the whole blob');
      assert.equal(await text(tail.body), img.layer.subarray(100).toString());
    });
  });

  void it('mounts a blob across repositories and declines unknown ones', async () => {
    await withRegistry({}, async (reg) => {
      const c = client(reg);
      const img = await pushImage(c, 'hull/source', 'latest');
      assert.equal(await c.blobExists('hull/target', img.layerDigest), false);
      assert.equal(await c.mountBlob('hull/target', img.layerDigest, 'hull/source'), true);
      assert.equal(await c.blobExists('hull/target', img.layerDigest), true);
      assert.equal(await c.mountBlob('hull/target', sha256Of('never pushed'), 'hull/source'), false);
    });
  });

  void it('reports unknown manifests, repositories and blobs in Docker words', async () => {
    await withRegistry({}, async (reg) => {
      const c = client(reg);
      await assert.rejects(c.getManifest('foo', 'bar'), (e: unknown) => {
        assert.ok(isHullError(e, 'MANIFEST_UNKNOWN'), String(e));
        assert.match(e.message, new RegExp(`^(manifest for ${reg.host}/foo:bar not found: manifest unknown|repository ${reg.host}/foo not found: name unknown.*)$`));
        return true;
      });
      const img = await pushImage(c, 'hull/app', 'v1');
      await assert.rejects(c.getManifest('hull/app', 'nope'), (e: unknown) => {
        assert.ok(isHullError(e, 'MANIFEST_UNKNOWN'));
        assert.equal(e.message, `manifest for ${reg.host}/hull/app:nope not found: manifest unknown`);
        return true;
      });
      const missing = sha256Of('missing');
      assert.equal(await c.blobExists('hull/app', missing), false);
      await assert.rejects(c.fetchBlob('hull/app', missing), (e: unknown) => {
        assert.ok(isHullError(e, 'NOT_FOUND'));
        assert.equal(e.message, `blob ${missing} not found in ${reg.host}/hull/app: blob unknown: blob unknown to registry`);
        return true;
      });
      // A manifest naming a blob the registry lacks is refused with the registry's reason.
      const bad = JSON.parse(img.manifest.toString()) as ImageManifest;
      bad.layers[0] = { ...bad.layers[0], mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, digest: missing, size: 7 };
      await assert.rejects(c.putManifest('hull/app', 'bad', MEDIA_TYPE_OCI_MANIFEST, Buffer.from(JSON.stringify(bad))), (e: unknown) => {
        assert.ok(isHullError(e, 'REGISTRY_ERROR'));
        assert.match(e.message, /manifest blob unknown/);
        return true;
      });
    });
  });

  void it('rejects an upload whose content does not match its digest', async () => {
    await withRegistry({}, async (reg) => {
      const c = client(reg);
      await assert.rejects(c.uploadBlob('hull/app', sha256Of('expected'), 6, () => Buffer.from('actual')), (e: unknown) => {
        assert.ok(isHullError(e, 'DIGEST_MISMATCH'), String(e));
        assert.match(e.message, /digest invalid/);
        return true;
      });
    });
  });

  void it('uses Basic auth with htpasswd: missing, wrong and right credentials', async () => {
    await withRegistry({ htpasswd: { user: 'alice', pass: 's3cret' } }, async (reg) => {
      await client(reg).ping(); // 401 still proves the registry is there

      await assert.rejects(client(reg).getManifest('hull/app', 'v1'), (e: unknown) => {
        assert.ok(isHullError(e, 'UNAUTHORIZED'));
        assert.equal(e.message, `no basic auth credentials for ${reg.host}: run 'hull login ${reg.host}'`);
        return true;
      });

      const wrong = client(reg, { credentials: { username: 'alice', password: 'nope' } });
      await assert.rejects(wrong.blobExists('hull/app', sha256Of('x')), (e: unknown) => {
        assert.ok(isHullError(e, 'UNAUTHORIZED'));
        assert.equal(e.message, `unauthorized: incorrect username or password for ${reg.host}`);
        return true;
      });
      await assert.rejects(client(reg).login('alice', 'nope'), (e: unknown) => isHullError(e, 'UNAUTHORIZED') && /incorrect username or password/.test(e.message));

      const right = client(reg, { credentials: { username: 'alice', password: 's3cret' } });
      const img = await pushImage(right, 'hull/app', 'v1');
      assert.equal((await right.getManifest('hull/app', 'v1')).digest, img.manifestDigest);

      const later = client(reg);
      await later.login('alice', 's3cret');
      assert.equal(await later.blobExists('hull/app', img.layerDigest), true, 'login keeps the credentials');
    });
  });

  void it('uses Bearer tokens from the token realm, caching them per scope', async () => {
    await withRegistry({ token: true, htpasswd: { user: 'bob', pass: 'hunter2' } }, async (reg) => {
      const c = client(reg, { credentials: { username: 'bob', password: 'hunter2' } });
      const img = await pushImage(c, 'hull/tok', 'v1');
      const afterPush = reg.tokenRequests.length;
      assert.ok(afterPush >= 1 && afterPush <= 3, `a handful of token requests, got ${afterPush}`);
      assert.ok(reg.tokenRequests.some((r) => new URL(r, 'http://x').searchParams.getAll('scope').includes('repository:hull/tok:pull,push')));

      const fetched = await c.fetchBlob('hull/tok', img.layerDigest);
      assert.equal(await text(fetched.body), img.layer.toString());
      await c.getManifest('hull/tok', 'v1');
      await c.getManifest('hull/tok', img.manifestDigest);
      assert.equal(reg.tokenRequests.length, afterPush + 1, 'one more token for the pull scope, then reused');

      // Mounting needs push on the target and pull on the source in one token.
      assert.equal(await c.mountBlob('hull/tok2', img.layerDigest, 'hull/tok'), true);
      const mountScopes = new URL(reg.tokenRequests.at(-1) ?? '', 'http://x').searchParams.getAll('scope');
      assert.deepEqual(mountScopes, ['repository:hull/tok2:pull,push', 'repository:hull/tok:pull']);

      // Anonymous: the token server grants nothing, so the registry refuses as Hub does for private repos.
      await assert.rejects(client(reg).getManifest('hull/tok', 'v1'), (e: unknown) => {
        assert.ok(isHullError(e, 'UNAUTHORIZED'));
        assert.match(e.message, new RegExp(`^pull access denied for ${reg.host}/hull/tok, repository does not exist or may require 'docker login': `));
        return true;
      });

      await assert.rejects(client(reg, { credentials: { username: 'bob', password: 'wrong' } }).getManifest('hull/tok', 'v1'), (e: unknown) => {
        assert.ok(isHullError(e, 'UNAUTHORIZED'));
        assert.equal(e.message, 'unauthorized: incorrect username or password');
        return true;
      });
      await assert.rejects(client(reg).login('bob', 'wrong'), (e: unknown) => isHullError(e, 'UNAUTHORIZED'));
      await client(reg).login('bob', 'hunter2');
    });
  });

  void it('reports a registry that is down as unreachable, naming the URL', async () => {
    const reg = await startRegistry();
    await reg.stop();
    const c = client(reg);
    await assert.rejects(c.ping(), (e: unknown) => {
      assert.ok(isHullError(e, 'REGISTRY_UNREACHABLE'));
      assert.equal(e.message, `registry ${reg.host} is unreachable: GET http://${reg.host}/v2/: connect ECONNREFUSED ${reg.host}`);
      return true;
    });
    await assert.rejects(c.getManifest('a', 'b'), (e: unknown) => isHullError(e, 'REGISTRY_UNREACHABLE') && e.message.includes(`GET http://${reg.host}/v2/a/manifests/b`));
  });
});
