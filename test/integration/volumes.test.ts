/**
 * Volumes end to end: the real `hull` binary, real runc, overlayfs and mount(8). One state
 * root for the file (images loaded once, names unique); after the file no container, volume
 * or mount of ours is left.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { removeHullTree } from '../helpers/leftovers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOk, containerTestSkip, HULL_BIN, runHull, uniqueName as uniq } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { buildOciLayout, busyboxImage } from '../helpers/images.js';
import { nativeAddon } from '../../src/util/native.js';

const execFileP = promisify(execFile);
const skip = containerTestSkip(['runc', 'skopeo']);

const IMG = 'vbox:latest';
/** The same image with `VOLUME ["/data", "/seed"]`. */
const VIMG = 'vboxvol:latest';

let work: string;
let root: string;

function hull(args: string[], input?: string): Promise<HullResult> {
  return runHull(args, { root, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });
}

async function ok(args: string[]): Promise<string> {
  return assertOk(args, await hull(args)).stdout;
}

async function volumeNames(): Promise<string[]> {
  return (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
}

async function containerIds(): Promise<string[]> {
  return (await ok(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean).sort();
}

function mountsUnder(under: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(under));
}

/** Image content under /seed (owned 1000:1000, modes 0750/0640) that copy-up must reproduce. */
const SEED_LAYER = [
  { path: 'seed', type: 'dir' as const, mode: 0o750, uid: 1000, gid: 1000 },
  { path: 'seed/f.txt', type: 'file' as const, content: 'seed\n', mode: 0o640, uid: 1000, gid: 1000 },
];

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-vtest-'));
  root = join(work, 'root');
  for (const [name, volumes] of [[IMG, undefined], [VIMG, ['/data', '/seed']]] as const) {
    const layout = join(work, `layout-${name.split(':')[0]}`);
    await buildOciLayout(layout, busyboxImage({ refName: 'latest', extraLayers: [SEED_LAYER], ...(volumes ? { config: { Volumes: [...volumes] } } : {}) }));
    const archive = join(work, `${name.split(':')[0]}.tar`);
    await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `oci-archive:${archive}:${name}`]);
    await ok(['load', '-i', archive]);
  }
});

after(async () => {
  if (skip) return;
  try {
    const ids = await containerIds();
    if (ids.length > 0) await ok(['rm', '-f', ...ids]);
    await ok(['volume', 'prune', '-af']);
    assert.deepEqual(await volumeNames(), []);
    assert.deepEqual(mountsUnder(root), []);
  } finally {
    await removeHullTree(work);
  }
});

describe('volume verbs', { skip }, () => {
  test('create, ls with filters, inspect in Docker\'s shape, rm', async () => {
    const name = uniq('v');
    assert.equal((await ok(['volume', 'create', '--label', 'team=a', '--label', 'flag', name])).trim(), name);
    // Docker's create is idempotent.
    assert.equal((await ok(['volume', 'create', name])).trim(), name);
    const [doc] = JSON.parse(await ok(['volume', 'inspect', name])) as Record<string, unknown>[];
    assert.deepEqual(Object.keys(doc!).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.equal(doc!.Driver, 'local');
    assert.equal(doc!.Scope, 'local');
    assert.deepEqual(doc!.Labels, { team: 'a', flag: '' });
    assert.equal(doc!.Mountpoint, join(root, 'volumes', name, '_data'));
    assert.ok(statSync(doc!.Mountpoint).isDirectory());
    assert.match(doc!.CreatedAt as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    assert.ok((await ok(['volume', 'ls', '-q', '--filter', 'label=team=a'])).split('\n').includes(name));
    assert.ok(!(await ok(['volume', 'ls', '-q', '--filter', 'label=team=b'])).split('\n').includes(name));
    assert.ok((await ok(['volume', 'ls', '-q', '--filter', `name=${name}`])).split('\n').includes(name));
    assert.ok((await ok(['volume', 'ls', '-q', '--filter', 'dangling=true'])).split('\n').includes(name));
    assert.match(await ok(['volume', 'ls']), new RegExp(`^DRIVER +VOLUME NAME\\n(.*\\n)*local +${name}\\n`));
    assert.equal((await ok(['volume', 'ls', '--filter', `name=${name}`, '--format', '{{.Name}} {{.Driver}}'])).trim(), `${name} local`);
    assert.equal((await ok(['volume', 'inspect', '-f', '{{.Name}}', name])).trim(), name);

    const bad = await hull(['volume', 'ls', '--filter', 'bogus=1']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "Error response from daemon: invalid filter 'bogus'\n");

    assert.equal((await ok(['volume', 'rm', name])).trim(), name);
    assert.ok(!existsSync(join(root, 'volumes', name)));
    const missing = await hull(['volume', 'inspect', name]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `Error: No such volume: ${name}\n`);
    const rmMissing = await hull(['volume', 'rm', name]);
    assert.equal(rmMissing.code, 1);
    assert.equal(rmMissing.stderr, `Error response from daemon: get ${name}: no such volume\n`);
    assert.equal((await hull(['volume', 'rm', '-f', name])).code, 0);
  });

  test('bad names, drivers and options are refused with Docker\'s words and nothing is created', async () => {
    const before = await volumeNames();
    const cases: [string[], string][] = [
      [['volume', 'create', 'a@b'], 'create a@b: "a@b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [['volume', 'create', '-d', 'nfsplugin', uniq('v')], 'error looking up volume plugin nfsplugin: plugin "nfsplugin" not found'],
      [['volume', 'create', '-o', 'color=red', 'badopt'], 'create badopt: invalid option: "color"'],
    ];
    for (const [args, message] of cases) {
      const r = await hull(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr, `Error response from daemon: ${message}\n`);
    }
    assert.deepEqual(await volumeNames(), before);
  });

  test('two creates of one name at once, and CLIs killed mid-create, leave one usable volume', async () => {
    const name = uniq('race');
    const results = await Promise.all([1, 2, 3].map(() => hull(['run', '--rm', '-v', `${name}:/x`, IMG, 'sh', '-c', 'echo $$ >> /x/who'])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal((await volumeNames()).filter((n) => n === name).length, 1);
    assert.equal((await ok(['run', '--rm', '-v', `${name}:/x`, IMG, 'cat', '/x/who'])).trim().split('\n').length, 3);

    // Kill `volume create` at staggered moments; whatever each left, later commands work.
    const killed = [0, 1, 2, 3, 4].map((i) => `${name}-k${i}`);
    for (const [i, n] of killed.entries()) {
      const child = spawn(process.execPath, ['--', HULL_BIN, '--root', root, 'volume', 'create', n], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 40 * i));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
    }
    await volumeNames();
    for (const n of killed) {
      assert.equal((await ok(['volume', 'create', n])).trim(), n);
      assert.equal((await ok(['run', '--rm', '-v', `${n}:/k`, IMG, 'sh', '-c', 'echo ok > /k/f && cat /k/f'])).trim(), 'ok');
    }
    await ok(['volume', 'rm', name, ...killed]);
  });
});

describe('containers with volumes', { skip }, () => {
  test('a named volume written by one container is read by the next, and survives them', async () => {
    const v = uniq('data');
    await ok(['run', '--rm', '-v', `${v}:/vol`, IMG, 'sh', '-c', 'echo persisted > /vol/f']);
    assert.equal((await ok(['run', '--rm', '--mount', `type=volume,src=${v},dst=/other`, IMG, 'cat', '/other/f'])).trim(), 'persisted');
    assert.equal(readFileSync(join(root, 'volumes', v, '_data', 'f'), 'utf8'), 'persisted\n');
    // A read-only root keeps its volumes writable.
    assert.equal((await ok(['run', '--rm', '--read-only', '-v', `${v}:/vol`, IMG, 'sh', '-c', 'echo again >> /vol/f && cat /vol/f'])).trim(), 'persisted\nagain');
    await ok(['volume', 'rm', v]);
  });

  test('read-only mounts refuse writes (-v :ro, --mount readonly, --volumes-from :ro)', async () => {
    const v = uniq('ro');
    const src = uniq('rosrc');
    await ok(['create', '--name', src, '-v', `${v}:/vol`, IMG, 'true']);
    for (const args of [['-v', `${v}:/vol:ro`], ['--mount', `type=volume,source=${v},target=/vol,readonly`], ['--volumes-from', `${src}:ro`]]) {
      const r = await hull(['run', '--rm', ...args, IMG, 'sh', '-c', 'echo x > /vol/g']);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /Read-only file system/);
    }
    assert.ok(!existsSync(join(root, 'volumes', v, '_data', 'g')));
    await ok(['rm', src]);
    await ok(['volume', 'rm', v]);
  });

  test('bind mounts work both ways; -v creates a missing source, --mount refuses it', async () => {
    const host = join(work, uniq('bind'));
    await mkdir(host);
    await writeFile(join(host, 'from-host'), 'host\n');
    assert.equal((await ok(['run', '--rm', '-v', `${host}:/b`, IMG, 'sh', '-c', 'cat /b/from-host; echo ctr > /b/from-ctr'])).trim(), 'host');
    assert.equal(readFileSync(join(host, 'from-ctr'), 'utf8'), 'ctr\n');
    assert.equal((await ok(['run', '--rm', '--mount', `type=bind,src=${host},dst=/b,readonly`, IMG, 'cat', '/b/from-ctr'])).trim(), 'ctr');

    const created = join(work, uniq('made'), 'deep');
    await ok(['run', '--rm', '-v', `${created}:/m`, IMG, 'true']);
    assert.ok(statSync(created).isDirectory());

    const missing = join(work, uniq('missing'));
    const ids = await containerIds();
    const r = await hull(['run', '--rm', '--mount', `type=bind,source=${missing},target=/m`, IMG, 'true']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr, `hull: invalid mount config for type "bind": bind source path does not exist: ${missing}\n`);
    assert.ok(!existsSync(missing));
    assert.deepEqual(await containerIds(), ids);
  });

  test('copy-up fills an empty named volume from the image (owners, modes, xattrs), not a non-empty one, not with nocopy', async () => {
    const v = uniq('seed');
    assert.equal((await ok(['run', '--rm', '-v', `${v}:/seed`, IMG, 'cat', '/seed/f.txt'])).trim(), 'seed');
    const data = join(root, 'volumes', v, '_data');
    const dirSt = statSync(data);
    assert.equal(dirSt.mode & 0o7777, 0o750);
    assert.equal(dirSt.uid, 1000);
    const fileSt = statSync(join(data, 'f.txt'));
    assert.equal(fileSt.mode & 0o7777, 0o640);
    assert.equal(fileSt.uid, 1000);
    assert.equal(fileSt.gid, 1000);

    // xattrs too: one set on the image's file (in its stored layer) arrives in a new volume.
    const layers = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', IMG])) as string[];
    const seedFile = join(root, 'layers', 'sha256', layers.at(-1)!.slice('sha256:'.length), 'seed', 'f.txt');
    nativeAddon().lsetxattr(seedFile, 'user.hull.test', Buffer.from('copied'));
    const xv = uniq('xattr');
    await ok(['run', '--rm', '-v', `${xv}:/seed`, IMG, 'true']);
    assert.equal(nativeAddon().lgetxattr(join(root, 'volumes', xv, '_data', 'f.txt'), 'user.hull.test')?.toString(), 'copied');
    await ok(['volume', 'rm', xv]);

    const full = uniq('full');
    await ok(['volume', 'create', full]);
    await writeFile(join(root, 'volumes', full, '_data', 'mine'), 'mine\n');
    assert.equal((await ok(['run', '--rm', '-v', `${full}:/seed`, IMG, 'ls', '/seed'])).trim(), 'mine');

    const nocopy = uniq('nocopy');
    assert.equal((await ok(['run', '--rm', '-v', `${nocopy}:/seed:nocopy`, IMG, 'ls', '-A', '/seed'])).trim(), '');
    assert.equal((await ok(['run', '--rm', '--mount', `type=volume,src=${nocopy}-2,dst=/seed,volume-nocopy`, IMG, 'ls', '-A', '/seed'])).trim(), '');
    await ok(['volume', 'rm', v, full, nocopy, `${nocopy}-2`]);
  });

  test('image VOLUME entries get anonymous volumes (filled from the image); rm -v removes them, rm alone keeps them for prune', async () => {
    const before = await volumeNames();
    const c = uniq('anon');
    await ok(['create', '--name', c, '-v', '/extra', VIMG, 'true']);
    const mounts = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', c])) as Record<string, unknown>[];
    assert.deepEqual(mounts.map((m) => m.Destination).sort(), ['/data', '/extra', '/seed']);
    for (const m of mounts) {
      assert.equal(m.Type, 'volume');
      assert.match(m.Name as string, /^[0-9a-f]{64}$/);
      assert.equal(m.Source, join(root, 'volumes', m.Name as string, '_data'));
      assert.equal(m.Driver, 'local');
      assert.equal(m.RW, true);
      assert.deepEqual(Object.keys(m), ['Type', 'Name', 'Source', 'Destination', 'Driver', 'Mode', 'RW', 'Propagation']);
    }
    const anon = mounts.map((m) => m.Name as string);
    assert.deepEqual(await volumeNames(), [...before, ...anon].sort());
    const [vdoc] = JSON.parse(await ok(['volume', 'inspect', anon[0]!])) as { Labels: Record<string, string> }[];
    assert.deepEqual(vdoc!.Labels, { 'com.docker.volume.anonymous': '' });
    await ok(['start', '-a', c]);
    const seed = mounts.find((m) => m.Destination === '/seed')!;
    assert.equal(readFileSync(join(seed.Source as string, 'f.txt'), 'utf8'), 'seed\n');
    assert.equal((await ok(['ps', '-aq', '--no-trunc', '--filter', `volume=${anon[0]}`])).trim().length, 64);
    assert.equal((await ok(['ps', '-a', '--filter', 'volume=/extra', '--format', '{{.Names}}'])).trim(), c);

    await ok(['rm', '-v', c]);
    assert.deepEqual(await volumeNames(), before);

    // Without -v the anonymous volumes stay, dangling; prune (no -a) takes them but not named ones.
    const named = uniq('keep');
    const c2 = uniq('anon2');
    await ok(['create', '--name', c2, '-v', `${named}:/named`, VIMG, 'true']);
    await ok(['rm', c2]);
    assert.equal((await volumeNames()).length, before.length + 3);
    const pruned = await ok(['volume', 'prune', '-f']);
    assert.match(pruned, /^Deleted Volumes:\n([0-9a-f]{64}\n){2}\nTotal reclaimed space: \S+\n$/);
    assert.deepEqual(await volumeNames(), [...before, named].sort());
    assert.match(await ok(['volume', 'prune', '-af']), new RegExp(`Deleted Volumes:\\n(.*\\n)*${named}\\n`));
    assert.ok(!(await volumeNames()).includes(named));
  });

  test('run --rm removes its anonymous volumes and keeps named ones', async () => {
    const before = await volumeNames();
    const named = uniq('stay');
    await ok(['run', '--rm', '-v', `${named}:/n`, '-v', '/anon', VIMG, 'true']);
    assert.deepEqual(await volumeNames(), [...before, named].sort());
    const d = uniq('rmd');
    await ok(['run', '-d', '--rm', '--name', d, VIMG, 'true']);
    for (let i = 0; i < 200 && (await hull(['inspect', d])).code === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await volumeNames(), [...before, named].sort());
    await ok(['volume', 'rm', named]);
  });

  test('--volumes-from shares the source container\'s mounts; volume rm is refused while any container uses it', async () => {
    const v = uniq('shared');
    const host = join(work, uniq('vfbind'));
    const src = uniq('vfsrc');
    await ok(['run', '--name', src, '-v', `${v}:/shared`, '-v', `${host}:/hb`, IMG, 'sh', '-c', 'echo one > /shared/f; echo two > /hb/f']);
    assert.equal((await ok(['run', '--rm', '--volumes-from', src, IMG, 'cat', '/shared/f', '/hb/f'])).trim(), 'one\ntwo');
    const user = uniq('vfuser');
    await ok(['create', '--name', user, '--volumes-from', `${src}:rw`, IMG, 'true']);
    const srcId = (await ok(['inspect', '-f', '{{.Id}}', src])).trim();
    const userId = (await ok(['inspect', '-f', '{{.Id}}', user])).trim();
    const r = await hull(['volume', 'rm', v]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^Error response from daemon: remove ${v}: volume is in use - \\[(${srcId}, ${userId}|${userId}, ${srcId})\\]\\n$`));
    assert.equal((await hull(['volume', 'rm', '-f', v])).code, 1);
    assert.ok(existsSync(join(root, 'volumes', v, '_data', 'f')));
    assert.ok(!(await ok(['volume', 'ls', '-q', '--filter', 'dangling=true'])).split('\n').includes(v));
    await ok(['rm', src, user]);
    assert.equal((await ok(['volume', 'rm', v])).trim(), v);

    const missing = await hull(['run', '--rm', '--volumes-from', uniq('nosuch'), IMG, 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /^hull: No such container: /);
  });

  test('--mount tmpfs and --tmpfs mount tmpfs with their size; local driver opts mount tmpfs and binds while containers use them', async () => {
    const mounts = await ok(['run', '--rm', '--mount', 'type=tmpfs,dst=/t,tmpfs-size=1m', '--tmpfs', '/u:size=2m', IMG, 'cat', '/proc/mounts']);
    assert.match(mounts, /^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k/m);
    assert.match(mounts, /^tmpfs \/u tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k/m);

    const vt = uniq('tmpfsvol');
    await ok(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=3m', vt]);
    assert.match(await ok(['run', '--rm', '-v', `${vt}:/m`, IMG, 'sh', '-c', 'echo gone > /m/f; cat /proc/mounts']), /^tmpfs \/m tmpfs rw,relatime,size=3072k/m);
    // Mounted while a container uses it, unmounted when the last one stops (tmpfs data goes with it).
    const vtData = join(root, 'volumes', vt, '_data');
    assert.deepEqual(mountsUnder(vtData), []);
    const holder = uniq('holder');
    await ok(['run', '-d', '--name', holder, '-v', `${vt}:/m`, IMG, 'sleep', '60']);
    assert.equal(mountsUnder(vtData).length, 1);
    assert.equal((await ok(['run', '--rm', '-v', `${vt}:/m`, IMG, 'ls', '-A', '/m'])).trim(), '');
    assert.equal(mountsUnder(vtData).length, 1, 'still held by the running container');
    await ok(['rm', '-f', holder]);
    assert.deepEqual(mountsUnder(vtData), []);
    const [doc] = JSON.parse(await ok(['volume', 'inspect', vt])) as { Options: Record<string, string> }[];
    assert.deepEqual(doc!.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=3m' });

    const host = join(work, uniq('optbind'));
    await mkdir(host);
    await writeFile(join(host, 'h'), 'via opts\n');
    const vb = uniq('bindvol');
    await ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${host}`, vb]);
    assert.equal((await ok(['run', '--rm', '-v', `${vb}:/m`, IMG, 'cat', '/m/h'])).trim(), 'via opts');
    await ok(['volume', 'rm', vt, vb]);
    assert.deepEqual(mountsUnder(join(root, 'volumes')), []);
    assert.ok(existsSync(join(host, 'h')), 'removing a bind volume must not delete the device');
  });

  test('cp reaches into volumes; diff and export leave volume contents out', async () => {
    const v = uniq('fsvol');
    const c = uniq('fs');
    await ok(['run', '--name', c, '-v', `${v}:/vol`, IMG, 'sh', '-c', 'echo inside > /vol/in; echo root > /rootfile']);
    const out = join(work, uniq('cpout'));
    await ok(['cp', `${c}:/vol/in`, out]);
    assert.equal(readFileSync(out, 'utf8'), 'inside\n');
    await writeFile(out, 'copied in\n');
    await ok(['cp', out, `${c}:/vol/put`]);
    assert.equal(readFileSync(join(root, 'volumes', v, '_data', 'put'), 'utf8'), 'copied in\n');
    const roC = uniq('fsro');
    await ok(['create', '--name', roC, '-v', `${v}:/vol:ro`, IMG, 'true']);
    const refused = await hull(['cp', out, `${roC}:/vol/other`]);
    assert.equal(refused.code, 125);
    assert.equal(refused.stderr, 'hull: mounted volume is marked read-only\n');
    assert.ok(!existsSync(join(root, 'volumes', v, '_data', 'other')));
    await ok(['rm', roC]);

    const diff = (await ok(['diff', c])).split('\n').filter(Boolean);
    assert.ok(diff.includes('A /rootfile'), diff.join('\n'));
    assert.ok(!diff.some((l) => l.includes('/vol')), diff.join('\n'));
    const tarPath = join(work, uniq('export'));
    await execFileP('sh', ['-c', `node -- ${HULL_BIN} --root ${root} export ${c} > ${tarPath}`]);
    const { stdout: listing } = await execFileP('tar', ['-tf', tarPath]);
    assert.ok(listing.split('\n').includes('rootfile'));
    assert.ok(!listing.includes('vol/in'));
    await ok(['rm', c]);
    await ok(['volume', 'rm', v]);
  });
});

describe('bad mount flags', { skip }, () => {
  test('each is refused with Docker\'s message and exit 125, creating nothing', async () => {
    const host = join(work, uniq('h'));
    const cases: [string[], string][] = [
      [['-v', 'vol1:rel'], `invalid volume specification: 'vol1:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`],
      [['-v', `${host}:/x:bogus`], 'invalid mode: bogus'],
      [['-v', 'a:b:c:d'], "invalid volume specification: 'a:b:c:d'"],
      [['-v', `${host}:/`], `invalid volume specification: '${host}:/': invalid specification: destination can't be '/'`],
      [['-v', 'relative'], `invalid volume specification: 'relative': invalid mount config for type "volume": invalid mount path: 'relative' mount path must be absolute`],
      [['-v', 'bad@name:/x'], 'create bad@name: "bad@name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'],
      [['-v', 'dupa:/x', '-v', `${host}:/x`], 'Duplicate mount point: /x'],
      [['-v', 'dupb:/x', '--mount', 'type=tmpfs,dst=/x'], 'Duplicate mount point: /x'],
      [['--mount', 'type=foo,dst=/x'], 'invalid mount config for type "foo": mount type unknown'],
      [['--mount', 'src=v,dst=/x'], 'invalid argument "src=v,dst=/x" for "--mount" flag: type is required'],
      [['--mount', 'type=volume,src=v'], 'invalid argument "type=volume,src=v" for "--mount" flag: target is required'],
      [['--mount', 'type=volume,dst=/x,color=red'], "invalid argument \"type=volume,dst=/x,color=red\" for \"--mount\" flag: unexpected key 'color' in 'color=red'"],
      [['--mount', 'type=bind,src=/tmp,dst=/x,volume-nocopy'], "invalid argument \"type=bind,src=/tmp,dst=/x,volume-nocopy\" for \"--mount\" flag: cannot mix 'volume-*' options with mount type 'bind'"],
      [['--mount', 'type=volume,dst=/x,readonly=maybe'], 'invalid argument "type=volume,dst=/x,readonly=maybe" for "--mount" flag: invalid value for readonly: maybe'],
      [['--mount', 'type=bind,src=rel,dst=/x'], `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [['--mount', 'type=tmpfs,src=x,dst=/x'], 'invalid mount config for type "tmpfs": field Source must not be specified'],
      [['--volumes-from', 'c:bogus'], 'invalid mode: bogus'],
    ];
    const volumes = await volumeNames();
    const ids = await containerIds();
    for (const [flags, message] of cases) {
      for (const verb of ['run', 'create']) {
        const r = await hull([verb, '--rm', ...flags, VIMG, 'true'].filter((a) => verb === 'run' || a !== '--rm'));
        assert.equal(r.code, 125, `${verb} ${flags.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr, `hull: ${message}\n`, flags.join(' '));
      }
    }
    assert.deepEqual(await volumeNames(), volumes);
    assert.deepEqual(await containerIds(), ids);
    assert.ok(!existsSync(host));
    assert.deepEqual(await readdir(join(root, 'volumes')).then((l) => l.filter((n) => n !== 'tmp').sort()), [...volumes].sort());
  });
});
