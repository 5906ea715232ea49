import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExpose, parsePortSpec, parsePublish } from './ports.js';

test('-p forms as the docker CLI parses them', () => {
  assert.deepEqual(parsePortSpec('80'), { '80/tcp': [{ HostIp: '', HostPort: '' }] });
  assert.deepEqual(parsePortSpec('8080:80'), { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
  assert.deepEqual(parsePortSpec('127.0.0.1:8080:80/udp'), { '80/udp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] });
  assert.deepEqual(parsePortSpec('127.0.0.1::80'), { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  assert.deepEqual(parsePortSpec('9000-9001:90-91'), { '90/tcp': [{ HostIp: '', HostPort: '9000' }], '91/tcp': [{ HostIp: '', HostPort: '9001' }] });
  assert.deepEqual(parsePortSpec('9000-9005:80'), { '80/tcp': [{ HostIp: '', HostPort: '9000-9005' }] }, 'a host range for one port: any free one of it');
});

test('-p errors are Docker\'s', () => {
  assert.throws(() => parsePortSpec('abc'), /invalid containerPort: abc/);
  assert.throws(() => parsePortSpec('x:80'), /invalid hostPort: x/);
  assert.throws(() => parsePortSpec('80/icmp'), /invalid proto: icmp/);
  assert.throws(() => parsePortSpec('1.2.3:80:80'), /invalid IP address: 1\.2\.3/);
  assert.throws(() => parsePortSpec('1-3:4-5'), /invalid ranges specified for container and host Ports: 4-5 and 1-3/);
  assert.throws(() => parsePortSpec('70000'), /invalid containerPort: 70000/);
});

test('several -p merge per port; --expose ranges', () => {
  const { exposed, bindings } = parsePublish(['8080:80', '127.0.0.1:8081:80']);
  assert.deepEqual(exposed, { '80/tcp': {} });
  assert.equal(bindings['80/tcp']?.length, 2);
  assert.deepEqual(parseExpose(['7000-7001/udp', '80']), { '7000/udp': {}, '7001/udp': {}, '80/tcp': {} });
});
