/**
 * diff, commit, export and cp end to end: the real `hull` binary on real runc and overlayfs.
 * The symlink tests plant links to `/`, to `../../..` and to an absolute host path inside a
 * container and check that a host sentinel directory is never read or changed through them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readlink, writeFile } from 'node:fs/promises';
import { removeHullTree } from '../helpers/leftovers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOk, containerTestSkip, runHull, uniqueName as uniq } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { loadBusybox } from '../helpers/images.js';

const execFileP = promisify(execFile);

const skip = containerTestSkip(['runc', 'skopeo']);

let work: string;
let root: string;
let sentinel: string;

function hull(args: string[], input?: string | Buffer): Promise<HullResult> {
  return runHull(args, { root, ...(input !== undefined ? { input } : {}), timeoutMs: 60_000 });
}

async function ok(args: string[], input?: string | Buffer): Promise<string> {
  return assertOk(args, await hull(args, input)).stdout;
}

/** A container that ran `script` to completion. */
async function ran(script: string): Promise<string> {
  const name = uniq('fs');
  await ok(['run', '--name', name, 'busybox', 'sh', '-c', script]);
  return name;
}

async function tarList(file: string): Promise<string[]> {
  const { stdout } = await execFileP('tar', ['-tf', file], { maxBuffer: 16 << 20 });
  return stdout.split('\n').filter(Boolean);
}

/** Overlay mounts hull left under the test root. */
function mountsUnderRoot(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(root));
}

/** The sentinel's whole state: names, contents and link targets. */
async function sentinelState(): Promise<string> {
  const out: string[] = [];
  for (const n of readdirSync(sentinel).sort()) {
    const p = join(sentinel, n);
    const st = await lstat(p);
    out.push(`${n}:${st.isSymbolicLink() ? await readlink(p) : st.isFile() ? await readFile(p, 'utf8') : 'dir'}:${st.mode}:${st.mtimeMs}`);
  }
  return out.join('\n');
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-cfs-'));
  root = join(work, 'root');
  sentinel = join(work, 'sentinel');
  await mkdir(sentinel);
  await writeFile(join(sentinel, 'secret'), 'host secret\n');
  await loadBusybox(root, work);
});

after(async () => {
  if (skip) return;
  const ids = (await hull(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  for (const id of ids) await hull(['rm', '-f', id]);
  assert.deepEqual(mountsUnderRoot(), [], 'no mount of ours is left');
  await removeHullTree(work);
});

describe('diff', { skip }, () => {
  test("lists A/C/D in Docker's order, parents as C, runc's mount points left out", async () => {
    const c = await ran('echo hi > /root/f; rm /etc/passwd; mkdir -p /usr/share/x; touch /usr/share/x/y; rm -rf /data; mkdir /data; echo z > /data/z; echo x >> /tmp/t');
    const out = await ok(['diff', c]);
    assert.equal(
      out,
      [
        'C /data',
        'D /data/new-link.txt',
        'D /data/new.txt',
        'A /data/z',
        'C /etc',
        'D /etc/passwd',
        'C /root',
        'A /root/f',
        'C /tmp',
        'A /tmp/t',
        'C /usr',
        'A /usr/share',
        'A /usr/share/x',
        'A /usr/share/x/y',
        '',
      ].join('\n'),
    );
    assert.equal(await ok(['container', 'diff', c]), out);
  });

  test('a container that changed nothing has an empty diff; a missing one is an error', async () => {
    assert.equal(await ok(['diff', await ran('true')]), '');
    const r = await hull(['diff', 'no-such-container']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /No such container: no-such-container/);
  });
});

describe('commit', { skip }, () => {
  test('the new image runs with the change, the deletion hidden, the config and history Docker gives it', async () => {
    const c = await ran('echo committed > /root/file; rm /etc/group');
    const tag = `${uniq('snap')}:v1`;
    const id = (await ok(['commit', '-a', 'Tester <t@example.com>', '-m', 'my message', '-c', 'ENV FOO=bar', '-c', 'LABEL l=1', c, tag])).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const run = await hull(['run', '--rm', tag, 'sh', '-c', 'cat /root/file; echo $FOO; test -e /etc/group && echo group-still-there; cat /etc/passwd | head -1']);
    assert.equal(run.stdout, 'committed\nbar\nroot:x:0:0:root:/root:/bin/sh\n');
    const cfg = JSON.parse(await ok(['inspect', '-f', '{{json .}}', tag])) as {
      Id: string;
      Parent: string;
      Author: string;
      Config: { Env: string[]; Labels: Record<string, string>; Cmd: string[] };
      RootFS: { Layers: string[] };
    };
    assert.equal(cfg.Id, id);
    assert.equal(cfg.Author, 'Tester <t@example.com>');
    assert.equal(cfg.Parent, (await ok(['inspect', '-f', '{{.Id}}', 'busybox'])).trim());
    assert.deepEqual(cfg.Config.Env.slice(0, 1), ['FOO=bar']);
    assert.equal(cfg.Config.Labels.l, '1');
    // Docker: the new image's Cmd is the container's.
    assert.deepEqual(cfg.Config.Cmd, ['sh', '-c', 'echo committed > /root/file; rm /etc/group']);
    assert.equal(cfg.RootFS.Layers.length, 4);
    const history = await ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', tag]);
    assert.equal(history.split('\n')[0], 'sh -c echo committed > /root/file; rm /etc/group|my message');
    // The committed image can be saved (every layer has a blob) and its diff is what was changed.
    const saved = join(work, `${uniq('saved')}.tar`);
    await ok(['save', '-o', saved, tag]);
    assert.ok((await tarList(saved)).length > 0);
  });

  test('commits a running container (paused meanwhile) and an unchanged one as an empty layer', async () => {
    const name = uniq('live');
    await ok(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'echo live > /live; sleep 100']);
    for (let i = 0; i < 50 && (await hull(['exec', name, 'test', '-e', '/live'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    const id = (await ok(['container', 'commit', name])).trim();
    assert.equal(await ok(['inspect', '-f', '{{.State.Status}}', name]), 'running\n');
    assert.equal((await ok(['run', '--rm', id, 'cat', '/live'])), 'live\n');
    await ok(['rm', '-f', name]);

    const empty = (await ok(['commit', await ran('true')])).trim();
    const layers = await ok(['inspect', '-f', '{{len .RootFS.Layers}}', empty]);
    assert.equal(layers, '3\n', 'no layer for no changes (Docker marks the history entry empty_layer)');
  });

  test('refuses a digest reference and a bad change before writing anything', async () => {
    const c = await ran('true');
    let r = await hull(['commit', c, `x@sha256:${'a'.repeat(64)}`]);
    assert.equal(r.code, 125);
    r = await hull(['commit', '-c', 'RUN true', c]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /RUN is not a valid change command/);
  });
});

describe('export', { skip }, () => {
  test('writes the merged tree of a stopped container, without a mount left behind', async () => {
    const c = await ran('echo e > /root/exported; rm /etc/group');
    const file = join(work, `${uniq('export')}.tar`);
    await ok(['export', '-o', file, c]);
    const names = await tarList(file);
    assert.ok(names.includes('root/exported'));
    assert.ok(names.includes('bin/busybox'));
    assert.ok(!names.includes('etc/group'), 'a deleted file is not exported');
    assert.ok(!names.includes('etc/motd') && !names.some((n) => n.includes('.wh.')));
    assert.deepEqual(mountsUnderRoot(), []);
    const piped = await hull(['container', 'export', c]);
    assert.equal(piped.code, 0);
  });

  test('exports a running container', async () => {
    const name = uniq('exp-live');
    await ok(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'echo 1 > /running; sleep 100']);
    await new Promise((r) => setTimeout(r, 500));
    const file = join(work, `${uniq('export')}.tar`);
    await ok(['export', '-o', file, name]);
    assert.ok((await tarList(file)).includes('running'));
    await ok(['rm', '-f', name]);
  });
});

describe('cp', { skip }, () => {
  let host: string;

  before(async () => {
    if (skip) return;
    host = join(work, 'host');
    await mkdir(join(host, 'dir', 'sub'), { recursive: true });
    await writeFile(join(host, 'file.txt'), 'from host\n', { mode: 0o640 });
    await writeFile(join(host, 'dir', 'sub', 'deep.txt'), 'deep\n');
  });

  for (const running of [false, true]) {
    test(`Docker's copy rules into and out of a ${running ? 'running' : 'stopped'} container`, async () => {
      const name = uniq('cp');
      if (running) await ok(['run', '-d', '--name', name, 'busybox', 'sleep', '100']);
      else await ok(['create', '--name', name, 'busybox', 'sleep', '100']);
      // A file into an existing directory keeps its name and mode.
      await ok(['cp', join(host, 'file.txt'), `${name}:/root`]);
      // A directory to a new path takes that name; into an existing one, it goes below it.
      await ok(['cp', join(host, 'dir'), `${name}:/newdir`]);
      await ok(['cp', join(host, 'dir'), `${name}:/newdir`]);
      // `dir/.` copies the contents.
      await ok(['cp', `${join(host, 'dir')}/.`, `${name}:/tmp`]);
      // A file to a new name.
      await ok(['container', 'cp', join(host, 'file.txt'), `${name}:/etc/renamed`]);

      const out = join(work, uniq('out'));
      await ok(['cp', `${name}:/`, out]);
      assert.equal(await readFile(join(out, 'root', 'file.txt'), 'utf8'), 'from host\n');
      assert.equal((await lstat(join(out, 'root', 'file.txt'))).mode & 0o777, 0o640);
      assert.equal(await readFile(join(out, 'newdir', 'sub', 'deep.txt'), 'utf8'), 'deep\n');
      assert.equal(await readFile(join(out, 'newdir', 'dir', 'sub', 'deep.txt'), 'utf8'), 'deep\n');
      assert.equal(await readFile(join(out, 'tmp', 'sub', 'deep.txt'), 'utf8'), 'deep\n');
      assert.equal(await readFile(join(out, 'etc', 'renamed'), 'utf8'), 'from host\n');

      // Out: a file to a new name, a directory into an existing one, its contents with `/.`.
      const out2 = join(work, uniq('out'));
      await mkdir(out2);
      await ok(['cp', `${name}:/etc/renamed`, join(out2, 'r.txt')]);
      await ok(['cp', `${name}:/newdir`, out2]);
      await ok(['cp', `${name}:/newdir/.`, out2]);
      assert.equal(await readFile(join(out2, 'r.txt'), 'utf8'), 'from host\n');
      assert.ok(existsSync(join(out2, 'newdir', 'sub', 'deep.txt')));
      assert.ok(existsSync(join(out2, 'sub', 'deep.txt')) && existsSync(join(out2, 'dir', 'sub', 'deep.txt')));

      // Tar streams both ways.
      const tar = await runHull(['cp', `${name}:/etc/renamed`, '-'], { root });
      assert.equal(tar.code, 0);
      assert.match(tar.stdout, /^renamed\0/, 'a tar whose one entry is named after the file');
      const piped = await execFileP('sh', ['-c', `tar -cf - -C ${JSON.stringify(host)} file.txt`], { encoding: 'buffer' });
      await ok(['cp', '-', `${name}:/tmp`], piped.stdout);
      const back = join(work, uniq('back'));
      await ok(['cp', `${name}:/tmp/file.txt`, back]);
      assert.equal(await readFile(back, 'utf8'), 'from host\n');

      // Errors, in Docker's words.
      let r = await hull(['cp', `${name}:/nope`, join(work, 'nope')]);
      assert.equal(r.code, 125);
      assert.match(r.stderr, new RegExp(`Could not find the file /nope in container ${name}`));
      r = await hull(['cp', join(host, 'dir'), `${name}:/etc/renamed`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /cannot copy directory/);
      r = await hull(['cp', join(host, 'file.txt'), join(host, 'x')]);
      assert.match(r.stderr, /must specify at least one container source/);
      r = await hull(['cp', `${name}:/etc/renamed`, `${name}:/x`]);
      assert.match(r.stderr, /copying between containers is not supported/);
      if (running) {
        assert.equal(await ok(['exec', name, 'cat', '/etc/renamed']), 'from host\n');
        assert.equal(await ok(['inspect', '-f', '{{.State.Status}}', name]), 'running\n');
      }
      await ok(['rm', '-f', name]);
      assert.deepEqual(mountsUnderRoot(), []);
    });
  }

  for (const running of [false, true]) {
    test(`symlinks in a ${running ? 'running' : 'stopped'} container never lead outside it`, async () => {
      const before = await sentinelState();
      const name = uniq('esc');
      const script = `ln -s / /esc-root; ln -s ../../.. /esc-up; ln -s ${sentinel} /esc-abs; ln -s ${sentinel}/secret /esc-file; mkdir /d; ln -s / /d/up; ${running ? 'sleep 100' : 'true'}`;
      await ok(['run', ...(running ? ['-d'] : []), '--name', name, 'busybox', 'sh', '-c', script]);
      if (running) await new Promise((r) => setTimeout(r, 500));

      // Reads: every link resolves inside the container.
      let r = await hull(['cp', `${name}:/esc-abs/secret`, join(work, uniq('leak'))]);
      assert.match(r.stderr, /Could not find the file/);
      r = await hull(['cp', '-L', `${name}:/esc-file`, '-']);
      assert.doesNotMatch(r.stdout, /host secret/);
      const passwd = await runHull(['cp', `${name}:/esc-up/etc/passwd`, '-'], { root });
      assert.match(passwd.stdout, /app:x:1000:1000/, "the container's passwd, not the host's");
      const viaRoot = await runHull(['cp', `${name}:/esc-root/etc/passwd`, '-'], { root });
      assert.match(viaRoot.stdout, /app:x:1000:1000/);
      // A symlink inside a copied directory is copied as a symlink, not followed.
      const out = join(work, uniq('d'));
      await ok(['cp', `${name}:/d`, out]);
      assert.equal(await readlink(join(out, 'up')), '/');

      // Writes: through each link, into the container.
      const marker = uniq('marker');
      await writeFile(join(work, marker), 'marker\n');
      for (const dest of ['/esc-abs/', '/esc-up/', '/esc-root/', '/esc-up/tmp/', '/esc-abs']) {
        await hull(['cp', join(work, marker), `${name}:${dest}`]);
      }
      await hull(['cp', join(work, marker), `${name}:/esc-file`]);
      // A tar whose entries climb out or write through the container's links.
      const evil = await execFileP(
        'sh',
        ['-c', `cd ${JSON.stringify(work)} && rm -rf evil && mkdir -p evil/d && echo evil > evil/d/pwn && tar -cf - -C evil --transform 's,^d,esc-abs,' d/pwn`],
        { encoding: 'buffer' },
      );
      r = await hull(['cp', '-', `${name}:/`], evil.stdout);
      assert.notEqual(r.code, 0, 'writing below a symlink is refused');
      const climb = await execFileP('sh', ['-c', `cd ${JSON.stringify(work)} && tar -cf - -P --transform 's,^evil/d,../../../../..${sentinel},' evil/d/pwn`], { encoding: 'buffer' });
      await hull(['cp', '-', `${name}:/tmp`], climb.stdout);

      assert.equal(await sentinelState(), before, 'the host sentinel is unchanged');
      assert.ok(!existsSync(join('/', marker)) && !existsSync(join('/tmp', marker)), 'nothing landed on the host');
      // ...and the writes did land inside the container.
      const inside = await runHull(['cp', `${name}:/tmp/${marker}`, '-'], { root });
      assert.equal(inside.code, 0);
      assert.doesNotMatch((await hull(['cp', `${name}:${sentinel}/secret`, '-'])).stdout, /host secret/);
      await ok(['rm', '-f', name]);
      assert.deepEqual(mountsUnderRoot(), []);
    });
  }
});

describe('root filesystem mount', { skip }, () => {
  test('a --rm container gets a volatile overlay (no sync at unmount), others a durable one', async () => {
    const volatile = (id: string): boolean => {
      const line = mountsUnderRoot().find((l) => l.includes(`${id}/rootfs `));
      assert.ok(line, `${id}'s rootfs is mounted`);
      return /[ ,](fsync=)?volatile(,|$)/.test(line.split(' - ')[1]!);
    };
    const rmId = (await ok(['run', '-d', '--rm', 'busybox', 'sleep', '60'])).trim();
    const keptId = (await ok(['run', '-d', 'busybox', 'sleep', '60'])).trim();
    assert.equal(volatile(rmId), true);
    assert.equal(volatile(keptId), false);
    await ok(['rm', '-f', rmId, keptId]);
    // Writes in a --rm container behave as anywhere else, and nothing is left afterwards.
    assert.equal(await ok(['run', '--rm', 'busybox', 'sh', '-c', 'echo data > /f && cat /f']), 'data\n');
    assert.deepEqual(mountsUnderRoot(), []);
  });
});
