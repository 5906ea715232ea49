import assert from 'node:assert/strict';
import { constants, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, chown, link, lutimes, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { extract } from 'tar-stream';
import { nativeAddon } from '../util/native.js';
import { packLayer, packPath, packRootfs, paxRecord } from './layer-pack.js';
import { unpackLayer } from './layer-unpack.js';

const isRoot = process.getuid?.() === 0;
const T1 = new Date('2022-03-04T05:06:07Z');
const T2 = new Date('2019-09-09T09:09:09Z');
/** A binary file capability (cap_net_raw+ep), the kind of value UTF-8 handling would corrupt. */
const CAPABILITY = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const LONG = `${'d'.repeat(60)}/${'e'.repeat(70)}/${'f'.repeat(120)}`;

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function entryNames(tar: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = extract();
  Readable.from([tar]).pipe(ex);
  for await (const e of ex) {
    names.push(e.header.name);
    e.resume();
  }
  return names;
}

/** Everything the round trip must keep, per path, in a comparable form. */
function describeTree(root: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = lstatSync(p);
      const xattrs = Object.fromEntries(
        nativeAddon()
          .llistxattr(p)
          .sort()
          .map((n) => [n, nativeAddon().lgetxattr(p, n)!.toString('hex')]),
      );
      const d: Record<string, unknown> = { type: st.mode & constants.S_IFMT, uid: st.uid, gid: st.gid, xattrs };
      if (!st.isSymbolicLink()) d.mode = st.mode & 0o7777;
      if (!st.isDirectory()) d.mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isFile()) d.content = readFileSync(p, 'utf8');
      if (st.isSymbolicLink()) d.target = readlinkSync(p);
      if (st.isCharacterDevice() || st.isBlockDevice()) d.rdev = st.rdev;
      if (st.nlink > 1 && !st.isDirectory()) {
        d.linkedWith = inodes.get(st.ino) ?? r;
        inodes.set(st.ino, inodes.get(st.ino) ?? r);
      }
      out[r] = d;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

describe('layer-pack', { skip: !isRoot && 'needs root: chown, mknod and trusted.* xattrs' }, () => {
  let work: string;
  let upper: string;

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-pack-'));
    upper = join(work, 'upper');
    const n = nativeAddon();
    await mkdir(join(upper, 'etc'), { recursive: true });
    await writeFile(join(upper, 'etc', 'hostname'), 'box\n');
    await chown(join(upper, 'etc', 'hostname'), 1000, 1001);
    await chmod(join(upper, 'etc', 'hostname'), 0o640);
    await writeFile(join(upper, 'suid'), '#!/bin/sh\n');
    await chmod(join(upper, 'suid'), 0o4755);
    n.lsetxattr(join(upper, 'suid'), 'security.capability', CAPABILITY);
    n.lsetxattr(join(upper, 'suid'), 'user.note', Buffer.from('ünïcode'));
    n.lsetxattr(join(upper, 'suid'), 'trusted.overlay.origin', Buffer.from('x'));
    await link(join(upper, 'suid'), join(upper, 'suid-link'));
    await symlink('../etc/hostname', join(upper, 'etc', 'link'));
    await lutimes(join(upper, 'etc', 'link'), T2, T2);
    n.mknod(join(upper, 'null'), constants.S_IFCHR | 0o666, 1, 3);
    n.mknod(join(upper, 'fifo'), constants.S_IFIFO | 0o644, 0, 0);
    // overlayfs's forms: a whiteout for /gone, an opaque /data with one new file.
    n.mknod(join(upper, 'gone'), constants.S_IFCHR, 0, 0);
    await mkdir(join(upper, 'data'));
    n.lsetxattr(join(upper, 'data'), 'trusted.overlay.opaque', Buffer.from('y'));
    await writeFile(join(upper, 'data', 'new'), 'new\n');
    await mkdir(join(upper, LONG), { recursive: true });
    await writeFile(join(upper, LONG, 'ファイル'), 'long and unicode\n');
    for (const f of ['etc/hostname', 'suid', 'null', 'fifo', 'data/new', `${LONG}/ファイル`]) await utimes(join(upper, f), T1, T1);
    await utimes(join(upper, 'etc'), T2, T2);
  });

  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('converts overlay whiteouts and opaque dirs to OCI markers, in byte order, deterministically', async () => {
    const tar = await bytes(packLayer(upper));
    const names = await entryNames(tar);
    assert.deepEqual(names.slice(0, 3), ['data/', 'data/.wh..wh..opq', 'data/new']);
    // A whiteout sorts under the name it deletes, as Docker's walk of the upper dir puts it.
    assert.equal(names.indexOf('.wh.gone'), names.indexOf('fifo') + 1);
    assert.ok(!names.includes('gone'));
    assert.ok(names.includes(`${LONG}/ファイル`));
    assert.ok(names.indexOf('etc/') < names.indexOf('etc/hostname'));
    // Names sort byte-wise and depth first: `suid` before `suid-link`.
    assert.ok(names.indexOf('suid') < names.indexOf('suid-link'));
    assert.deepEqual(await bytes(packLayer(upper)), tar, 'the same tree packs to the same bytes');
  });

  it('round-trips through unpackLayer: types, owners, modes, times, xattrs, hardlinks, devices', async () => {
    const dest = join(work, 'dest');
    await unpackLayer(packLayer(upper), dest);
    const want = describeTree(upper);
    const got = describeTree(dest);
    // overlay's own attributes are never carried.
    const strip = (t: Record<string, unknown>): Record<string, unknown> => {
      for (const v of Object.values(t)) {
        const x = (v as { xattrs: Record<string, string> }).xattrs;
        for (const k of Object.keys(x)) if (k.startsWith('trusted.overlay.') && k !== 'trusted.overlay.opaque') delete x[k];
      }
      return t;
    };
    assert.deepEqual(got, strip(want));
    assert.deepEqual(nativeAddon().lgetxattr(join(dest, 'suid'), 'security.capability'), CAPABILITY);
    assert.equal(lstatSync(join(dest, 'suid')).ino, lstatSync(join(dest, 'suid-link')).ino);
  });

  it('packs a plain tree without converting anything, and leaves out excluded paths', async () => {
    const names = await entryNames(await bytes(packRootfs(upper)));
    assert.ok(names.includes('gone'));
    assert.ok(!names.includes('.wh.gone') && !names.includes('data/.wh..wh..opq'));
    const some = await entryNames(await bytes(packLayer(upper, (rel) => rel === 'etc' || rel === 'data/new')));
    assert.ok(!some.some((n) => n.startsWith('etc')));
    assert.ok(some.includes('data/') && !some.includes('data/new'));
  });

  it('names the source itself when asked (cp): a directory as name/, a file as name', async () => {
    const dir = await entryNames(await bytes(packPath(join(upper, 'etc'), { name: 'renamed' })));
    assert.deepEqual(dir, ['renamed/', 'renamed/hostname', 'renamed/link']);
    const file = await entryNames(await bytes(packPath(join(upper, 'etc', 'hostname'), { name: 'h' })));
    assert.deepEqual(file, ['h']);
    const link = await entryNames(await bytes(packPath(join(upper, 'etc', 'link'), { name: 'l', followSource: true })));
    assert.deepEqual(link, ['l']);
  });

  it('writes PAX record lengths that count themselves', () => {
    for (const size of [0, 1, 5, 6, 7, 94, 95, 96, 97, 98, 990, 995, 996, 997]) {
      const rec = paxRecord('k', Buffer.alloc(size, 0x61));
      assert.equal(Number(rec.toString('latin1').split(' ')[0]), rec.length, `value of ${size} bytes`);
    }
  });
});
