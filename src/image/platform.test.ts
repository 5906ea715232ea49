import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../util/errors.js';
import type { Digest } from './digest.js';
import type { Descriptor, ImageIndex, Platform } from './media-types.js';
import { MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST } from './media-types.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectManifest } from './platform.js';

function entry(n: number, platform?: Platform): Descriptor {
  const d: Descriptor = { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest, size: 100 };
  if (platform) d.platform = platform;
  return d;
}

function index(...manifests: Descriptor[]): ImageIndex {
  return { schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_INDEX, manifests };
}

void describe('hostPlatform', () => {
  void it('maps Node arch to an OCI linux platform', () => {
    const p = hostPlatform();
    assert.equal(p.os, 'linux');
    const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
    if (expected[process.arch]) assert.equal(p.architecture, expected[process.arch]);
    if (process.arch === 'arm64') assert.equal(p.variant, 'v8');
  });
});

void describe('parsePlatform', () => {
  void it('parses os/arch/variant', () => {
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('Linux/ARM/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  });

  void it('normalises aliases and default variants like containerd', () => {
    assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(parsePlatform('linux/armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(parsePlatform('linux/i386'), { os: 'linux', architecture: '386' });
  });

  void it('accepts a lone OS or architecture', () => {
    assert.deepEqual(parsePlatform('linux'), hostPlatform());
    assert.deepEqual(parsePlatform('arm64'), { os: 'linux', architecture: 'arm64' });
  });

  void it('rejects malformed input with a clear message', () => {
    for (const bad of ['', 'linux/', '/amd64', 'linux/amd64/v8/x', 'linux/am d64', 'plan10/amd64', 'nonsense']) {
      assert.throws(
        () => parsePlatform(bad),
        (e: unknown) => isHullError(e, 'INVALID_ARGUMENT') && e.message.includes(`invalid platform "${bad}"`) && e.message.includes('os[/arch[/variant]]'),
        bad,
      );
    }
  });
});

void describe('formatPlatform', () => {
  void it('prints os/arch[/variant]', () => {
    assert.equal(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64/v8');
    assert.equal(formatPlatform({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
  });
});

void describe('platformMatches', () => {
  void it('treats default variants as equal', () => {
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }));
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }));
    assert.ok(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v1' }));
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
    assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
    assert.ok(!platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }));
  });
});

void describe('selectManifest', () => {
  const multi = index(
    entry(1, { os: 'linux', architecture: 'amd64' }),
    entry(2, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry(3, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry(4, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry(5, { os: 'unknown', architecture: 'unknown' }),
    entry(6),
  );

  void it('picks the exact platform', () => {
    assert.equal(selectManifest(multi, { os: 'linux', architecture: 'amd64' }).digest, entry(1).digest);
    assert.equal(selectManifest(multi, { os: 'linux', architecture: 'arm', variant: 'v6' }).digest, entry(2).digest);
    assert.equal(selectManifest(multi, { os: 'linux', architecture: 'arm64' }).digest, entry(4).digest);
    assert.equal(selectManifest(multi, parsePlatform('linux/arm64/v8')).digest, entry(4).digest);
  });

  void it('matches an arm64 entry without variant for a v8 request', () => {
    const idx = index(entry(1, { os: 'linux', architecture: 'arm64' }));
    assert.equal(selectManifest(idx, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, entry(1).digest);
  });

  void it('prefers exact over compatible, and falls back like containerd', () => {
    const arm = index(entry(2, { os: 'linux', architecture: 'arm', variant: 'v6' }), entry(3, { os: 'linux', architecture: 'arm', variant: 'v7' }));
    assert.equal(selectManifest(arm, { os: 'linux', architecture: 'arm', variant: 'v8' }).digest, entry(3).digest);
    assert.equal(selectManifest(arm, { os: 'linux', architecture: 'arm64' }).digest, entry(3).digest);
    const x86 = index(entry(7, { os: 'linux', architecture: '386' }));
    assert.equal(selectManifest(x86, { os: 'linux', architecture: 'amd64' }).digest, entry(7).digest);
  });

  void it('does not pick a higher amd64 level than asked for', () => {
    const idx = index(entry(1, { os: 'linux', architecture: 'amd64', variant: 'v3' }));
    assert.throws(() => selectManifest(idx, { os: 'linux', architecture: 'amd64' }), (e: unknown) => isHullError(e, 'PLATFORM_NOT_FOUND'));
    assert.equal(selectManifest(idx, { os: 'linux', architecture: 'amd64', variant: 'v4' }).digest, entry(1).digest);
  });

  void it('fails with PLATFORM_NOT_FOUND listing what is available', () => {
    assert.throws(
      () => selectManifest(multi, { os: 'linux', architecture: 's390x' }),
      (e: unknown) =>
        isHullError(e, 'PLATFORM_NOT_FOUND') &&
        e.message === 'no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8)',
    );
    assert.throws(
      () => selectManifest(index(entry(6)), { os: 'linux', architecture: 'amd64' }),
      (e: unknown) => isHullError(e, 'PLATFORM_NOT_FOUND') && e.message.includes('lists no platforms'),
    );
  });
});
