/**
 * The spare (spare-netns.ts), and createNetnsAsync: the namespace is made on libuv's pool (by a thread of its own), bound onto
 * its path, and no thread of this process ends up in it. Real namespaces: root only.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { createNetnsAsync, netnsExists, netnsPath, removeNetns } from './netns.js';
import { prepareSpareNetns, spareNetnsFd } from './spare-netns.js';
import { nativeAddon } from '../util/native.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

function threadNamespaces(): Set<string> {
  return new Set(readdirSync('/proc/self/task').map((t) => readlinkSync(`/proc/self/task/${t}/ns/net`)));
}

void test('createNetnsAsync binds a new namespace onto its path; every thread stays in its own', { skip }, async () => {
  const id = `test-${process.pid}-async`;
  const mine = readlinkSync('/proc/self/ns/net');
  try {
    const path = await createNetnsAsync(id);
    assert.ok(netnsExists(id));
    // A bound namespace file is an nsfs inode, not the empty file under it; not ours.
    const ino = statSync(path).ino;
    assert.notEqual(`net:[${ino}]`, mine);
    assert.deepEqual([...threadNamespaces()], [mine]);
    // Made again: the existing one is kept.
    assert.equal(await createNetnsAsync(id), path);
    assert.equal(statSync(path).ino, ino);
  } finally {
    removeNetns(id);
  }
  assert.equal(netnsExists(id), false);
});

void test('netnsCreateAsync rejects with the errno, the failing step and the path', { skip }, async () => {
  await assert.rejects(nativeAddon().netnsCreateAsync('/run/netns/no-such-dir/x'), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.syscall, 'open');
    assert.match(e.message, /ENOENT: .*open '\/run\/netns\/no-such-dir\/x'/);
    return true;
  });
});

void test('rtnetlink errors carry the errno name as code: a link that is gone is ENODEV (fast-bridge treats that as deleted)', { skip }, async () => {
  assert.throws(() => nativeAddon().linkDelete('hullnosuch0', 0), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ENODEV');
    assert.match(e.message, /^ENODEV: no such device, RTM_DELLINK 'hullnosuch0'/);
    return true;
  });
  await assert.rejects(nativeAddon().linkDeleteAsync('hullnosuch0', 0), (e: NodeJS.ErrnoException) => e.code === 'ENODEV');
});

void test('a spare namespace is held by an fd only; createNetnsAsync binds it onto the path, then the fd is closed', { skip }, async () => {
  const id = `test-${process.pid}-spare`;
  const mine = readlinkSync('/proc/self/ns/net');
  await prepareSpareNetns();
  const fd = spareNetnsFd();
  assert.ok(fd !== undefined, 'no spare was made');
  const spare = readlinkSync(`/proc/self/fd/${fd}`);
  assert.match(spare, /^net:\[\d+\]$/);
  assert.notEqual(spare, mine);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(spare), 'the spare is mounted');
  assert.deepEqual([...threadNamespaces()], [mine]);
  try {
    const path = await createNetnsAsync(id);
    assert.equal(path, netnsPath(id));
    assert.equal(`net:[${statSync(path).ino}]`, spare, 'the path is not the spare');
    assert.equal(spareNetnsFd(), undefined, 'taken once');
    // Closed (its number may already be another file's).
    let now = '';
    try {
      now = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // closed
    }
    assert.notEqual(now, spare, 'the fd still holds the spare');
  } finally {
    removeNetns(id);
  }
  assert.equal(netnsExists(id), false);
});

void test('netnsAttach refuses a path that is taken, and says so', { skip }, () => {
  assert.throws(() => nativeAddon().netnsAttach(0, '/run/netns'), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'EEXIST');
    assert.match(e.message, /^EEXIST: .*open '\/run\/netns'/);
    return true;
  });
});
