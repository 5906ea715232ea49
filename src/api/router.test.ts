import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../util/errors.js';
import { filterParam } from './http.js';
import { buildRouter, parseHost } from './server.js';

void describe('router', () => {
  const router = buildRouter();

  void it('strips a version prefix and fills path parameters', () => {
    const m = router.match('GET', '/v1.43/containers/abc/json');
    assert.equal(m.version, '1.43');
    assert.deepEqual(m.params, ['abc']);
  });

  void it('lets image names span slashes and decodes them', () => {
    const m = router.match('POST', '/images/127.0.0.1%3A5000/a/b/push');
    assert.deepEqual(m.params, ['127.0.0.1:5000/a/b']);
    assert.deepEqual(router.match('DELETE', '/images/reg:5000/x/y:1').params, ['reg:5000/x/y:1']);
  });

  void it('routes HEAD to GET handlers unless HEAD has its own', () => {
    assert.equal(router.match('HEAD', '/images/json').route.method, 'GET');
    assert.equal(router.match('HEAD', '/containers/x/archive').route.method, 'HEAD');
  });

  void it('refuses versions outside [1.24, 1.44], unknown paths and methods', () => {
    assert.throws(() => router.match('GET', '/v1.23/info'), (e) => isHullError(e, 'INVALID_ARGUMENT') && /too old/.test(e.message));
    assert.throws(() => router.match('GET', '/v1.45/info'), (e) => isHullError(e, 'INVALID_ARGUMENT') && /too new/.test(e.message));
    assert.throws(() => router.match('GET', '/nope'), (e) => isHullError(e, 'NOT_FOUND'));
    assert.throws(() => router.match('PUT', '/_ping'), (e) => isHullError(e) && e.status === 405);
  });
});

void describe('filters query', () => {
  void it('accepts both of Docker encodings', () => {
    const q = new URLSearchParams({ filters: JSON.stringify({ status: ['running', 'paused'], label: { 'a=b': true, c: false } }) });
    assert.deepEqual(filterParam(q), ['status=running', 'status=paused', 'label=a=b']);
  });

  void it('refuses malformed JSON with a 400', () => {
    assert.throws(() => filterParam(new URLSearchParams({ filters: '{' })), (e) => isHullError(e, 'INVALID_ARGUMENT'));
    assert.throws(() => filterParam(new URLSearchParams({ filters: '["a"]' })), (e) => isHullError(e, 'INVALID_ARGUMENT'));
  });
});

void describe('-H', () => {
  void it('takes unix and tcp addresses', () => {
    assert.deepEqual(parseHost('unix:///run/hull/docker.sock'), { kind: 'unix', path: '/run/hull/docker.sock' });
    assert.deepEqual(parseHost('tcp://127.0.0.1:2375'), { kind: 'tcp', host: '127.0.0.1', port: 2375 });
    assert.deepEqual(parseHost('tcp://[::1]:0'), { kind: 'tcp', host: '::1', port: 0 });
  });

  void it('refuses others', () => {
    for (const h of ['unix://relative.sock', 'tcp://host', 'fd://', 'ssh://x']) assert.throws(() => parseHost(h), (e) => isHullError(e, 'INVALID_ARGUMENT'), h);
  });
});
