import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroupDirs } from './cgroup.js';

test('v1: one directory per hierarchy that counts (co-mounted ones once), below the caller\'s own cgroup', () => {
  const self = ['12:pids:/', '11:cpu,cpuacct:/', '10:memory:/outer/job', '9:blkio:/', '8:freezer:/', '1:name=systemd:/', '0::/'].join('\n');
  assert.deepEqual(cgroupDirs('hull/abc', self), [
    '/sys/fs/cgroup/cpu,cpuacct/hull/abc',
    '/sys/fs/cgroup/memory/outer/job/hull/abc',
    '/sys/fs/cgroup/pids/hull/abc',
    '/sys/fs/cgroup/blkio/hull/abc',
  ]);
});

test('v2: the one unified directory', () => {
  assert.deepEqual(cgroupDirs('hull/abc', '0::/user.slice/session-1.scope\n'), ['/sys/fs/cgroup/user.slice/session-1.scope/hull/abc']);
});
