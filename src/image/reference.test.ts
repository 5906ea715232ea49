import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHullError } from '../util/errors.js';
import { familiarString, formatReference, isLoopbackDomain, parseNormalizedTagged, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

test('normalises like Docker', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b/c:v1', 'localhost:5000/a/b/c:v1'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['quay.io/org/img:tag', 'quay.io/org/img:tag'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`host:5000/a/b:tag@${D}`, `host:5000/a/b:tag@${D}`],
    ['[::1]:5000/img', '[::1]:5000/img:latest'],
    ['a_b/c__d/e-f---g.h', 'docker.io/a_b/c__d/e-f---g.h:latest'],
  ];
  for (const [input, want] of cases) assert.equal(formatReference(parseNormalizedTagged(input)), want, input);
});

test('a digest reference gets no default tag', () => {
  const ref = parseNormalizedTagged(`busybox@${D}`);
  assert.equal(ref.tag, undefined);
  assert.equal(ref.digest, D);
});

test('familiar names drop docker.io and library/', () => {
  assert.equal(familiarString(parseNormalizedTagged('busybox')), 'busybox:latest');
  assert.equal(familiarString(parseNormalizedTagged('user/app:2')), 'user/app:2');
  assert.equal(familiarString(parseNormalizedTagged('127.0.0.1:5000/x:y')), '127.0.0.1:5000/x:y');
});

test('malformed references are clear errors', () => {
  const bad: [string, RegExp][] = [
    ['', /invalid reference format/],
    ['Busybox', /repository name \(library\/Busybox\) must be lowercase/],
    ['busybox:', /invalid reference format/],
    ['busybox::tag', /invalid reference format/],
    ['a//b', /invalid reference format/],
    ['-abc', /invalid reference format/],
    ['busybox:tag with space', /invalid reference format/],
    [`busybox@sha256:${'a'.repeat(10)}`, /invalid reference format/],
    ['a'.repeat(64), /cannot specify 64-byte hexadecimal strings/],
    [`${'a'.repeat(256)}`, /must not be more than 255 characters/],
    ['busybox:' + 't'.repeat(129), /invalid reference format/],
    ['host:port/x', /invalid reference format/],
  ];
  for (const [input, re] of bad) {
    assert.throws(
      () => parseReference(input),
      (e: unknown) => isHullError(e, 'INVALID_REFERENCE') && re.test(e.message),
      JSON.stringify(input),
    );
  }
});

test('loopback detection', () => {
  assert.ok(isLoopbackDomain('127.0.0.1:5000'));
  assert.ok(isLoopbackDomain('localhost'));
  assert.ok(isLoopbackDomain('[::1]:5000'));
  assert.ok(isLoopbackDomain('127.3.2.1'));
  assert.ok(!isLoopbackDomain('docker.io'));
  assert.ok(!isLoopbackDomain('10.0.0.1:5000'));
});
