/**
 * POST /build through `hull serve`: the real docker CLI 28 (its classic builder: no buildx
 * plugin is installed, so the CLI falls back to it with a deprecation notice, and
 * DOCKER_BUILDKIT=0 asks for it explicitly) and dockerode, building with runc and overlayfs.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { pack } from 'tar-stream';
import { dockerCli, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip, uniqueName as uniq } from '../helpers/hull.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const skip = containerTestSkip(['runc', 'skopeo', DOCKER_CLI]);

let server: ApiServer;
let work: string;
let ctxDir: string;

/** `docker login` to a test registry: the CLI keeps the credentials in its own config (server.dockerConfig). */
async function login(host: string): Promise<void> {
  const r = await dockerCli(server, ['login', '-u', 'builduser', '--password-stdin', host], { input: 'buildpass\n' });
  assert.equal(r.code, 0, r.stderr);
}

async function docker(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const r = await dockerCli(server, args, { env, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r;
}

function rawPost(path: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: server.socket, method: 'POST', path, headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A tar of name → content (what a client sends as the context). */
async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const DOCKERFILE = [
  'FROM busybox AS base',
  'ARG MSG=default',
  'RUN echo "$MSG" > /msg',
  'COPY hello.txt /hello.txt',
  'FROM base AS final',
  'CMD ["cat", "/msg", "/hello.txt"]',
  '',
].join('\n');

describe('POST /build through hull serve', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-build-'));
    server = await startApiServer();
    await loadBusybox(server.root, work);
    ctxDir = join(work, 'ctx');
    await mkdir(ctxDir);
    await writeFile(join(ctxDir, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(ctxDir, 'hello.txt'), 'hello-file\n');
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
    await rm(work, { recursive: true, force: true });
  });

  test('docker build: tags, build args, labels; the image runs; without buildx the CLI falls back to this API', async () => {
    const tag = `${uniq('built')}:v1`;
    const r = await docker(['build', '-t', tag, '--build-arg', 'MSG=from-arg', '--label', 'suite=api-build', ctxDir]);
    assert.match(r.stdout, /Successfully built [0-9a-f]{12}\n/);
    assert.match(r.stdout, new RegExp(`Successfully tagged ${tag}\\n`));
    assert.match(r.stdout, /RUN echo "\$MSG" > \/msg/);
    assert.match(r.stderr, /legacy builder is deprecated/);
    assert.equal((await docker(['run', '--rm', tag])).stdout, 'from-arg\nhello-file\n');
    assert.equal((await docker(['image', 'inspect', '-f', '{{.Config.Labels.suite}}', tag])).stdout.trim(), 'api-build');
  });

  test('docker build with DOCKER_BUILDKIT=0: -q prints only the id; --target; -f outside the context', async () => {
    const tag = uniq('quiet');
    const r = await docker(['build', '-q', '-t', tag, '--target', 'base', ctxDir], { DOCKER_BUILDKIT: '0' });
    const id = r.stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await docker(['image', 'inspect', '-f', '{{.Id}}', tag])).stdout.trim(), id);
    // the base stage has no CMD of its own: busybox's sh
    assert.equal((await docker(['run', '--rm', tag, 'cat', '/msg'])).stdout, 'default\n');

    // The CLI appends a Dockerfile from outside the context to the tar (which it does not pad).
    const outside = join(work, 'outside.Dockerfile');
    await writeFile(outside, 'FROM busybox\nCOPY hello.txt /h\nCMD ["cat", "/h"]\n');
    const tag2 = uniq('outside');
    await docker(['build', '-q', '-t', tag2, '-f', outside, ctxDir], { DOCKER_BUILDKIT: '0' });
    assert.equal((await docker(['run', '--rm', tag2])).stdout, 'hello-file\n');
  });

  test('a failing RUN: docker build exits with its status and the message', async () => {
    const dir = join(work, 'bad');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM busybox\nRUN exit 7\n');
    const r = await dockerCli(server, ['build', dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 180_000 });
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /The command '\/bin\/sh -c exit 7' returned a non-zero code: 7/);
    const missing = await dockerCli(server, ['build', '-f', 'Nope', ctxDir], { env: { DOCKER_BUILDKIT: '0' } });
    assert.notEqual(missing.code, 0);
  });

  test('X-Registry-Config: FROM pulls from a registry with auth using the credentials the docker CLI sends', async () => {
    let reg: TestRegistry | undefined;
    try {
      reg = await startRegistry({ htpasswd: { user: 'builduser', pass: 'buildpass' } });
      const base = `${reg.host}/auth/base:1`;
      await docker(['tag', 'busybox', base]);
      await login(reg.host);
      await docker(['push', base]);
      await docker(['rmi', base]);
      const dir = join(work, 'authfrom');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'Dockerfile'), `FROM ${base}\nRUN echo pulled-with-auth > /ok\nCMD ["cat", "/ok"]\n`);
      // Logged out, the CLI sends no credentials for the registry, and the server has none of its own.
      await docker(['logout', reg.host]);
      const anon = await dockerCli(server, ['build', '-t', uniq('noauth'), dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 180_000 });
      assert.notEqual(anon.code, 0, 'the registry wants credentials');
      assert.match(anon.stderr, /unauthorized|authentication required|no basic auth credentials/i);
      await login(reg.host);
      const tag = uniq('authbuilt');
      await docker(['build', '-t', tag, dir], { DOCKER_BUILDKIT: '0' });
      assert.equal((await docker(['run', '--rm', tag])).stdout, 'pulled-with-auth\n');
    } finally {
      await dockerCli(server, ['logout', reg?.host ?? '']);
      await reg?.stop();
    }
  });

  test('X-Registry-Config that is not base64 JSON is a 400', async () => {
    const body = await tarOf({ Dockerfile: 'FROM busybox\n' });
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: server.socket, method: 'POST', path: '/build', headers: { 'Content-Type': 'application/x-tar', 'X-Registry-Config': '%%%not-base64' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /invalid X-Registry-Config header/);
  });

  test('dockerode buildImage: the JSON stream carries progress and aux.ID', async () => {
    const client = new Docker({ socketPath: server.socket });
    const tag = uniq('dode');
    const tar = await tarOf({ 'build.df': 'FROM busybox\nARG X\nRUN echo "x=$X" > /x\n', 'extra.txt': 'e' });
    const stream = await client.buildImage(tar as unknown as NodeJS.ReadableStream, { t: tag, dockerfile: 'build.df', buildargs: { X: '42' }, nocache: true });
    const events = await new Promise<Record<string, unknown>[]>((resolve, reject) => client.modem.followProgress(stream, (err: Error | null, out: Record<string, unknown>[]) => (err ? reject(err) : resolve(out))));
    const aux = events.find((e) => e.aux) as { aux: { ID: string } } | undefined;
    assert.ok(aux, JSON.stringify(events));
    assert.match(aux.aux.ID, /^sha256:[0-9a-f]{64}$/);
    assert.ok(events.some((e) => typeof e.stream === 'string' && e.stream.includes('RUN echo')));
    assert.ok(!events.some((e) => e.error), JSON.stringify(events));
    const info = await client.getImage(tag).inspect();
    assert.equal(info.Id, aux.aux.ID);

    // an error during the build is in-band, with Docker's errorDetail
    const bad = await client.buildImage((await tarOf({ Dockerfile: 'FROM busybox\nRUN exit 3\n' })) as unknown as NodeJS.ReadableStream, {});
    const text = await new Promise<string>((resolve) => {
      let t = '';
      bad.on('data', (d: Buffer) => (t += d.toString()));
      bad.on('end', () => resolve(t));
    });
    const last = JSON.parse(text.trim().split('\n').pop()!) as { error: string; errorDetail: { code: number; message: string } };
    assert.equal(last.errorDetail.code, 3);
    assert.match(last.error, /returned a non-zero code: 3/);
  });

  test('bad build parameters are 400 before any stream; build cache prune', async () => {
    const tar = await tarOf({ Dockerfile: 'FROM busybox\n' });
    const badArgs = await rawPost('/v1.44/build?buildargs=%5B1%5D', tar);
    assert.equal(badArgs.status, 400);
    assert.match(badArgs.body, /invalid buildargs parameter/);
    const remote = await rawPost('/v1.44/build?remote=https%3A%2F%2Fexample.invalid%2Fx.git', tar);
    assert.equal(remote.status, 400);
    assert.match(remote.body, /remote build contexts/);
    const bk = await rawPost('/v1.44/build?version=2', tar);
    assert.equal(bk.status, 400);
    assert.match(bk.body, /BuildKit/);
    const prune = await rawPost('/v1.44/build/prune', Buffer.alloc(0));
    assert.equal(prune.status, 200);
    assert.equal(typeof (JSON.parse(prune.body) as { SpaceReclaimed: number }).SpaceReclaimed, 'number');
  });
});
