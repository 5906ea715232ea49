/**
 * `hull pull` (and login/push) when things go wrong, end to end: the real registry, the real
 * hull binary, real skopeo. Hostile layers, tampered blobs, dead or flaky registries, killed and
 * concurrent processes, auth failures. Every failure must exit 125 with a message naming the
 * cause and leave nothing behind that a later command would trust or trip on.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Digest } from '../../src/image/digest.js';
import { craftedLayout, skopeoCopyWithCreds } from '../helpers/crafted-layers.js';
import type { RawEntry } from '../helpers/crafted-layers.js';
import { HULL_BIN, runHull } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { bigImage, buildOciLayout, busyboxImage, pushWithSkopeo } from '../helpers/images.js';
import type { BuiltImage } from '../helpers/images.js';
import { startProxy } from '../helpers/proxy.js';
import type { TestProxy } from '../helpers/proxy.js';
import { withRegistry } from '../helpers/registry.js';
import type { TestRegistry } from '../helpers/registry.js';

const execFileP = promisify(execFile);
const ENGINE_ERROR = 125;

/** One test's private world: a state root, a scratch dir and an empty Docker config dir. */
interface Scene {
  root: string;
  work: string;
  dockerConfig: string;
  hull(args: string[], input?: string): Promise<HullResult>;
  /** The same binary against another root (same Docker config). */
  hullIn(root: string, args: string[], input?: string): Promise<HullResult>;
}

async function withScene(fn: (s: Scene) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'hull-faults-'));
  const root = join(base, 'root');
  const work = join(base, 'work');
  // Never the real ~/.docker/config.json: tests must not read or write the machine's credentials.
  const dockerConfig = join(base, 'docker-config');
  await Promise.all([mkdir(work), mkdir(dockerConfig)]);
  const hullIn = (r: string, args: string[], input?: string) =>
    runHull(args, { root: r, input: input ?? '', env: { DOCKER_CONFIG: dockerConfig }, timeoutMs: 60_000 });
  try {
    await fn({ root, work, dockerConfig, hull: (args, input) => hullIn(root, args, input), hullIn });
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}


async function withProxy(reg: TestRegistry, opts: Parameters<typeof startProxy>[1], fn: (p: TestProxy) => Promise<void>): Promise<void> {
  const proxy = await startProxy(reg, opts);
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function hex(d: Digest): string {
  return d.slice('sha256:'.length);
}

function show(r: HullResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function imageIds(s: Scene, root = s.root): Promise<string[]> {
  const r = await s.hullIn(root, ['images', '-q', '--no-trunc']);
  assert.equal(r.code, 0, `hull images failed: ${show(r)}`);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** No temp file or temp layer dir survives: a failed or finished command cleaned up after itself. */
async function assertNoTempLeftovers(root: string, what: string): Promise<void> {
  assert.deepEqual(await listDir(join(root, 'layers', 'tmp')), [], `${what}: layers/tmp is not empty`);
  assert.deepEqual(await listDir(join(root, 'blobs', 'ingest')), [], `${what}: blobs/ingest is not empty`);
}

async function assertFailedCleanly(s: Scene, r: HullResult, what: string): Promise<void> {
  assert.equal(r.code, ENGINE_ERROR, `${what}: ${show(r)}`);
  assert.match(r.stderr, /^hull: /m, `${what}: error not printed as "hull: …": ${show(r)}`);
  assert.deepEqual(await imageIds(s), [], `${what}: an image was recorded`);
  await assertNoTempLeftovers(s.root, what);
}

function bigLayerIndex(built: BuiltImage): number {
  let best = 0;
  built.layers.forEach((l, i) => {
    if (l.size > (built.layers[best]?.size ?? 0)) best = i;
  });
  return best;
}

/** Where the registry's filesystem driver keeps a blob's bytes. */
function registryBlobPath(reg: TestRegistry, digest: Digest): string {
  return join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex(digest).slice(0, 2), hex(digest), 'data');
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A tiny image sharing nothing with the busybox-based ones. */
async function pushTinyImage(s: Scene, reg: TestRegistry, repoTag: string, label: string): Promise<Digest> {
  const dir = join(s.work, `tiny-${label}`);
  const img = await craftedLayout(dir, [
    { name: 'tiny', type: 'directory' },
    { name: `tiny/${label}.txt`, type: 'file', content: `tiny image ${label}\n` },
  ]);
  await pushWithSkopeo(dir, `${reg.host}/${repoTag}`, img.manifestDigest);
  return img.configDigest;
}

void describe('hull pull against faults', () => {
  // Cases are independent (own registry, root, sentinel) and mostly wait on child processes.
  void describe('hostile layers are refused and leave nothing', { concurrency: 4 }, () => {
    // Enough `..` to climb from any state root to `/`; extra ones stop at `/`.
    const toFsRoot = '../'.repeat(24);
    interface HostileCase {
      name: string;
      /** The entry the error must name. */
      offending: string;
      entries: (sentinel: string, tag: string) => RawEntry[];
      /** Where, relative to the root, a successful escape `escape-<tag>` would have landed. */
      rootEscape?: string[];
    }
    const benign: RawEntry[] = [
      { name: 'ok', type: 'directory' },
      { name: 'ok/file.txt', type: 'file', content: 'harmless, written before the bad entry\n' },
    ];
    const cases: HostileCase[] = [
      {
        name: 'path traversal ../../escape',
        offending: '../../escape-',
        entries: (_s, tag) => [...benign, { name: `../../escape-${tag}`, type: 'file', content: 'escaped\n' }],
        rootEscape: ['layers', '.'],
      },
      {
        name: 'path traversal all the way to the sentinel dir',
        offending: 'escape-',
        entries: (sentinel, tag) => [...benign, { name: `${toFsRoot}${sentinel.slice(1)}/escape-${tag}`, type: 'file', content: 'escaped\n' }],
      },
      {
        name: 'a/../../escape',
        offending: 'a/../../escape-',
        entries: (_s, tag) => [...benign, { name: 'a', type: 'directory' }, { name: `a/../../escape-${tag}`, type: 'file', content: 'escaped\n' }],
        rootEscape: ['layers/tmp'],
      },
      {
        name: 'symlink escape (evil -> sentinel, then evil/pwned)',
        offending: 'evil/pwned',
        entries: (sentinel) => [...benign, { name: 'evil', type: 'symlink', linkname: sentinel }, { name: 'evil/pwned', type: 'file', content: 'pwned\n' }],
      },
      {
        name: 'symlink to .. then a write through it',
        offending: 'up/escape-',
        entries: (_s, tag) => [...benign, { name: 'up', type: 'symlink', linkname: '..' }, { name: `up/escape-${tag}`, type: 'file', content: 'escaped\n' }],
        rootEscape: ['layers/tmp'],
      },
      {
        name: 'nested symlink to ../.. then a write through it',
        offending: 'ok/up/escape-',
        entries: (_s, tag) => [...benign, { name: 'ok/up', type: 'symlink', linkname: '../..' }, { name: `ok/up/escape-${tag}`, type: 'file', content: 'escaped\n' }],
        rootEscape: ['layers/tmp'],
      },
      {
        name: 'hardlink to ../../etc/passwd',
        offending: 'passwd-link',
        entries: () => [...benign, { name: 'passwd-link', type: 'link', linkname: '../../etc/passwd' }],
      },
      {
        name: 'hardlink climbing to the sentinel victim',
        offending: 'victim-link',
        entries: (sentinel) => [...benign, { name: 'victim-link', type: 'link', linkname: `${toFsRoot}${sentinel.slice(1)}/victim` }],
      },
      {
        name: 'absolute hardlink to the sentinel victim',
        offending: 'abs-victim-link',
        entries: (sentinel) => [...benign, { name: 'abs-victim-link', type: 'link', linkname: `${sentinel}/victim` }],
      },
      {
        name: 'hardlink through a symlink',
        offending: 'link-via-symlink',
        entries: (sentinel) => [
          ...benign,
          { name: 'outside', type: 'symlink', linkname: sentinel },
          { name: 'link-via-symlink', type: 'link', linkname: 'outside/victim' },
        ],
      },
    ];

    for (const c of cases) {
      void it(c.name, { timeout: 30_000 }, () =>
        withScene(async (s) => {
          // The sentinel is what an escape would hit: it must end exactly as it started.
          const sentinel = await mkdtemp(join(tmpdir(), 'hull-sentinel-'));
          try {
            await writeFile(join(sentinel, 'victim'), 'original\n');
            const tag = randomBytes(4).toString('hex');
            const layout = join(s.work, 'layout');
            const img = await craftedLayout(layout, c.entries(sentinel, tag));
            await withRegistry({}, async (reg) => {
              const ref = `${reg.host}/hostile:v1`;
              await pushWithSkopeo(layout, ref, img.manifestDigest);
              const r = await s.hull(['pull', ref]);
              await assertFailedCleanly(s, r, c.name);
              assert.ok(r.stderr.includes(c.offending), `error does not name the entry "${c.offending}": ${show(r)}`);
            });
            assert.deepEqual(await listDir(sentinel), ['victim'], 'something was created in the sentinel dir');
            assert.equal(await readFile(join(sentinel, 'victim'), 'utf8'), 'original\n');
            assert.equal((await stat(join(sentinel, 'victim'))).nlink, 1, 'the victim was hardlinked from somewhere');
            for (const dir of c.rootEscape ?? []) {
              assert.equal(await exists(join(s.root, dir, `escape-${tag}`)), false, `escape-${tag} was created in <root>/${dir}`);
            }
            assert.equal(await exists(join(tmpdir(), `escape-${tag}`)), false);
            assert.equal(await exists(`/escape-${tag}`), false);
            assert.equal(await exists(join(s.root, 'layers', 'sha256', hex(img.diffId))), false, 'a layer dir was kept');
            assert.equal(await exists(join(s.root, 'blobs', 'sha256', hex(img.blobDigest))), false, 'the layer blob was kept');
          } finally {
            await rm(sentinel, { recursive: true, force: true });
          }
        }),
      );
    }
  });

  void describe('tampered blobs in the registry', { concurrency: 3 }, () => {
    // Same length, other bytes: the registry serves them with the original Content-Length.
    const tamperings: { name: string; tamper: (data: Buffer) => void; compression?: 'none' }[] = [
      {
        // MTIME in the gzip header: decompressors ignore it, so only the blob digest can tell.
        name: 'gzip header changed (content still decompresses to the right diff id)',
        tamper: (data) => data.writeUInt32LE(0x5eed5eed, 4),
      },
      {
        name: 'compressed bytes in the middle overwritten',
        tamper: (data) => randomBytes(4096).copy(data, Math.floor(data.length / 2)),
      },
      {
        // A valid tar still, so only the digests can tell: the blob's, and the diff id.
        name: 'file content of an uncompressed layer changed',
        compression: 'none',
        tamper: (data) => {
          const at = data.indexOf(Buffer.from('ELF'));
          assert.ok(at > 0, 'no busybox binary in the layer');
          randomBytes(4096).copy(data, at + 4096);
        },
      },
    ];
    for (const t of tamperings) {
      void it(t.name, { timeout: 30_000 }, () =>
        withScene(async (s) => {
          const layout = join(s.work, 'layout');
          const built = await buildOciLayout(layout, busyboxImage(t.compression ? { compression: t.compression } : {}));
          await withRegistry({}, async (reg) => {
            const ref = `${reg.host}/tampered:v1`;
            await pushWithSkopeo(layout, ref, built.manifestDigest);
            const victim = built.layers[bigLayerIndex(built)]!;
            const path = registryBlobPath(reg, victim.digest);
            const data = await readFile(path);
            t.tamper(data);
            await writeFile(path, data);

            const r = await s.hull(['pull', ref]);
            await assertFailedCleanly(s, r, 'pull of a tampered blob');
            assert.match(r.stderr, /digest mismatch/i, show(r));
            assert.equal(await exists(join(s.root, 'blobs', 'sha256', hex(victim.digest))), false, 'the tampered blob was stored');
            assert.equal(await exists(join(s.root, 'layers', 'sha256', hex(victim.diffId))), false, 'its layer dir was kept');
          });
        }),
      );
    }
  });

  void it('registry down: names the URL it tried', { timeout: 30_000 }, () =>
    withScene(async (s) => {
      const port = await closedPort();
      const started = Date.now();
      const r = await s.hull(['pull', `127.0.0.1:${port}/x`]);
      await assertFailedCleanly(s, r, 'pull from a closed port');
      assert.ok(r.stderr.includes(`http://127.0.0.1:${port}/v2/`), show(r));
      // A refused connection is not worth retrying for long.
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    }),
  );

  void it('unknown repository or tag: Docker\'s "manifest … not found: manifest unknown"', { timeout: 30_000 }, () =>
    withScene(async (s) => {
      await withRegistry({}, async (reg) => {
        await pushTinyImage(s, reg, 'exists:v1', 'exists');
        const noRepo = await s.hull(['pull', `${reg.host}/nope`]);
        await assertFailedCleanly(s, noRepo, 'unknown repository');
        assert.ok(noRepo.stderr.includes(`manifest for ${reg.host}/nope:latest not found: manifest unknown`), show(noRepo));
        const noTag = await s.hull(['pull', `${reg.host}/exists:v2`]);
        await assertFailedCleanly(s, noTag, 'unknown tag');
        assert.ok(noTag.stderr.includes(`manifest for ${reg.host}/exists:v2 not found: manifest unknown`), show(noTag));
      });
    }),
  );

  void describe('dropped connections', () => {
    void it('a download cut after 64 KiB resumes with a Range request', { timeout: 60_000 }, () =>
      withScene(async (s) => {
        const layout = join(s.work, 'layout');
        const built = await bigImage(layout, 8, 2);
        await withRegistry({}, async (reg) => {
          await pushWithSkopeo(layout, `${reg.host}/big:v1`, built.manifestDigest);
          await withProxy(reg, { cutBlobAfter: 64 * 1024, cuts: 1 }, async (proxy) => {
            const r = await s.hull(['pull', `${proxy.host}/big:v1`]);
            assert.equal(r.code, 0, show(r));
            assert.equal(proxy.cutsDone, 1, 'the proxy never cut a download');
            assert.deepEqual(await imageIds(s), [built.configDigest]);
            const ranges = proxy.requests.map((q) => q.headers['range']).filter((h): h is string => h !== undefined);
            assert.ok(
              ranges.some((h) => /^bytes=[1-9]\d*-$/.test(h)),
              `no "Range: bytes=N-" request; requests: ${JSON.stringify(proxy.requests.map((q) => [q.method, q.path, q.headers['range']]))}`,
            );
            for (const l of built.layers) assert.ok(await exists(join(s.root, 'layers', 'sha256', hex(l.diffId))), `layer ${l.diffId} missing`);
            await assertNoTempLeftovers(s.root, 'resumed pull');
          });
        });
      }),
    );

    void it('a download cut every time fails after bounded retries and leaves nothing', { timeout: 60_000 }, () =>
      withScene(async (s) => {
        const layout = join(s.work, 'layout');
        const built = await bigImage(layout, 8, 2);
        await withRegistry({}, async (reg) => {
          await pushWithSkopeo(layout, `${reg.host}/big:v1`, built.manifestDigest);
          await withProxy(reg, { cutBlobAfter: 64 * 1024 }, async (proxy) => {
            const started = Date.now();
            const r = await s.hull(['pull', `${proxy.host}/big:v1`]);
            await assertFailedCleanly(s, r, 'pull through an always-cutting proxy');
            assert.ok(Date.now() - started < 30_000, `gave up only after ${Date.now() - started} ms`);
            assert.match(r.stderr, /failed after \d+ attempts/, show(r));
            const named = built.layers.find((l) => r.stderr.includes(l.digest));
            assert.ok(named, `the error does not name the layer that failed: ${show(r)}`);
            // Bounded: a handful of attempts per layer, not a retry storm.
            const blobGets = proxy.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/'));
            assert.ok(blobGets.length <= 1 + built.layers.length * 6, `${blobGets.length} blob GETs`);
            assert.deepEqual(await listDir(join(s.root, 'layers', 'sha256')), [], 'a layer dir was kept');
            assert.deepEqual(await listDir(join(s.root, 'blobs', 'sha256')), [], 'a blob was kept');
          });
        });
      }),
    );
  });

  void it('SIGKILL mid-pull leaves nothing; the next pull succeeds', { timeout: 60_000 }, () =>
    withScene(async (s) => {
      const layout = join(s.work, 'layout');
      const built = await bigImage(layout, 40, 2);
      await withRegistry({}, async (reg) => {
        await pushWithSkopeo(layout, `${reg.host}/big:v1`, built.manifestDigest);
        // ~3 MB/s per connection, 3 connections: 40 MB takes several seconds.
        await withProxy(reg, { bytesPerSecond: 3 * 1024 * 1024 }, async (proxy) => {
          const ref = `${proxy.host}/big:v1`;
          const spawnedAt = Date.now();
          const child = spawn(process.execPath, [HULL_BIN, '--root', s.root, 'pull', ref], {
            env: { ...process.env, DOCKER_CONFIG: s.dockerConfig },
            stdio: 'ignore',
          });
          const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
            child.once('exit', (code, signal) => resolve({ code, signal })),
          );
          const pid = child.pid!;
          const ownedByChild = (names: string[]) => names.filter((n) => n.startsWith(`${pid}-`));
          try {
            // Mid-download for sure: bytes are flowing and the child has temp files open.
            await waitFor('the pull to be downloading', async () => proxy.bytesToClients > 2 * 1024 * 1024 && ownedByChild(await listDir(join(s.root, 'blobs', 'ingest'))).length > 0, 20_000);
            await sleep(Math.max(0, spawnedAt + 1000 - Date.now()));
            assert.equal(child.exitCode, null, 'the pull finished before it could be killed; throttle harder');
          } finally {
            child.kill('SIGKILL');
          }
          assert.equal((await exited).signal, 'SIGKILL');

          const images = await s.hull(['images']);
          assert.equal(images.code, 0, show(images));
          assert.deepEqual(images.stdout.trim().split('\n').slice(1), [], `hull images lists something: ${images.stdout}`);
          assert.deepEqual(await imageIds(s), []);
          assert.deepEqual(ownedByChild(await listDir(join(s.root, 'blobs', 'ingest'))), [], 'the dead pull\'s ingest files survived');
          assert.deepEqual(ownedByChild(await listDir(join(s.root, 'layers', 'tmp'))), [], 'the dead pull\'s temp layers survived');

          proxy.options.bytesPerSecond = 0;
          const again = await s.hull(['pull', ref]);
          assert.equal(again.code, 0, show(again));
          assert.deepEqual(await imageIds(s), [built.configDigest]);
          for (const l of built.layers) assert.ok(await exists(join(s.root, 'layers', 'sha256', hex(l.diffId))), `layer ${l.diffId} missing`);
          await assertNoTempLeftovers(s.root, 'pull after a killed pull');
        });
      });
    }),
  );

  void describe('concurrent commands on one root', () => {
    void it('two pulls of the same image both succeed and store it once', { timeout: 60_000 }, () =>
      withScene(async (s) => {
        const layout = join(s.work, 'layout');
        const built = await bigImage(layout, 8, 2);
        await withRegistry({}, async (reg) => {
          await pushWithSkopeo(layout, `${reg.host}/big:v1`, built.manifestDigest);
          // Throttled so each pull lasts about a second: the two really run at the same time.
          await withProxy(reg, { bytesPerSecond: 4 * 1024 * 1024 }, async (proxy) => {
            const ref = `${proxy.host}/big:v1`;
            const [a, b] = await Promise.all([s.hull(['pull', ref]), s.hull(['pull', ref])]);
            assert.equal(a.code, 0, show(a));
            assert.equal(b.code, 0, show(b));
            // Neither found the image already stored when it started: they overlapped.
            assert.match(a.stdout, /Downloaded newer image/, show(a));
            assert.match(b.stdout, /Downloaded newer image/, show(b));
            assert.deepEqual(await imageIds(s), [built.configDigest]);
            const inspect = await s.hull(['image', 'inspect', '--format', '{{.Id}}', ref]);
            assert.equal(inspect.code, 0, show(inspect));
            assert.equal(inspect.stdout.trim(), built.configDigest);
          });
          const layerDirs = await listDir(join(s.root, 'layers', 'sha256'));
          assert.deepEqual(layerDirs.sort(), built.layers.map((l) => hex(l.diffId)).sort(), 'one layer dir per diff id');
          await assertNoTempLeftovers(s.root, 'concurrent pulls');
        });
      }),
    );

    void it('pull, rmi and images at once: no errors, no "database is locked"', { timeout: 60_000 }, () =>
      withScene(async (s) => {
        const layout = join(s.work, 'layout');
        const built = await bigImage(layout, 8, 2);
        await withRegistry({}, async (reg) => {
          await pushWithSkopeo(layout, `${reg.host}/a:v1`, built.manifestDigest);
          const idB = await pushTinyImage(s, reg, 'b:v1', 'b');
          const pullB = await s.hull(['pull', `${reg.host}/b:v1`]);
          assert.equal(pullB.code, 0, show(pullB));

          const results: { what: string; r: HullResult }[] = [];
          // Throttled so the pull is still writing while rmi and the listings run.
          await withProxy(reg, { bytesPerSecond: 3 * 1024 * 1024 }, async (proxy) => {
            const listing = (async () => {
              for (let i = 0; i < 20; i++) results.push({ what: `images #${i}`, r: await s.hull(['images']) });
            })();
            const pullA = s.hull(['pull', `${proxy.host}/a:v1`]).then((r) => results.push({ what: 'pull a', r }));
            await waitFor('pull A to download', () => proxy.bytesToClients > 256 * 1024, 20_000);
            const rmiB = s.hull(['rmi', `${reg.host}/b:v1`]).then((r) => results.push({ what: 'rmi b', r }));
            await Promise.all([listing, pullA, rmiB]);
          });

          for (const { what, r } of results) {
            assert.equal(r.code, 0, `${what}: ${show(r)}`);
            assert.doesNotMatch(r.stderr, /locked|busy/i, `${what}: ${show(r)}`);
          }
          const ids = await imageIds(s);
          assert.deepEqual(ids, [built.configDigest]);
          assert.ok(!ids.includes(idB));
          await assertNoTempLeftovers(s.root, 'concurrent commands');
        });
      }),
    );

    void it(
      'rmi of an image sharing a layer with a pull in progress keeps the layer the pull relies on',
      { timeout: 60_000 },
      () =>
        withScene(async (s) => {
          // bigImage's first layer is the busybox rootfs (same diff id as busyboxImage's, other
          // compression): the pull of A finds it present and skips it, while rmi B removes B,
          // its last recorded user.
          const layoutA = join(s.work, 'a');
          const layoutB = join(s.work, 'b');
          const [a, b] = await Promise.all([bigImage(layoutA, 8, 2), buildOciLayout(layoutB, busyboxImage())]);
          const shared = a.layers[0]!.diffId;
          assert.equal(b.layers[0]!.diffId, shared);
          await withRegistry({}, async (reg) => {
            await pushWithSkopeo(layoutA, `${reg.host}/a:v1`, a.manifestDigest);
            await pushWithSkopeo(layoutB, `${reg.host}/b:v1`, b.manifestDigest);
            const pullB = await s.hull(['pull', `${reg.host}/b:v1`]);
            assert.equal(pullB.code, 0, show(pullB));
            await withProxy(reg, { bytesPerSecond: 2 * 1024 * 1024 }, async (proxy) => {
              const pullA = s.hull(['pull', `${proxy.host}/a:v1`]);
              // Once layer bytes flow, pull A has already decided the shared layer is present.
              await waitFor('pull A to download', () => proxy.bytesToClients > 512 * 1024, 20_000);
              const rmiB = await s.hull(['rmi', `${reg.host}/b:v1`]);
              assert.equal(rmiB.code, 0, show(rmiB));
              const doneA = await pullA;
              assert.equal(doneA.code, 0, show(doneA));
            });
            assert.deepEqual(await imageIds(s), [a.configDigest]);
            for (const l of a.layers) {
              assert.ok(await exists(join(s.root, 'layers', 'sha256', hex(l.diffId))), `image A's layer ${l.diffId} is gone`);
            }
          });
        }),
    );
  });

  // The htpasswd registry spends most of its time in bcrypt; the token test overlaps it.
  void describe('authentication', { concurrency: 2 }, () => {
    const creds = { user: 'u', pass: 'right-password' };

    void it('htpasswd registry: pull needs login; wrong password writes nothing; logout forgets', { timeout: 60_000 }, () =>
      withScene(async (s) => {
        const layout = join(s.work, 'layout');
        const img = await craftedLayout(layout, [{ name: 'hello.txt', type: 'file', content: 'hello\n' }]);
        await withRegistry({ htpasswd: creds }, async (reg) => {
          const ref = `${reg.host}/private:v1`;
          await skopeoCopyWithCreds(layout, ref, creds);
          const configPath = join(s.dockerConfig, 'config.json');

          const anonymous = await s.hull(['pull', ref]);
          await assertFailedCleanly(s, anonymous, 'pull without login');
          assert.match(anonymous.stderr, /unauthorized|authentication required|no basic auth credentials/i, show(anonymous));

          const wrong = await s.hull(['login', '-u', creds.user, '--password-stdin', reg.host], 'wrong-password\n');
          assert.equal(wrong.code, ENGINE_ERROR, show(wrong));
          assert.match(wrong.stderr, /unauthorized|incorrect username or password/i, show(wrong));
          assert.equal(await exists(configPath), false, 'a failed login wrote config.json');

          const login = await s.hull(['login', '-u', creds.user, '--password-stdin', reg.host], `${creds.pass}\n`);
          assert.equal(login.code, 0, show(login));
          assert.match(login.stdout, /Login Succeeded/);
          const config = JSON.parse(await readFile(configPath, 'utf8')) as { auths?: Record<string, { auth?: string }> };
          assert.equal(config.auths?.[reg.host]?.auth, Buffer.from(`${creds.user}:${creds.pass}`).toString('base64'));

          const pull = await s.hull(['pull', ref]);
          assert.equal(pull.code, 0, show(pull));
          assert.deepEqual(await imageIds(s), [img.configDigest]);

          const logout = await s.hull(['logout', reg.host]);
          assert.equal(logout.code, 0, show(logout));
          const after = JSON.parse(await readFile(configPath, 'utf8')) as { auths?: Record<string, unknown> };
          assert.equal(after.auths?.[reg.host], undefined, 'logout left the credentials');
          const denied = await s.hullIn(join(s.work, 'other-root'), ['pull', ref]);
          assert.equal(denied.code, ENGINE_ERROR, `pull after logout: ${show(denied)}`);
        });
      }),
    );

    void it('token registry: login, pull, push to a new repository, pull back', { timeout: 60_000 }, () =>
      withScene(async (s) => {
        const layout = join(s.work, 'layout');
        const built = await buildOciLayout(layout, busyboxImage());
        await withRegistry({ token: true, htpasswd: creds }, async (reg) => {
          await skopeoCopyWithCreds(layout, `${reg.host}/src:v1`, creds);
          const anonymous = await s.hull(['pull', `${reg.host}/src:v1`]);
          await assertFailedCleanly(s, anonymous, 'anonymous pull from the token registry');

          const login = await s.hull(['login', '-u', creds.user, '--password-stdin', reg.host], creds.pass);
          assert.equal(login.code, 0, show(login));
          assert.match(login.stdout, /Login Succeeded/);
          const pull = await s.hull(['pull', `${reg.host}/src:v1`]);
          assert.equal(pull.code, 0, show(pull));
          const tag = await s.hull(['tag', `${reg.host}/src:v1`, `${reg.host}/dst:v1`]);
          assert.equal(tag.code, 0, show(tag));
          const push = await s.hull(['push', `${reg.host}/dst:v1`]);
          assert.equal(push.code, 0, show(push));

          const { stdout } = await execFileP(
            'skopeo',
            ['inspect', '--tls-verify=false', '--creds', `${creds.user}:${creds.pass}`, `docker://${reg.host}/dst:v1`],
            { timeout: 30_000 },
          );
          assert.equal((JSON.parse(stdout) as { Digest?: string }).Digest, built.manifestDigest, 'push changed the manifest');
          const fresh = join(s.work, 'fresh-root');
          const back = await s.hullIn(fresh, ['pull', `${reg.host}/dst:v1`]);
          assert.equal(back.code, 0, show(back));
          assert.deepEqual(await imageIds(s, fresh), [built.configDigest]);
          const scopes = reg.tokenRequests.flatMap((q) => new URL(q, 'http://token.invalid').searchParams.getAll('scope'));
          assert.ok(
            scopes.some((sc) => /^repository:dst:([a-z]+,)*push(,[a-z]+)*$/.test(sc)),
            `no push scope for dst was requested: ${JSON.stringify(scopes)}`,
          );
        });
      }),
    );
  });
});

