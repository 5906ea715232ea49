/**
 * The image verbs end to end: the real hull binary against a real Debian docker-registry,
 * with skopeo on the other side of every interop check, and the kernel's overlayfs judging
 * whether unpacked layers are right.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { nativeAddon } from '../../src/util/native.js';
import { runHull, withRoot } from '../helpers/hull.js';
import { BUSYBOX_EXPECTED, buildOciLayout, busyboxImage, pushWithSkopeo, type BuiltImage } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';

const exec = promisify(execFile);
type Registry = Awaited<ReturnType<typeof startRegistry>>;

let reg: Registry;
let work: string;
let oci: BuiltImage;
let schema2: BuiltImage;
let zstd: BuiltImage;
let plain: BuiltImage;

async function seed(name: string, spec: Parameters<typeof busyboxImage>[0]): Promise<BuiltImage> {
  const dir = join(work, name);
  const built = await buildOciLayout(dir, busyboxImage(spec));
  await pushWithSkopeo(dir, `${reg.host}/${name}:latest`, built.manifestDigest);
  return built;
}

async function ok(args: string[], root: string, input?: string): Promise<string> {
  const r = await runHull(args, { root, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.code, 0, `hull ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function skopeoInspect(ref: string): Promise<{ Digest: string; Layers: string[] }> {
  const { stdout } = await exec('skopeo', ['inspect', '--tls-verify=false', ref]);
  return JSON.parse(stdout) as { Digest: string; Layers: string[] };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'hull-images-cli-'));
  reg = await startRegistry();
  oci = await seed('busybox', {});
  schema2 = await seed('schema2', { docker: true, config: { Labels: { kind: 'schema2' } } });
  zstd = await seed('zstd', { compression: 'zstd', config: { Labels: { kind: 'zstd' } } });
  plain = await seed('plain', { compression: 'none', config: { Labels: { kind: 'plain' } } });
});

after(async () => {
  await reg.stop();
  await rm(work, { recursive: true, force: true });
});

describe('pull', () => {
  test('an OCI gzip image: output, listing, inspect and history', () =>
    withRoot(async (root) => {
      const out = await ok(['pull', `${reg.host}/busybox`], root);
      assert.match(out, /^Using default tag: latest$/m);
      assert.match(out, /^latest: Pulling from busybox$/m);
      assert.match(out, new RegExp(`^Digest: ${oci.manifestDigest}$`, 'm'));
      assert.match(out, /^Status: Downloaded newer image for 127\.0\.0\.1:\d+\/busybox:latest$/m);
      assert.match(out, new RegExp(`^${reg.host.replace(/\./g, '\\.')}/busybox:latest$`, 'm'));
      for (const l of oci.layers) assert.match(out, new RegExp(`^${l.digest.slice(7, 19)}: Pull complete$`, 'm'));

      const again = await ok(['pull', `${reg.host}/busybox:latest`], root);
      assert.match(again, /Status: Image is up to date/);
      assert.match(again, /Already exists/);

      const table = await ok(['images'], root);
      const lines = table.trimEnd().split('\n');
      assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
      assert.match(lines[1]!, new RegExp(`^${reg.host.replace(/\./g, '\\.')}/busybox\\s+latest\\s+${oci.configDigest.slice(7, 19)}\\s+`));
      assert.equal((await ok(['images', '-q'], root)).trim(), oci.configDigest.slice(7, 19));
      assert.equal((await ok(['images', '--no-trunc', '-q'], root)).trim(), oci.configDigest);
      assert.match(await ok(['images', '--digests'], root), new RegExp(oci.manifestDigest));
      assert.equal((await ok(['images', '--format', '{{.Repository}}|{{.Tag}}|{{.ID}}'], root)).trim(), `${reg.host}/busybox|latest|${oci.configDigest.slice(7, 19)}`);

      const [info] = JSON.parse(await ok(['image', 'inspect', `${reg.host}/busybox`], root)) as Record<string, unknown>[];
      assert.equal(info!.Id, oci.configDigest);
      assert.deepEqual(info!.RepoTags, [`${reg.host}/busybox:latest`]);
      assert.deepEqual(info!.RepoDigests, [`${reg.host}/busybox@${oci.manifestDigest}`]);
      assert.deepEqual((info!.RootFS as { Layers: string[] }).Layers, oci.layers.map((l) => l.diffId));
      assert.deepEqual((info!.Config as { Cmd: string[] }).Cmd, ['sh']);
      assert.equal(info!.Architecture, 'amd64');
      assert.equal(await ok(['image', 'inspect', '-f', '{{.Id}}', oci.configDigest.slice(7, 15)], root), `${oci.configDigest}\n`);

      const history = (await ok(['history', `${reg.host}/busybox`], root)).trimEnd().split('\n');
      assert.match(history[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
      // Header, the empty-layer CMD entry, then one row per layer, newest first.
      assert.equal(history.length, 2 + oci.layers.length);
      assert.match(history[1]!, new RegExp(`^${oci.configDigest.slice(7, 19)}\\s+.*CMD \\["sh"\\]\\s+0B`));
      assert.match(history.at(-1)!, /^<missing>.*ADD busybox rootfs/);
    }));

  test('layers are real overlayfs lower directories (whiteouts, opaque dirs, hardlinks, owners)', () =>
    withRoot(async (root) => {
      await ok(['pull', `${reg.host}/busybox`], root);
      const dirs = oci.layers.map((l) => join(root, 'layers', 'sha256', l.diffId.slice(7)));
      const top = dirs.at(-1)!;
      const wh = await lstat(join(top, 'etc', 'motd'));
      assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 character device');
      assert.equal(nativeAddon().lgetxattr(join(top, 'data'), 'trusted.overlay.opaque')?.toString(), 'y');
      const merged = join(work, `merged-${Date.now()}`);
      await mkdir(merged);
      await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...dirs].reverse().join(':')}`, merged]);
      try {
        for (const [path, content] of Object.entries(BUSYBOX_EXPECTED.data)) assert.equal(await readFile(join(merged, path), 'utf8'), content);
        for (const path of BUSYBOX_EXPECTED.removed) await assert.rejects(lstat(join(merged, path)), /ENOENT/, path);
        const a = await stat(join(merged, 'data', 'new.txt'));
        const b = await stat(join(merged, 'data', 'new-link.txt'));
        assert.equal(a.ino, b.ino, 'hardlink preserved');
        assert.equal(a.uid, 1000);
        const { stdout } = await exec('chroot', [merged, '/bin/busybox', 'id', '-u', 'app']);
        assert.equal(stdout.trim(), '1000');
      } finally {
        await exec('umount', [merged]);
      }
    }));

  for (const [name, image] of [
    ['schema2', () => schema2],
    ['zstd', () => zstd],
    ['plain', () => plain],
  ] as const) {
    test(`a ${name} image pulls with the same ids as skopeo sees`, () =>
      withRoot(async (root) => {
        const out = await ok(['pull', '-q', `${reg.host}/${name}`], root);
        assert.equal(out, `${reg.host}/${name}:latest\n`);
        const [info] = JSON.parse(await ok(['image', 'inspect', `${reg.host}/${name}`], root)) as { Id: string; RepoDigests: string[] }[];
        assert.equal(info!.Id, image().configDigest);
        assert.deepEqual(info!.RepoDigests, [`${reg.host}/${name}@${image().manifestDigest}`]);
      }));
  }

  test('by digest: no tag, repo digest recorded', () =>
    withRoot(async (root) => {
      await ok(['pull', `${reg.host}/busybox@${oci.manifestDigest}`], root);
      const rows = (await ok(['images', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}'], root)).trim();
      assert.equal(rows, `${reg.host}/busybox <none> ${oci.manifestDigest}`);
    }));

  test('a multi-platform index: the host platform by default, --platform to choose', () =>
    withRoot(async (root) => {
      const dir = join(work, 'multi');
      const amd = await buildOciLayout(dir, busyboxImage());
      const blobs = join(dir, 'blobs', 'sha256');
      const config = JSON.parse(await readFile(join(blobs, amd.configDigest.slice(7)), 'utf8')) as Record<string, unknown>;
      config.architecture = 'arm64';
      config.variant = 'v8';
      const put = async (body: string): Promise<{ digest: string; size: number }> => {
        const { createHash } = await import('node:crypto');
        const hex = createHash('sha256').update(body).digest('hex');
        await writeFile(join(blobs, hex), body);
        return { digest: `sha256:${hex}`, size: Buffer.byteLength(body) };
      };
      const armConfig = await put(JSON.stringify(config));
      const manifest = JSON.parse(await readFile(join(blobs, amd.manifestDigest.slice(7)), 'utf8')) as { config: Record<string, unknown> };
      manifest.config = { ...manifest.config, ...armConfig };
      const armManifest = await put(JSON.stringify(manifest));
      const amdSize = (await stat(join(blobs, amd.manifestDigest.slice(7)))).size;
      const mt = 'application/vnd.oci.image.manifest.v1+json';
      const index = await put(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            { mediaType: mt, digest: armManifest.digest, size: armManifest.size, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
            { mediaType: mt, digest: amd.manifestDigest, size: amdSize, platform: { architecture: 'amd64', os: 'linux' } },
          ],
        }),
      );
      await writeFile(
        join(dir, 'index.json'),
        JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index }] }),
      );
      await exec('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}`, `docker://${reg.host}/multi:latest`]);

      await ok(['pull', `${reg.host}/multi`], root);
      assert.equal(await ok(['image', 'inspect', '-f', '{{.Architecture}} {{.Id}}', `${reg.host}/multi`], root), `amd64 ${amd.configDigest}\n`);
      assert.equal(await ok(['image', 'inspect', '-f', '{{index .RepoDigests 0}}', `${reg.host}/multi`], root), `${reg.host}/multi@${index.digest}\n`);
      await ok(['pull', '--platform', 'linux/arm64', `${reg.host}/multi`], root);
      assert.equal(await ok(['image', 'inspect', '-f', '{{.Architecture}}/{{.Variant}}', `${reg.host}/multi`], root), 'arm64/v8\n');
      const bad = await runHull(['pull', '--platform', 'linux/s390x', `${reg.host}/multi`], { root });
      assert.equal(bad.code, 125);
      assert.match(bad.stderr, /no matching manifest for linux\/s390x/);
    }));
});

describe('push', () => {
  test('to a new repository: layers mounted, digests unchanged, skopeo reads it', () =>
    withRoot(async (root) => {
      await ok(['pull', `${reg.host}/busybox`], root);
      await ok(['tag', `${reg.host}/busybox`, `${reg.host}/copies/bb:v1`], root);
      const out = await ok(['push', `${reg.host}/copies/bb:v1`], root);
      assert.match(out, /^The push refers to repository \[127\.0\.0\.1:\d+\/copies\/bb\]$/m);
      assert.match(out, /Mounted from busybox/);
      assert.match(out, new RegExp(`^v1: digest: ${oci.manifestDigest} size: \\d+$`, 'm'));
      const seen = await skopeoInspect(`docker://${reg.host}/copies/bb:v1`);
      assert.equal(seen.Digest, oci.manifestDigest);
      assert.deepEqual(seen.Layers, oci.layers.map((l) => l.digest));
      const again = await ok(['push', `${reg.host}/copies/bb:v1`], root);
      assert.match(again, /Layer already exists/);
      const dest = join(work, `copied-${Date.now()}`);
      await exec('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/copies/bb:v1`, `oci:${dest}`]);
      assert.ok((await readdir(join(dest, 'blobs', 'sha256'))).length >= 5);
    }));

  test('an imported image gets a fresh manifest that skopeo and hull agree on', () =>
    withRoot(async (root) => {
      const rootfs = join(work, `rootfs-${Date.now()}`);
      await mkdir(join(rootfs, 'bin'), { recursive: true });
      await writeFile(join(rootfs, 'hello.txt'), 'hi\n');
      const { stdout: tar } = await exec('tar', ['-C', rootfs, '-cf', '-', '.'], { encoding: 'buffer' });
      const id = (await runHull(['import', '-c', 'CMD ["/hello"]', '-c', 'ENV A=b', '-', `${reg.host}/imported:1`], { root, input: tar })).stdout.trim();
      assert.match(id, /^sha256:[a-f0-9]{64}$/);
      const cfg = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config}}', `${reg.host}/imported:1`], root)) as { Cmd: string[]; Env: string[] };
      assert.deepEqual(cfg.Cmd, ['/hello']);
      assert.ok(cfg.Env.includes('A=b'));
      const out = await ok(['push', `${reg.host}/imported:1`], root);
      const digest = /digest: (sha256:[a-f0-9]{64})/.exec(out)![1]!;
      assert.equal((await skopeoInspect(`docker://${reg.host}/imported:1`)).Digest, digest);
      await withRoot(async (other) => {
        await ok(['pull', `${reg.host}/imported:1`], other);
        assert.equal(await ok(['image', 'inspect', '-f', '{{.Id}}', `${reg.host}/imported:1`], other), `${id}\n`);
      });
    }));

  test('a missing local image is a clear error', () =>
    withRoot(async (root) => {
      const r = await runHull(['push', `${reg.host}/nothing:here`], { root });
      assert.equal(r.code, 125);
      assert.match(r.stderr, /An image does not exist locally with the tag: 127\.0\.0\.1:\d+\/nothing/);
    }));
});

describe('save and load', () => {
  test('hull save is a docker-archive skopeo reads; it loads back with the same id', () =>
    withRoot(async (root) => {
      await ok(['pull', `${reg.host}/busybox`], root);
      const archive = join(work, `save-${Date.now()}.tar`);
      await ok(['save', '-o', archive, `${reg.host}/busybox`], root);
      const { stdout } = await exec('skopeo', ['inspect', `docker-archive:${archive}`]);
      const seen = JSON.parse(stdout) as { Layers: string[] };
      assert.equal(seen.Layers.length, oci.layers.length);
      await withRoot(async (other) => {
        const out = await ok(['load', '-i', archive], other);
        assert.match(out, new RegExp(`Loaded image: ${reg.host.replace(/\./g, '\\.')}/busybox:latest`));
        assert.equal(await ok(['image', 'inspect', '-f', '{{.Id}}', `${reg.host}/busybox`], other), `${oci.configDigest}\n`);
      });
    }));

  test('an oci-archive written by skopeo loads', () =>
    withRoot(async (root) => {
      const archive = join(work, `oci-${Date.now()}.tar`);
      await exec('skopeo', ['copy', `oci:${join(work, 'busybox')}`, `oci-archive:${archive}:example.com/bb:1`]);
      const out = await ok(['load', '-i', archive], root);
      assert.match(out, /Loaded image/);
      assert.equal(await ok(['images', '-q', '--no-trunc'], root), `${oci.configDigest}\n`);
    }));
});

describe('rmi, tag and prune', () => {
  test('untag first, delete with the last tag, layers go with the image', () =>
    withRoot(async (root) => {
      await ok(['pull', `${reg.host}/busybox`], root);
      await ok(['tag', `${reg.host}/busybox`, 'local/extra:1'], root);
      const ambiguous = await runHull(['rmi', oci.configDigest.slice(7, 19)], { root });
      assert.equal(ambiguous.code, 1);
      assert.match(ambiguous.stderr, /must be forced/);
      assert.equal(await ok(['rmi', 'local/extra:1'], root), 'Untagged: local/extra:1\n');
      const out = await ok(['rmi', `${reg.host}/busybox`], root);
      assert.match(out, /^Untagged: 127\.0\.0\.1:\d+\/busybox:latest$/m);
      assert.match(out, new RegExp(`^Deleted: ${oci.configDigest}$`, 'm'));
      assert.deepEqual(await readdir(join(root, 'layers', 'sha256')), []);
      assert.deepEqual(await readdir(join(root, 'blobs', 'sha256')), []);
      const missing = await runHull(['rmi', 'nope:1'], { root });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /No such image: nope:1/);
    }));

  test('prune removes dangling images; -a removes the rest', () =>
    withRoot(async (root) => {
      await ok(['pull', `${reg.host}/busybox`], root);
      await ok(['pull', `${reg.host}/schema2`], root);
      await ok(['rmi', `${reg.host}/schema2`], root);
      await ok(['pull', `${reg.host}/schema2@${schema2.manifestDigest}`], root);
      await ok(['rmi', `${reg.host}/schema2@${schema2.manifestDigest}`], root);
      assert.match(await ok(['image', 'prune', '-f'], root), /Total reclaimed space: /);
      assert.match(await ok(['image', 'prune', '-a', '-f'], root), new RegExp(`deleted: ${oci.configDigest}`));
      assert.equal(await ok(['images', '-q'], root), '');
    }));
});

describe('bad input', () => {
  test('reference syntax errors exit 125 with Docker wording', () =>
    withRoot(async (root) => {
      for (const [ref, msg] of [
        // As Docker: an upper-case first component is taken for a registry host.
        ['Bad/Name', /invalid reference format: repository name \(Name\) must be lowercase/],
        ['Busybox', /invalid reference format: repository name \(library\/Busybox\) must be lowercase/],
        ['a:b:c', /invalid reference format/],
        ['x@sha256:123', /invalid reference format/],
      ] as const) {
        const r = await runHull(['pull', ref], { root });
        assert.equal(r.code, 125, ref);
        assert.match(r.stderr, msg);
        assert.match(r.stderr, /^hull: /);
      }
    }));

  test('a missing archive or tarball is a clear error, not a crash', () =>
    withRoot(async (root) => {
      for (const args of [['load', '-i', '/nonexistent/x.tar'], ['import', '/nonexistent/x.tar']]) {
        const r = await runHull(args, { root });
        assert.equal(r.code, 125, args.join(' '));
        assert.equal(r.stderr, 'hull: open /nonexistent/x.tar: no such file or directory\n');
      }
    }));

  test('unknown flags exit 125; a wrong number of arguments and an unknown command exit 1 with Docker\'s wording', () =>
    withRoot(async (root) => {
      const r = await runHull(['images', '--bogus'], { root });
      assert.equal(r.code, 125);
      assert.match(r.stderr, /unknown option '--bogus'/);
      // docker 20.10 (cobra, cli/required.go): `"docker build" requires exactly 1 argument.`, help pointer, usage, summary; exit 1.
      const cases: [string[], string][] = [
        [['build'], '"hull build" requires exactly 1 argument.'],
        [['build', 'a', 'b'], '"hull build" requires exactly 1 argument.'],
        [['rmi'], '"hull rmi" requires at least 1 argument.'],
        [['tag', 'x'], '"hull tag" requires exactly 2 arguments.'],
        [['image', 'ls', 'a', 'b'], '"hull image ls" requires at most 1 argument.'],
        [['commit', 'a', 'b', 'c'], '"hull commit" requires at least 1 and at most 2 arguments.'],
        [['ps', 'x'], '"hull ps" accepts no arguments.'],
      ];
      for (const [args, first] of cases) {
        const a = await runHull(args, { root });
        assert.equal(a.code, 1, args.join(' '));
        const lines = a.stderr.split('\n');
        assert.equal(lines[0], first, args.join(' '));
        assert.equal(lines[1], `See 'hull ${args[0] === 'image' ? 'image ls' : args[0]} --help'.`);
        assert.match(lines[3]!, /^Usage: {2}hull /);
      }
      const unknown = await runHull(['no-such-verb'], { root });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /unknown command 'no-such-verb'/);
      const f = await runHull(['images', '--filter', 'colour=red'], { root });
      assert.equal(f.code, 125);
      assert.match(f.stderr, /invalid filter 'colour'/);
    }));
});
