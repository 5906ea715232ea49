import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { hostDevices, parseDeviceMapping, resolveDevices } from './devices.js';

void describe('parseDeviceMapping', () => {
  void it("reads Docker's forms", () => {
    assert.deepEqual(parseDeviceMapping('/dev/fuse'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
    assert.deepEqual(parseDeviceMapping('/dev/fuse:r'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'r' });
    assert.deepEqual(parseDeviceMapping('/dev/sda:/dev/xvda'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rwm' });
    assert.deepEqual(parseDeviceMapping('/dev/sda:/dev/xvda:rw'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'rw' });
  });

  void it('refuses bad modes, relative paths, too many parts', () => {
    for (const [spec, re] of [
      ['/dev/sda:/dev/xvda:rwx', /bad mode specified: rwx/],
      ['/dev/sda:xvda', /xvda is not an absolute path/],
      ['/a:/b:r:w', /bad format for path/],
      [':/b', /bad format for path/],
    ] as const) {
      assert.throws(() => parseDeviceMapping(spec), (e) => isHullError(e, 'INVALID_ARGUMENT') && re.test(e.message), spec);
    }
  });
});

void describe('resolveDevices', () => {
  void it('stats the host node: type, major/minor, mode, and a cgroup rule with the permissions', () => {
    const r = resolveDevices([parseDeviceMapping('/dev/null:/dev/mynull:r')]);
    assert.equal(r.devices.length, 1);
    assert.deepEqual({ ...r.devices[0], uid: 0, gid: 0 }, { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 });
    assert.deepEqual(r.rules, [{ allow: true, type: 'c', major: 1, minor: 3, access: 'r' }]);
  });

  void it('refuses missing paths and non-devices with the path named', () => {
    assert.throws(
      () => resolveDevices([parseDeviceMapping('/dev/does-not-exist')]),
      /error gathering device information while adding custom device "\/dev\/does-not-exist"/,
    );
    assert.throws(() => resolveDevices([parseDeviceMapping('/etc/hostname')]), /not a device node/);
  });

  void it('privileged: host devices, without the per-container pseudo directories', () => {
    const devs = hostDevices();
    assert.ok(devs.some((d) => d.path === '/dev/null' && d.major === 1 && d.minor === 3));
    assert.ok(devs.every((d) => !d.path.startsWith('/dev/pts/') && d.path !== '/dev/console'));
  });
});
