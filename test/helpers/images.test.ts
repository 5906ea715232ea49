import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { sha256Of } from '../../src/image/digest.js';
import { BUSYBOX_EXPECTED, buildOciLayout, busyboxImage, MEDIA_TYPES, pushWithSkopeo } from './images.js';
import { startRegistry } from './registry.js';
import type { BuiltImage, ImageSpec } from './images.js';

const execFileP = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  return (await execFileP('skopeo', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

async function tarNames(blobPath: string): Promise<{ name: string; type: string; mode: number; linkname: string }[]> {
  const names: { name: string; type: string; mode: number; linkname: string }[] = [];
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    names.push({ name: h.name, type: h.type ?? '', mode: h.mode ?? 0, linkname: h.linkname ?? '' });
    stream.on('end', () => next());
    stream.resume();
  });
  await pipeline(createReadStream(blobPath), createGunzip(), ex);
  return names;
}

void describe('offline test images', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hull-images-test-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const blob = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice(7));

  async function checkWithSkopeo(dir: string, built: BuiltImage, manifestMediaType: string): Promise<void> {
    const raw = await skopeo('inspect', '--raw', `oci:${dir}`);
    assert.equal(sha256Of(raw), built.manifestDigest);
    const manifest = JSON.parse(raw) as { mediaType: string; config: { digest: string }; layers: { digest: string }[] };
    assert.equal(manifest.mediaType, manifestMediaType);
    assert.equal(manifest.config.digest, built.configDigest);
    assert.deepEqual(
      manifest.layers.map((l) => l.digest),
      built.layers.map((l) => l.digest),
    );

    const rawConfig = await skopeo('inspect', '--config', '--raw', `oci:${dir}`);
    assert.equal(sha256Of(rawConfig), built.configDigest);

    const info = JSON.parse(await skopeo('inspect', `oci:${dir}`)) as {
      Digest: string;
      Layers: string[];
      Architecture: string;
      Os: string;
      Env: string[];
    };
    assert.equal(info.Digest, built.manifestDigest);
    assert.deepEqual(
      info.Layers,
      built.layers.map((l) => l.digest),
    );
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.ok(info.Env.some((e) => e.startsWith('PATH=')));
  }

  void it('builds a busybox OCI layout that skopeo accepts, with matching digests', async () => {
    const dir = join(root, 'busybox');
    const built = await buildOciLayout(dir, busyboxImage({ refName: 'latest' }));
    assert.equal(built.layers.length, 3);
    await checkWithSkopeo(dir, built, MEDIA_TYPES.ociManifest);

    for (const l of built.layers) {
      const bytes = await readFile(blob(dir, l.digest));
      assert.equal(sha256Of(bytes), l.digest);
      assert.equal(bytes.length, l.size);
    }
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    assert.equal(index.manifests[0]?.digest, built.manifestDigest);
    assert.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], 'latest');

    const config = JSON.parse(await readFile(blob(dir, built.configDigest), 'utf8')) as {
      config: { Cmd: string[] };
      rootfs: { diff_ids: string[] };
      history: { empty_layer?: boolean }[];
    };
    assert.deepEqual(config.config.Cmd, ['sh']);
    assert.deepEqual(
      config.rootfs.diff_ids,
      built.layers.map((l) => l.diffId),
    );
    assert.equal(config.history.filter((h) => !h.empty_layer).length, 3);
  });

  void it('writes whiteouts, opaque markers, hardlinks and modes into the layer tars', async () => {
    const dir = join(root, 'entries');
    const built = await buildOciLayout(dir, busyboxImage());
    const [l1, l2, l3] = await Promise.all(built.layers.map((l) => tarNames(blob(dir, l.digest))));
    assert.ok(l1 && l2 && l3);
    assert.equal(l1.find((e) => e.name === 'tmp/')?.mode, 0o1777);
    assert.deepEqual(l1.find((e) => e.name === 'bin/sh'), { name: 'bin/sh', type: 'symlink', mode: 0o777, linkname: 'busybox' });
    assert.equal(l2.find((e) => e.name === 'data/hello-link.txt')?.type, 'link');
    const names3 = l3.map((e) => e.name);
    assert.ok(names3.includes('data/.wh..wh..opq'));
    assert.ok(names3.includes('etc/.wh.motd'));
  });

  void it('is deterministic', async () => {
    const a = await buildOciLayout(join(root, 'det-a'), busyboxImage());
    const b = await buildOciLayout(join(root, 'det-b'), busyboxImage());
    assert.deepEqual(a, b);
  });

  const variants: [string, ImageSpec, string][] = [
    ['docker schema2', busyboxImage({ docker: true }), MEDIA_TYPES.dockerManifest],
    ['zstd layers', busyboxImage({ compression: 'zstd' }), MEDIA_TYPES.ociManifest],
    ['uncompressed layers', busyboxImage({ compression: 'none' }), MEDIA_TYPES.ociManifest],
  ];
  for (const [name, spec, mediaType] of variants) {
    void it(`builds ${name} that skopeo accepts`, async () => {
      const dir = join(root, name.replace(/ /g, '-'));
      await checkWithSkopeo(dir, await buildOciLayout(dir, spec), mediaType);
    });
  }

  void it('has a busybox rootfs that runs (layers 1 and 2)', { skip: process.getuid?.() !== 0 }, async () => {
    const dir = join(root, 'run');
    const built = await buildOciLayout(dir, busyboxImage({ compression: 'none' }));
    const rootfs = join(root, 'rootfs');
    // Layers 1 and 2 only: system tar knows nothing of whiteouts, so layer 3 would leave marker files behind.
    await mkdir(rootfs);
    for (const l of built.layers.slice(0, 2)) await execFileP('tar', ['-xf', blob(dir, l.digest), '-C', rootfs]);
    const { stdout } = await execFileP('chroot', [rootfs, '/bin/sh', '-c', 'id -u app; cat /etc/motd; ls /data']);
    assert.equal(stdout, `1000\n${BUSYBOX_EXPECTED.motd}hello-link.txt\nhello.txt\nsub\n`);
  });

  void it('pushes to a registry with skopeo without changing digests', { skip: !existsSync('/usr/bin/docker-registry') }, async () => {
    const reg = await startRegistry();
    try {
      for (const compression of ['gzip', 'none'] as const) {
        const dir = join(root, `push-${compression}`);
        const built = await buildOciLayout(dir, busyboxImage({ compression }));
        assert.equal(await pushWithSkopeo(dir, `${reg.host}/test/busybox:${compression}`), built.manifestDigest);
      }
    } finally {
      await reg.stop();
    }
  });
});
