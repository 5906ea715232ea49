import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { resolveUser } from './user.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
broken:x:notanumber:5::/:/bin/sh
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
app:x:1000:
staff:x:50:app
audio:x:29:
`;

async function rootfs(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-user-'));
  await mkdir(join(dir, 'etc'));
  for (const [p, content] of Object.entries(files)) await writeFile(join(dir, p), content);
  return dir;
}

void describe('resolveUser', () => {
  let root: string;
  const cleanup: string[] = [];
  before(async () => {
    root = await rootfs({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
    cleanup.push(root);
  });
  after(async () => {
    for (const d of cleanup) await rm(d, { recursive: true, force: true });
  });

  void it('empty → root with its groups', async () => {
    assert.deepEqual(await resolveUser(root, undefined), { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
    assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
  });

  void it('name → passwd uid/gid, memberships as supplementary groups', async () => {
    assert.deepEqual(await resolveUser(root, 'app'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/app' });
  });

  void it('uid in passwd → that entry', async () => {
    assert.deepEqual(await resolveUser(root, '1000'), { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50], home: '/home/app' });
  });

  void it('uid not in passwd → allowed, gid 0', async () => {
    assert.deepEqual(await resolveUser(root, '4242'), { uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  });

  void it('explicit group: by name or gid, no memberships', async () => {
    assert.deepEqual(await resolveUser(root, 'app:staff'), { uid: 1000, gid: 50, additionalGids: [50], home: '/home/app' });
    assert.deepEqual(await resolveUser(root, 'app:29'), { uid: 1000, gid: 29, additionalGids: [29], home: '/home/app' });
    assert.deepEqual(await resolveUser(root, '1000:777'), { uid: 1000, gid: 777, additionalGids: [777], home: '/home/app' });
    assert.deepEqual(await resolveUser(root, '5000:audio'), { uid: 5000, gid: 29, additionalGids: [29], home: '/' });
  });

  void it('--group-add by name or number', async () => {
    assert.deepEqual((await resolveUser(root, 'daemon', ['audio', '4000', '29'])).additionalGids, [1, 29, 4000]);
  });

  void it("errors in Docker's words", async () => {
    const fails = (p: Promise<unknown>, message: string) =>
      assert.rejects(p, (e) => isHullError(e, 'INVALID_ARGUMENT') && e.message === message);
    await fails(resolveUser(root, 'nobody'), 'unable to find user nobody: no matching entries in passwd file');
    await fails(resolveUser(root, 'app:nogroup'), 'unable to find group nogroup: no matching entries in group file');
    await fails(resolveUser(root, 'app', ['nogroup']), 'Unable to find group nogroup: no matching entries in group file');
    await fails(resolveUser(root, '-1'), 'uids and gids must be in range 0-2147483647');
    await fails(resolveUser(root, 'broken'), 'unable to find user broken: no matching entries in passwd file');
  });

  void it('no passwd or group file: numbers work, names do not', async () => {
    const bare = await mkdtemp(join(tmpdir(), 'hull-user-'));
    cleanup.push(bare);
    assert.deepEqual(await resolveUser(bare, undefined), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
    assert.deepEqual(await resolveUser(bare, '10:20'), { uid: 10, gid: 20, additionalGids: [20], home: '/' });
    await assert.rejects(resolveUser(bare, 'app'), /unable to find user app: no matching entries in passwd file/);
  });

  void it('symlinks resolve inside the rootfs, never to the host', async () => {
    const dir = await rootfs({ 'etc/real-passwd': 'me:x:77:88::/me:/bin/sh\n' });
    cleanup.push(dir);
    // Absolute and escaping relative links both land inside the rootfs, as the container sees them.
    await symlink('/etc/real-passwd', join(dir, 'etc/passwd'));
    assert.equal((await resolveUser(dir, 'me')).uid, 77);

    const escape = await rootfs({});
    cleanup.push(escape);
    await symlink('../../../../../../../../etc/passwd', join(escape, 'etc/passwd'));
    // The host's /etc/passwd has root; the rootfs has no /etc/passwd behind the clamped link.
    await assert.rejects(resolveUser(escape, 'root'), /unable to find user root/);

    const loop = await rootfs({});
    cleanup.push(loop);
    await symlink('/etc/group', join(loop, 'etc/passwd'));
    await symlink('/etc/passwd', join(loop, 'etc/group'));
    assert.deepEqual(await resolveUser(loop, '5'), { uid: 5, gid: 0, additionalGids: [0], home: '/' });

    const dirLink = await rootfs({});
    cleanup.push(dirLink);
    await rm(join(dirLink, 'etc'), { recursive: true });
    await mkdir(join(dirLink, 'real-etc'));
    await writeFile(join(dirLink, 'real-etc/passwd'), 'viaLink:x:9:9::/:/bin/sh\n');
    await symlink('real-etc', join(dirLink, 'etc'));
    assert.equal((await resolveUser(dirLink, 'viaLink')).uid, 9);
  });

  void it('a directory or FIFO at /etc/passwd counts as absent', async () => {
    const dir = await rootfs({});
    cleanup.push(dir);
    await mkdir(join(dir, 'etc/passwd'));
    execFileSync('mkfifo', [join(dir, 'etc/group')]);
    assert.deepEqual(await resolveUser(dir, '3:4'), { uid: 3, gid: 4, additionalGids: [4], home: '/' });
  });
});
