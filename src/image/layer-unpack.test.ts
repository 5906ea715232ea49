import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { isHullError } from '../util/errors.js';
import { nativeAddon } from '../util/native.js';
import { sniffingDecompressor } from './compression.js';
import { unpackLayer } from './layer-unpack.js';

type EntryHeader = Parameters<ReturnType<typeof pack>['entry']>[0];
type TarEntry = [EntryHeader, (string | Buffer)?];

const MTIME = new Date('2021-06-01T12:00:00Z');
const DIR_MTIME = new Date('2020-01-02T03:04:05Z');

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  for (const [header, body] of entries) {
    if (body === undefined) p.entry({ mtime: MTIME, ...header });
    else p.entry({ mtime: MTIME, ...header }, body);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** One 512-byte ustar header block; enough of the format for hand-built PAX headers. */
function ustarBlock(name: string, typeflag: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 'utf8');
  block.write('0000644\0', 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  block.write(`${Math.floor(MTIME.getTime() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  block.write(typeflag, 156);
  block.write('ustar\0' + '00', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/**
 * A PAX header with binary values, which tar-stream's pack() cannot write (it encodes strings
 * as UTF-8), followed by the entry it applies to.
 */
async function tarWithBinaryPax(records: Record<string, Buffer>, entry: TarEntry): Promise<Buffer> {
  const body = Buffer.concat(
    Object.entries(records).map(([key, value]) => {
      const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
      let length = rest.length + 1;
      while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
      return Buffer.concat([Buffer.from(String(length)), rest]);
    }),
  );
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([ustarBlock('PaxHeaders/entry', 'x', body.length), body, padding, await tarOf([entry])]);
}

function xattr(path: string, name: string): Buffer | null {
  return nativeAddon().lgetxattr(path, name);
}

const isRoot = process.getuid?.() === 0;

describe('unpackLayer', { skip: !isRoot && 'needs root: chown, mknod and trusted.* xattrs' }, () => {
  let outer: string;
  let dest: string;

  beforeEach(async () => {
    // `outer` is the sentinel: an escaping entry would land next to `victim`, or change it.
    outer = await mkdtemp(join(tmpdir(), 'hull-unpack-'));
    dest = join(outer, 'layer');
    await writeFile(join(outer, 'victim'), 'original');
  });

  afterEach(async () => {
    await rm(outer, { recursive: true, force: true });
  });

  async function unpack(entries: TarEntry[]): ReturnType<typeof unpackLayer> {
    return unpackLayer(Readable.from([await tarOf(entries)]), dest);
  }

  async function assertNothingOutside(): Promise<void> {
    assert.deepEqual((await readdir(outer)).sort(), ['layer', 'victim']);
    assert.equal(await readFile(join(outer, 'victim'), 'utf8'), 'original');
  }

  async function assertUnsafe(entries: TarEntry[], entryName: string): Promise<void> {
    await assert.rejects(unpack(entries), (e) => {
      assert.ok(isHullError(e, 'LAYER_UNSAFE'), `expected LAYER_UNSAFE, got ${String(e)}`);
      assert.ok(e.message.includes(`"${entryName}"`), e.message);
      return true;
    });
    await assertNothingOutside();
  }

  describe('entries', () => {
    it('writes regular files with content, owner, mode and mtime, and counts them', async () => {
      const big = randomBytes(3 * 1024 * 1024 + 17);
      const result = await unpack([
        [{ name: 'etc/', type: 'directory', mode: 0o755 }],
        [{ name: 'etc/hostname', mode: 0o640, uid: 1000, gid: 1001 }, 'box\n'],
        [{ name: 'big.bin', mode: 0o644 }, big],
        [{ name: 'empty', mode: 0o600 }, ''],
      ]);
      assert.deepEqual(result, { entries: 4, size: 4 + big.length });
      assert.equal(await readFile(join(dest, 'etc/hostname'), 'utf8'), 'box\n');
      assert.ok((await readFile(join(dest, 'big.bin'))).equals(big));
      const st = await lstat(join(dest, 'etc/hostname'));
      assert.equal(st.mode & 0o7777, 0o640);
      assert.equal(st.uid, 1000);
      assert.equal(st.gid, 1001);
      assert.equal(st.mtimeMs, MTIME.getTime());
      assert.equal((await lstat(join(dest, 'empty'))).size, 0);
    });

    it('keeps setuid, setgid and sticky bits on non-root owners (mode after chown)', async () => {
      await unpack([
        [{ name: 'bin/su', mode: 0o4755, uid: 1, gid: 2 }, '#!'],
        [{ name: 'bin/wall', mode: 0o2755, uid: 0, gid: 5 }, '#!'],
        [{ name: 'tmp/', type: 'directory', mode: 0o1777, uid: 3, gid: 3 }],
      ]);
      assert.equal((await lstat(join(dest, 'bin/su'))).mode & 0o7777, 0o4755);
      assert.equal((await lstat(join(dest, 'bin/wall'))).mode & 0o7777, 0o2755);
      const tmp = await lstat(join(dest, 'tmp'));
      assert.equal(tmp.mode & 0o7777, 0o1777);
      assert.equal(tmp.uid, 3);
    });

    it('sets directory mtimes after their children are written', async () => {
      await unpack([
        [{ name: 'usr/', type: 'directory', mode: 0o755, mtime: DIR_MTIME }],
        [{ name: 'usr/lib/', type: 'directory', mode: 0o700, mtime: DIR_MTIME }],
        [{ name: 'usr/lib/a', mode: 0o644 }, 'a'],
        [{ name: 'usr/lib/b', type: 'symlink', linkname: 'a' }],
      ]);
      for (const dir of ['usr', 'usr/lib']) assert.equal((await lstat(join(dest, dir))).mtimeMs, DIR_MTIME.getTime(), dir);
      assert.equal((await lstat(join(dest, 'usr/lib'))).mode & 0o7777, 0o700);
    });

    it('creates missing parent directories', async () => {
      await unpack([[{ name: 'a/b/c/file' }, 'x']]);
      assert.equal(await readFile(join(dest, 'a/b/c/file'), 'utf8'), 'x');
      assert.ok((await lstat(join(dest, 'a/b'))).isDirectory());
    });

    it('writes symlinks as they are, with owner and mtime', async () => {
      await unpack([
        [{ name: 'lib', type: 'symlink', linkname: 'usr/lib', uid: 7, gid: 8 }],
        [{ name: 'abs', type: 'symlink', linkname: '/etc/passwd' }],
      ]);
      assert.equal(await readlink(join(dest, 'lib')), 'usr/lib');
      assert.equal(await readlink(join(dest, 'abs')), '/etc/passwd');
      const st = await lstat(join(dest, 'lib'));
      assert.equal(st.uid, 7);
      assert.equal(st.gid, 8);
      assert.equal(st.mtimeMs, MTIME.getTime());
    });

    it('links hardlinks to the earlier entry', async () => {
      await unpack([
        [{ name: 'bin/gzip', mode: 0o755 }, 'gzip'],
        [{ name: 'bin/gunzip', type: 'link', linkname: 'bin/gzip' }],
        [{ name: 'zcat', type: 'link', linkname: '/bin/gzip' }],
      ]);
      const ino = (await lstat(join(dest, 'bin/gzip'))).ino;
      assert.equal((await lstat(join(dest, 'bin/gunzip'))).ino, ino);
      assert.equal((await lstat(join(dest, 'zcat'))).ino, ino);
      assert.equal((await lstat(join(dest, 'bin/gzip'))).nlink, 3);
    });

    it('refuses hardlinks to files this layer does not contain', async () => {
      await assert.rejects(unpack([[{ name: 'x', type: 'link', linkname: 'nothing/here' }]]), (e) => isHullError(e, 'ARCHIVE_INVALID'));
    });

    it('makes character and block devices and fifos', async () => {
      await unpack([
        [{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
        [{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 }],
        [{ name: 'run/initctl', type: 'fifo', mode: 0o600 }],
      ]);
      const nul = await lstat(join(dest, 'dev/null'));
      assert.ok(nul.isCharacterDevice());
      assert.equal(nul.rdev, (1 << 8) | 3);
      assert.equal(nul.mode & 0o7777, 0o666);
      const sda = await lstat(join(dest, 'dev/sda'));
      assert.ok(sda.isBlockDevice());
      assert.equal(sda.rdev, 8 << 8);
      assert.equal(sda.gid, 6);
      assert.ok((await lstat(join(dest, 'run/initctl'))).isFIFO());
    });

    it('applies PAX xattrs', async () => {
      await unpack([
        [{ name: 'file', pax: { 'SCHILY.xattr.user.comment': 'hello' } }, 'x'],
        [{ name: 'dir/', type: 'directory', pax: { 'SCHILY.xattr.user.kind': 'dir' } }],
      ]);
      assert.equal(xattr(join(dest, 'file'), 'user.comment')?.toString(), 'hello');
      assert.equal(xattr(join(dest, 'dir'), 'user.kind')?.toString(), 'dir');
    });

    it('keeps binary xattr values byte for byte (file capabilities)', async () => {
      // VFS_CAP_REVISION_2 with the effective flag, permitting CAP_NET_RAW (13).
      const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, ...Array<number>(12).fill(0)]);
      const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a]);
      const tar = await tarWithBinaryPax(
        { 'SCHILY.xattr.security.capability': capability, 'SCHILY.xattr.user.binary': binary },
        [{ name: 'bin/ping', mode: 0o755 }, 'ping'],
      );
      await unpackLayer(Readable.from([tar]), dest);
      assert.deepEqual(xattr(join(dest, 'bin/ping'), 'security.capability'), capability);
      assert.deepEqual(xattr(join(dest, 'bin/ping'), 'user.binary'), binary);
    });

    it('ignores overlayfs xattrs carried by the layer itself', async () => {
      await unpack([[{ name: 'dir/', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } }]]);
      assert.equal(xattr(join(dest, 'dir'), 'trusted.overlay.redirect'), null);
    });

    it('handles names longer than 100 bytes', async () => {
      const name = `${'deep/'.repeat(30)}${'n'.repeat(120)}`;
      await unpack([[{ name }, 'long']]);
      assert.equal(await readFile(join(dest, name), 'utf8'), 'long');
    });

    it('treats a leading slash as relative to the layer, as Docker does', async () => {
      await unpack([[{ name: '/etc/x' }, 'x'], [{ name: './etc/y' }, 'y']]);
      assert.equal(await readFile(join(dest, 'etc/x'), 'utf8'), 'x');
      assert.equal(await readFile(join(dest, 'etc/y'), 'utf8'), 'y');
    });

    it('reads old-style directories (regular-file type with a trailing slash)', async () => {
      await unpack([[{ name: 'olddir/', type: 'file', mode: 0o750 }, '']]);
      const st = await lstat(join(dest, 'olddir'));
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o7777, 0o750);
    });

    it('unpacks a gzip layer through sniffingDecompressor', async () => {
      const tar = await tarOf([[{ name: 'f' }, 'zipped']]);
      const stream = Readable.from([gzipSync(tar)]).pipe(sniffingDecompressor());
      await unpackLayer(stream, dest);
      assert.equal(await readFile(join(dest, 'f'), 'utf8'), 'zipped');
    });
  });

  describe('whiteouts', () => {
    it('turns .wh.<name> into a 0/0 character device owned by root', async () => {
      await unpack([
        [{ name: 'etc/', type: 'directory' }],
        [{ name: 'etc/.wh.motd', uid: 1000, gid: 1000 }, ''],
        [{ name: '.wh.top' }, ''],
      ]);
      for (const path of ['etc/motd', 'top']) {
        const st = await lstat(join(dest, path));
        assert.ok(st.isCharacterDevice(), path);
        assert.equal(st.rdev, 0);
        assert.equal(st.uid, 0);
        assert.equal(st.gid, 0);
      }
      assert.deepEqual((await readdir(join(dest, 'etc'))).sort(), ['motd']);
    });

    it('marks directories opaque for .wh..wh..opq without creating the marker', async () => {
      await unpack([
        [{ name: 'var/', type: 'directory' }],
        [{ name: 'var/cache/', type: 'directory' }],
        [{ name: 'var/cache/.wh..wh..opq' }, ''],
        [{ name: 'var/cache/new' }, 'n'],
      ]);
      assert.equal(xattr(join(dest, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
      assert.equal(xattr(join(dest, 'var'), 'trusted.overlay.opaque'), null);
      assert.deepEqual(await readdir(join(dest, 'var/cache')), ['new']);
    });

    it('marks the layer root opaque for a top-level .wh..wh..opq', async () => {
      await unpack([[{ name: '.wh..wh..opq' }, '']]);
      assert.equal(xattr(dest, 'trusted.overlay.opaque')?.toString(), 'y');
      assert.deepEqual(await readdir(dest), []);
    });

    it('ignores other AUFS metadata entries', async () => {
      await unpack([
        [{ name: '.wh..wh.plnk/', type: 'directory' }],
        [{ name: '.wh..wh.plnk/123.456' }, 'x'],
        [{ name: '.wh..wh.aufs' }, ''],
      ]);
      assert.deepEqual(await readdir(dest), []);
    });

    it('replaces an entry of the same name', async () => {
      await unpack([
        [{ name: 'gone/', type: 'directory' }],
        [{ name: 'gone/child' }, 'x'],
        [{ name: '.wh.gone' }, ''],
      ]);
      assert.ok((await lstat(join(dest, 'gone'))).isCharacterDevice());
    });

    it('refuses whiteouts that name . or ..', async () => {
      await assertUnsafe([[{ name: 'a/.wh...' }, '']], 'a/.wh...');
    });
  });

  describe('replacement', () => {
    it('lets a later entry of the same name win', async () => {
      await unpack([
        [{ name: 'f', mode: 0o600 }, 'first'],
        [{ name: 'f', mode: 0o644 }, 'second'],
        [{ name: 'd' }, 'file'],
        [{ name: 'd/', type: 'directory' }],
        [{ name: 'e/', type: 'directory' }],
        [{ name: 'e/child' }, 'x'],
        [{ name: 'e', type: 'symlink', linkname: 'f' }],
      ]);
      assert.equal(await readFile(join(dest, 'f'), 'utf8'), 'second');
      assert.equal((await lstat(join(dest, 'f'))).mode & 0o7777, 0o644);
      assert.ok((await lstat(join(dest, 'd'))).isDirectory());
      assert.equal(await readlink(join(dest, 'e')), 'f');
    });

    it('merges a directory into an existing one, taking the new metadata', async () => {
      await unpack([
        [{ name: 'd/', type: 'directory', mode: 0o700 }],
        [{ name: 'd/kept' }, 'k'],
        [{ name: 'd/', type: 'directory', mode: 0o755, uid: 9 }],
      ]);
      assert.equal(await readFile(join(dest, 'd/kept'), 'utf8'), 'k');
      const st = await lstat(join(dest, 'd'));
      assert.equal(st.mode & 0o7777, 0o755);
      assert.equal(st.uid, 9);
    });

    it('replaces what already exists in dest', async () => {
      await mkdir(join(dest, 'dir'), { recursive: true });
      await writeFile(join(dest, 'dir/old'), 'old');
      await writeFile(join(dest, 'file'), 'old');
      await unpack([
        [{ name: 'dir' }, 'now a file'],
        [{ name: 'file' }, 'new'],
      ]);
      assert.equal(await readFile(join(dest, 'dir'), 'utf8'), 'now a file');
      assert.equal(await readFile(join(dest, 'file'), 'utf8'), 'new');
    });

    it('replaces a symlink rather than writing through it', async () => {
      await unpack([
        [{ name: 'link', type: 'symlink', linkname: join(outer, 'victim') }],
        [{ name: 'link', mode: 0o644 }, 'replaced'],
        [{ name: 'dev', type: 'symlink', linkname: join(outer, 'victim') }],
        [{ name: 'dev', type: 'fifo' }],
      ]);
      assert.equal(await readFile(join(dest, 'link'), 'utf8'), 'replaced');
      assert.ok((await lstat(join(dest, 'dev'))).isFIFO());
      await assertNothingOutside();
    });
  });

  describe('safety', () => {
    it('refuses ../x', async () => {
      await assertUnsafe([[{ name: '../x' }, 'escaped']], '../x');
    });

    it('refuses a/../../x', async () => {
      await assertUnsafe([[{ name: 'a/' , type: 'directory' }], [{ name: 'a/../../x' }, 'escaped']], 'a/../../x');
    });

    it('refuses /../x (a leading slash does not clamp ..)', async () => {
      await assertUnsafe([[{ name: '/../x' }, 'escaped']], '/../x');
    });

    it('refuses writing through a symlink to /', async () => {
      // Through `evil`, this path is the sentinel directory itself.
      const through = `evil${outer}/escaped`;
      await assertUnsafe([[{ name: 'evil', type: 'symlink', linkname: '/' }], [{ name: through }, 'escaped']], through);
    });

    it('refuses writing through a symlink to ..', async () => {
      await assertUnsafe([[{ name: 'up', type: 'symlink', linkname: '..' }], [{ name: 'up/escaped' }, 'escaped']], 'up/escaped');
    });

    it('refuses creating directories and devices through a symlink', async () => {
      await assertUnsafe([[{ name: 'up', type: 'symlink', linkname: '..' }], [{ name: 'up/d/', type: 'directory' }]], 'up/d/');
      await assertUnsafe([[{ name: 'up', type: 'symlink', linkname: '..' }], [{ name: 'up/.wh.victim' }, '']], 'up/.wh.victim');
      await assertUnsafe([[{ name: 'up', type: 'symlink', linkname: '..' }], [{ name: 'up/.wh..wh..opq' }, '']], 'up/.wh..wh..opq');
    });

    it('refuses a symlinked directory already in dest', async () => {
      await mkdir(dest);
      await symlink(outer, join(dest, 'pre'));
      await assertUnsafe([[{ name: 'pre/escaped' }, 'escaped']], 'pre/escaped');
    });

    it('refuses hardlinks to ../../etc/passwd', async () => {
      await assertUnsafe([[{ name: 'x', type: 'link', linkname: '../../etc/passwd' }]], 'x');
      await assert.rejects(lstat(join(dest, 'x')));
    });

    it('refuses hardlinks through a symlink', async () => {
      await assertUnsafe(
        [
          [{ name: 's', type: 'symlink', linkname: outer }],
          [{ name: 'x', type: 'link', linkname: 's/victim' }],
        ],
        'x',
      );
      await assert.rejects(lstat(join(dest, 'x')));
    });

    it('refuses hardlinks through a directory later replaced by a symlink', async () => {
      await assertUnsafe(
        [
          [{ name: 'd/f' }, 'f'],
          [{ name: 'd', type: 'symlink', linkname: outer }],
          [{ name: 'x', type: 'link', linkname: 'd/f' }],
        ],
        'x',
      );
    });
  });

  describe('malformed archives', () => {
    it('reports garbage as ARCHIVE_INVALID', async () => {
      await assert.rejects(unpackLayer(Readable.from([Buffer.alloc(1024, 0x41)]), dest), (e) => isHullError(e, 'ARCHIVE_INVALID'));
    });

    it('reports a truncated archive as ARCHIVE_INVALID', async () => {
      const tar = await tarOf([[{ name: 'f' }, randomBytes(10_000)]]);
      await assert.rejects(unpackLayer(Readable.from([tar.subarray(0, 4000)]), dest), (e) => isHullError(e, 'ARCHIVE_INVALID'));
    });

    it('passes errors of the input stream through unchanged', async () => {
      const failure = new Error('connection reset');
      const tar = await tarOf([[{ name: 'f' }, randomBytes(10_000)]]);
      const source = new Readable({
        read() {
          this.push(tar.subarray(0, 2048));
          this.destroy(failure);
        },
      });
      await assert.rejects(unpackLayer(source, dest), (e) => e === failure);
    });

    it('stops with an AbortError when aborted', async () => {
      const tar = await tarOf([[{ name: 'f' }, 'x']]);
      await assert.rejects(unpackLayer(Readable.from([tar]), dest, { signal: AbortSignal.abort() }), (e) => e instanceof Error && e.name === 'AbortError');
    });
  });
});
