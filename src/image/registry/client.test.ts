import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { sha256Of } from '../digest.js';
import { MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_INDEX } from '../media-types.js';
import { isInsecureRegistry, RegistryClient, verifyDigest } from './client.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A scripted fake registry: each request is answered by the next handler (the last one repeats). */
async function fakeRegistry(handlers: Handler[]): Promise<{ client: RegistryClient; hits: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = createServer((req, res) => {
    const h = handlers[Math.min(n, handlers.length - 1)] as Handler;
    n++;
    h(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const domain = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    client: new RegistryClient({ domain, userAgent: 'hull-test' }),
    hits: () => n,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const manifestBody = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_DOCKER_MANIFEST, config: {}, layers: [] }));
const serveManifest: Handler = (_req, res) => {
  res.writeHead(200, { 'Content-Type': MEDIA_TYPE_DOCKER_MANIFEST }).end(manifestBody);
};

void describe('verifyDigest', () => {
  void it('accepts matching content and reports a mismatch with both digests', () => {
    verifyDigest(sha256Of('abc'), Buffer.from('abc'), 'x');
    assert.throws(
      () => verifyDigest(sha256Of('abc'), Buffer.from('abd'), 'manifest for r/a@sha256:…'),
      (e: unknown) => isHullError(e, 'DIGEST_MISMATCH') && e.message.includes(sha256Of('abd')) && e.message.includes(sha256Of('abc')),
    );
  });
});

void describe('RegistryClient.getManifest checks what it receives', () => {
  void it('fails with DIGEST_MISMATCH when the body does not hash to the requested digest', async () => {
    const reg = await fakeRegistry([serveManifest]);
    try {
      const wanted = sha256Of('something else');
      await assert.rejects(reg.client.getManifest('a/b', wanted), (e: unknown) => isHullError(e, 'DIGEST_MISMATCH'));
    } finally {
      await reg.close();
    }
  });

  void it('fails when Docker-Content-Digest disagrees with the body fetched by tag', async () => {
    const reg = await fakeRegistry([
      (_req, res) => res.writeHead(200, { 'Content-Type': MEDIA_TYPE_DOCKER_MANIFEST, 'Docker-Content-Digest': sha256Of('other') }).end(manifestBody),
    ]);
    try {
      await assert.rejects(reg.client.getManifest('a/b', 'latest'), (e: unknown) => isHullError(e, 'DIGEST_MISMATCH'));
    } finally {
      await reg.close();
    }
  });

  void it('sends all four manifest types in Accept and infers the type from the body when the header is generic', async () => {
    let accept = '';
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const reg = await fakeRegistry([
      (req, res) => {
        accept = req.headers.accept ?? '';
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(index);
      },
    ]);
    try {
      const m = await reg.client.getManifest('a/b', 'latest');
      assert.equal(m.mediaType, MEDIA_TYPE_OCI_INDEX);
      assert.equal(m.digest, sha256Of(index));
      assert.equal(accept.split(', ').length, 4);
    } finally {
      await reg.close();
    }
  });

  void it('refuses schema 1 manifests with UNSUPPORTED_MEDIA_TYPE', async () => {
    const reg = await fakeRegistry([
      (_req, res) =>
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end(JSON.stringify({ schemaVersion: 1, fsLayers: [] })),
    ]);
    try {
      await assert.rejects(reg.client.getManifest('a/b', 'old'), (e: unknown) => isHullError(e, 'UNSUPPORTED_MEDIA_TYPE') && e.message.includes('manifest.v1+prettyjws'));
    } finally {
      await reg.close();
    }
  });
});

void describe('RegistryClient retries', () => {
  void it('retries 5xx on idempotent requests, at most three times', async () => {
    const unavailable: Handler = (_req, res) => res.writeHead(503).end();
    let reg = await fakeRegistry([unavailable, unavailable, serveManifest]);
    try {
      assert.equal((await reg.client.getManifest('a/b', 'latest')).digest, sha256Of(manifestBody));
      assert.equal(reg.hits(), 3);
    } finally {
      await reg.close();
    }
    reg = await fakeRegistry([unavailable]);
    try {
      await assert.rejects(reg.client.getManifest('a/b', 'latest'), (e: unknown) => isHullError(e, 'REGISTRY_ERROR') && e.message.includes('503'));
      assert.equal(reg.hits(), 3);
    } finally {
      await reg.close();
    }
  });

  void it('retries a reset connection', async () => {
    const reg = await fakeRegistry([(req) => req.socket.destroy(), serveManifest]);
    try {
      assert.equal((await reg.client.getManifest('a/b', 'latest')).digest, sha256Of(manifestBody));
      assert.equal(reg.hits(), 2);
    } finally {
      await reg.close();
    }
  });

  void it('does not repeat a non-idempotent POST, but retries the whole blob upload', async () => {
    const started: Handler = (_req, res) => res.writeHead(202, { Location: '/v2/a/b/blobs/uploads/u1?_state=s' }).end();
    const reset: Handler = (req) => req.socket.destroy();
    const done: Handler = (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(201).end());
    };
    const reg = await fakeRegistry([started, reset, started, done]);
    let bodies = 0;
    try {
      await reg.client.uploadBlob('a/b', sha256Of('blob'), 4, () => {
        bodies++;
        return Buffer.from('blob');
      });
      assert.equal(reg.hits(), 4);
      assert.equal(bodies, 2, 'the body factory is called once per attempt');
    } finally {
      await reg.close();
    }
  });
});

void describe('registry errors', () => {
  void it('surfaces the registry JSON error body', async () => {
    const reg = await fakeRegistry([
      (_req, res) => res.writeHead(418, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] })),
    ]);
    try {
      await assert.rejects(reg.client.blobExists('a/b', sha256Of('x')), (e: unknown) => isHullError(e, 'REGISTRY_ERROR') && e.message.includes('418'));
      await assert.rejects(reg.client.getManifest('a/b', 'x'), (e: unknown) => isHullError(e, 'REGISTRY_ERROR') && e.message.endsWith('toomanyrequests: slow down'));
    } finally {
      await reg.close();
    }
  });
});

void describe('scheme selection', () => {
  let dir: string;
  const savedEnv = process.env['HULL_INSECURE_REGISTRIES'];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hull-insecure-'));
  });
  after(async () => {
    if (savedEnv === undefined) delete process.env['HULL_INSECURE_REGISTRIES'];
    else process.env['HULL_INSECURE_REGISTRIES'] = savedEnv;
    await rm(dir, { recursive: true, force: true });
  });

  void it('reads HULL_INSECURE_REGISTRIES and daemon.json insecure-registries, including CIDRs', async () => {
    const daemonJson = join(dir, 'daemon.json');
    const missing = join(dir, 'absent.json');
    process.env['HULL_INSECURE_REGISTRIES'] = ' reg.lan:5000 ,other:1';
    assert.equal(isInsecureRegistry('reg.lan:5000', missing), true);
    assert.equal(isInsecureRegistry('reg.lan:5001', missing), false);
    delete process.env['HULL_INSECURE_REGISTRIES'];
    await writeFile(daemonJson, JSON.stringify({ 'insecure-registries': ['mirror.corp:443', '10.1.0.0/16', 'fd00::/8'] }));
    assert.equal(isInsecureRegistry('mirror.corp:443', daemonJson), true);
    assert.equal(isInsecureRegistry('10.1.2.3:5000', daemonJson), true);
    assert.equal(isInsecureRegistry('10.2.0.1:5000', daemonJson), false);
    assert.equal(isInsecureRegistry('[fd00::1]:5000', daemonJson), true);
    assert.equal(isInsecureRegistry('docker.io', daemonJson), false);
  });

  void it('uses https by default, http for loopback and insecure registries, and Docker Hub API host', () => {
    process.env['HULL_INSECURE_REGISTRIES'] = 'reg.lan:5000';
    assert.equal(new RegistryClient({ domain: 'docker.io', userAgent: 'x' }).baseUrl, 'https://registry-1.docker.io');
    assert.equal(new RegistryClient({ domain: 'ghcr.io', userAgent: 'x' }).baseUrl, 'https://ghcr.io');
    assert.equal(new RegistryClient({ domain: 'localhost:5000', userAgent: 'x' }).baseUrl, 'http://localhost:5000');
    assert.equal(new RegistryClient({ domain: '127.0.0.1:5000', userAgent: 'x' }).baseUrl, 'http://127.0.0.1:5000');
    assert.equal(new RegistryClient({ domain: 'reg.lan:5000', userAgent: 'x' }).baseUrl, 'http://reg.lan:5000');
    assert.equal(new RegistryClient({ domain: 'other.lan', userAgent: 'x', insecure: true }).baseUrl, 'http://other.lan');
  });
});
