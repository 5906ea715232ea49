import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountPointOf, parseBind, parseVolumesFrom } from './parse.js';
import { parseMountFlag, splitVolumeFlags } from '../cli/commands/mount-flag.js';

test('-v forms: named volume, bind with modes, anonymous', () => {
  assert.deepEqual(parseBind('data:/var/lib/x/'), {
    Type: 'volume', Name: 'data', Source: '', Destination: '/var/lib/x', Driver: 'local', Mode: 'z', RW: true, Propagation: '', CopyData: true,
  });
  assert.deepEqual(parseBind('/srv//a:/a:ro,rshared'), {
    Type: 'bind', Source: '/srv/a', Destination: '/a', Mode: 'ro,rshared', RW: false, Propagation: 'rshared', CreateSource: true,
  });
  assert.equal(parseBind('data:/x:nocopy').CopyData, false);
  assert.equal(parseBind('/x').Anonymous, true);
});

test('-v errors are Docker\'s', () => {
  assert.throws(() => parseBind('a:b:c:d'), { message: "invalid volume specification: 'a:b:c:d'" });
  assert.throws(() => parseBind('/x:rw'), { message: "invalid volume specification: '/x:rw'" });
  assert.throws(() => parseBind('/h:/c:rw,ro'), { message: 'invalid mode: rw,ro' });
  assert.throws(() => parseBind('/h:/c:nocopy'), { message: 'invalid mode: nocopy' });
  assert.throws(() => parseBind('v1:c'), { message: `invalid volume specification: 'v1:c': invalid mount config for type "volume": invalid mount path: 'c' mount path must be absolute` });
  assert.throws(() => parseBind('/h:/'), { message: "invalid volume specification: '/h:/': invalid specification: destination can't be '/'" });
  assert.throws(() => parseBind('vv:/x:shared'), { message: `invalid volume specification: 'vv:/x:shared': invalid mount config for type "volume": field Propagation must not be specified` });
  assert.throws(() => parseBind('x:/y'), /includes invalid characters for a local volume name/);
});

test('--mount: CSV fields, aliases, boolean keys, then the daemon\'s checks', () => {
  const m = parseMountFlag('type=volume,src=v1,dst=/d,ro,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs');
  assert.deepEqual(m, {
    Type: 'volume', Source: 'v1', Target: '/d', ReadOnly: true,
    VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Options: { type: 'tmpfs', device: 'tmpfs' } } },
  });
  assert.deepEqual(mountPointOf(m), { Type: 'volume', Name: 'v1', Source: '', Destination: '/d', Driver: 'local', Mode: '', RW: false, Propagation: '', CopyData: false });
  const t = mountPointOf(parseMountFlag('type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770'));
  assert.deepEqual(t.TmpfsOptions, { SizeBytes: 64 * 1024 * 1024, Mode: 0o1770 });
  assert.equal(mountPointOf(parseMountFlag('type=bind,source=/,target=/h,bind-propagation=rslave')).Propagation, 'rslave');
  assert.equal(mountPointOf(parseMountFlag('type=volume,target=/anon')).Anonymous, true);
  assert.throws(() => parseMountFlag('type=bind,src=/,dst=/x,bind-propagation=weird'), { message: 'invalid argument "type=bind,src=/,dst=/x,bind-propagation=weird" for "--mount" flag: invalid propagation mode: weird' });
  assert.throws(() => parseMountFlag('type=tmpfs,dst=/x,tmpfs-mode=9'), /invalid value for tmpfs-mode: 9/);
  assert.throws(() => parseMountFlag('type=volume,dst=/x,bogus'), /invalid field 'bogus' must be a key=value pair/);
  assert.throws(() => mountPointOf({ Type: 'bind', Source: '/definitely/not/here', Target: '/x' }), { message: 'invalid mount config for type "bind": bind source path does not exist: /definitely/not/here' });
  assert.throws(() => mountPointOf({ Type: 'volume', Target: '/x', VolumeOptions: { DriverConfig: { Name: 'nfs' } } }), { message: 'error looking up volume plugin nfs: plugin "nfs" not found' });
});

test('-v flags split as the docker CLI splits them', () => {
  const s = splitVolumeFlags(['/anon', 'named:/n', './rel:/r:ro'], []);
  assert.deepEqual(s.volumes, { '/anon': {} });
  assert.deepEqual(s.binds, ['named:/n', `${process.cwd()}/rel:/r:ro`]);
  assert.deepEqual(splitVolumeFlags([], []), { binds: null });
});

test('--volumes-from NAME[:ro|rw]', () => {
  assert.deepEqual(parseVolumesFrom('c1'), { container: 'c1' });
  assert.deepEqual(parseVolumesFrom('c1:ro'), { container: 'c1', rw: false });
  assert.throws(() => parseVolumesFrom('c1:x'), { message: 'invalid mode: x' });
});
