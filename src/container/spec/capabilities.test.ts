import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import {
  DEFAULT_CAPABILITIES,
  KNOWN_CAPABILITIES,
  allCapabilities,
  capabilityMask,
  readHostCapabilities,
  resolveCapabilities,
} from './capabilities.js';
import type { HostCapabilities } from './capabilities.js';

// A host whose kernel knows every capability up to CAP_CHECKPOINT_RESTORE and whose engine holds them all.
const FULL: HostCapabilities = { lastCap: 40, bounding: (1n << 41n) - 1n };

void describe('capabilities', () => {
  void it("Docker's default set has Docker's mask", () => {
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
    assert.equal(capabilityMask(DEFAULT_CAPABILITIES).toString(16).padStart(16, '0'), '00000000a80425fb');
  });

  void it('no options → the defaults', () => {
    assert.deepEqual(resolveCapabilities({}, FULL), DEFAULT_CAPABILITIES);
  });

  void it('accepts names with or without CAP_, any case', () => {
    const caps = resolveCapabilities({ capAdd: ['sys_admin', 'CAP_Net_Admin'], capDrop: ['chown', 'CAP_KILL'] }, FULL);
    assert.ok(caps.includes('CAP_SYS_ADMIN'));
    assert.ok(caps.includes('CAP_NET_ADMIN'));
    assert.ok(!caps.includes('CAP_CHOWN'));
    assert.ok(!caps.includes('CAP_KILL'));
    assert.equal(caps.length, 14);
  });

  void it('adding a default twice does not duplicate it', () => {
    assert.deepEqual(resolveCapabilities({ capAdd: ['CHOWN'] }, FULL), DEFAULT_CAPABILITIES);
  });

  void it('ALL in add → everything but the dropped', () => {
    const caps = resolveCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }, FULL);
    assert.equal(caps.length, 40);
    assert.ok(!caps.includes('CAP_SYS_ADMIN'));
  });

  void it('ALL in drop → only the added', () => {
    assert.deepEqual(resolveCapabilities({ capDrop: ['all'], capAdd: ['NET_BIND_SERVICE', 'SYS_TIME'] }, FULL), [
      'CAP_NET_BIND_SERVICE',
      'CAP_SYS_TIME',
    ]);
    assert.deepEqual(resolveCapabilities({ capDrop: ['ALL'] }, FULL), []);
  });

  void it('privileged → all, ignoring add/drop', () => {
    assert.deepEqual(resolveCapabilities({ privileged: true, capDrop: ['ALL'] }, FULL), [...KNOWN_CAPABILITIES]);
  });

  void it("unknown names fail with Docker's wording", () => {
    assert.throws(
      () => resolveCapabilities({ capAdd: ['foo'] }, FULL),
      (e) => isHullError(e, 'INVALID_ARGUMENT') && e.message === 'invalid CapAdd: unknown capability: "CAP_FOO"',
    );
    assert.throws(
      () => resolveCapabilities({ capDrop: ['CAP_BAR'] }, FULL),
      (e) => isHullError(e, 'INVALID_ARGUMENT') && e.message === 'invalid CapDrop: unknown capability: "CAP_BAR"',
    );
  });

  void it("cap_last_cap bounds what exists: an older kernel's list is shorter", () => {
    const old: HostCapabilities = { lastCap: 37, bounding: (1n << 38n) - 1n };
    assert.equal(allCapabilities(old).length, 38);
    assert.ok(!allCapabilities(old).includes('CAP_BPF'));
    assert.throws(() => resolveCapabilities({ capAdd: ['BPF'] }, old), /unknown capability: "CAP_BPF"/);
  });

  void it("the engine's bounding set bounds ALL; asking for a missing one by name is refused", () => {
    const noResource: HostCapabilities = { lastCap: 40, bounding: FULL.bounding & ~(1n << 24n) };
    assert.ok(!resolveCapabilities({ privileged: true }, noResource).includes('CAP_SYS_RESOURCE'));
    assert.ok(!resolveCapabilities({ capAdd: ['ALL'] }, noResource).includes('CAP_SYS_RESOURCE'));
    assert.throws(() => resolveCapabilities({ capAdd: ['SYS_RESOURCE'] }, noResource), /CAP_SYS_RESOURCE is not in hull's own bounding set/);
  });

  void it('reads the host', () => {
    const host = readHostCapabilities();
    assert.ok(host.lastCap >= 36);
    assert.ok(allCapabilities(host).includes('CAP_CHOWN'));
  });
});
