import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contains, formatCidr, formatIp, hostRange, overlaps, parseCidr, parseIp } from './cidr.js';

test('addresses and subnets round-trip', () => {
  assert.equal(formatIp(parseIp('10.210.3.254')!), '10.210.3.254');
  assert.equal(parseIp('10.1.1.256'), undefined);
  assert.equal(formatCidr(parseCidr('192.168.0.0/16')), '192.168.0.0/16');
  const r = hostRange(parseCidr('10.0.0.0/30'));
  assert.deepEqual([formatIp(r.first), formatIp(r.last)], ['10.0.0.1', '10.0.0.2']);
});

test('Docker\'s errors for bad subnets', () => {
  assert.throws(() => parseCidr('10.1.2.3/24'), /invalid subnet 10\.1\.2\.3\/24: it should be 10\.1\.2\.0\/24/);
  assert.throws(() => parseCidr('nonsense'), /invalid CIDR address: nonsense/);
  assert.throws(() => parseCidr('10.0.0.0/33'), /invalid CIDR address/);
});

test('overlap and containment', () => {
  assert.ok(overlaps(parseCidr('172.17.0.0/16'), parseCidr('172.17.5.0/24')));
  assert.ok(!overlaps(parseCidr('10.210.0.0/24'), parseCidr('10.210.1.0/24')));
  assert.ok(contains(parseCidr('10.210.0.0/24'), parseIp('10.210.0.9')!));
  assert.ok(!contains(parseCidr('10.210.0.0/24'), parseIp('10.210.1.9')!));
});
