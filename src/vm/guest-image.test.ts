import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { buildCpio, bzImageVersion, findKernel, moduleFiles } from './guest-image.js';

test('buildCpio writes a newc archive cpio(1) reads back, parent directories first', { skip: !existsSync('/usr/bin/cpio') && 'needs cpio' }, () => {
  const archive = buildCpio([
    { name: 'init', mode: 0o100755, data: Buffer.from('#!/bin/sh\n') },
    { name: 'lib/modules/a.ko', mode: 0o100644, data: Buffer.from('abc') },
  ]);
  const r = spawnSync('cpio', ['-t', '--quiet'], { input: archive });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(r.stdout.toString().trim().split('\n'), ['init', 'lib', 'lib/modules', 'lib/modules/a.ko']);
});

test('moduleFiles lists the virtio modules after the modules they depend on', (t) => {
  let version: string;
  try {
    version = findKernel().version;
  } catch {
    return t.skip('no guest kernel installed');
  }
  const files = moduleFiles(version, ['virtiofs']);
  const at = (name: string): number => files.findIndex((f) => f.endsWith(`/${name}.ko`));
  if (at('virtiofs') < 0) return t.skip('virtiofs is built into this kernel');
  assert.ok(at('fuse') >= 0 && at('fuse') < at('virtiofs'), files.join(' '));
  assert.throws(() => moduleFiles(version, ['no_such_module_x']), /has no no_such_module_x module/);
});

test('bzImageVersion reads the version string the boot header points at, and nothing from other files', () => {
  const image = Buffer.alloc(0x400);
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x100, 0x20e);
  image.write('6.1.0-99-cloud-amd64 (builder@host) #1 SMP\0', 0x300, 'latin1');
  assert.equal(bzImageVersion(image), '6.1.0-99-cloud-amd64');
  assert.equal(bzImageVersion(Buffer.alloc(0x400)), undefined);
  assert.equal(bzImageVersion(Buffer.from('short')), undefined);
});
