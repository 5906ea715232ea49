import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { basicAuthorization, parseWwwAuthenticate, pickChallenge, TokenCache } from './auth.js';

void describe('parseWwwAuthenticate', () => {
  void it('parses a Docker Hub style Bearer challenge', () => {
    assert.deepEqual(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }],
    );
  });

  void it('keeps commas inside quoted values and unescapes quotes', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="http://127.0.0.1:1/token",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope", note="say \\"hi\\""');
    assert.deepEqual(c?.params, {
      realm: 'http://127.0.0.1:1/token',
      scope: 'repository:a/b:pull,push repository:c:pull',
      error: 'insufficient_scope',
      note: 'say "hi"',
    });
  });

  void it('parses Basic, unquoted values, odd spacing and case', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="basic-realm"'), [{ scheme: 'basic', params: { realm: 'basic-realm' } }]);
    assert.deepEqual(parseWwwAuthenticate('BEARER  Realm = http://x/token , Service=reg'), [
      { scheme: 'bearer', params: { realm: 'http://x/token', service: 'reg' } },
    ]);
  });

  void it('splits several challenges in one header', () => {
    const cs = parseWwwAuthenticate('Basic realm="a, b", Bearer realm="https://t/token",service="s"');
    assert.deepEqual(cs.map((c) => c.scheme), ['basic', 'bearer']);
    assert.equal(cs[0]?.params['realm'], 'a, b');
    assert.equal(pickChallenge(cs)?.scheme, 'bearer');
  });

  void it('tolerates empty and malformed input', () => {
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate('realm="x"'), []);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="unterminated'), [{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
    assert.equal(pickChallenge(parseWwwAuthenticate('Negotiate')), undefined);
  });
});

void describe('TokenCache', () => {
  void it('requests tokens with service, scopes and credentials, caches them per scope, and maps 401', async () => {
    const seen: { url: string; auth: string | undefined }[] = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.headers.authorization === basicAuthorization({ username: 'u', password: 'bad' })) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      // Alternate the two field names servers use.
      const body = seen.length % 2 ? { token: `t${seen.length}`, expires_in: 300 } : { access_token: `t${seen.length}` };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
      const challenge = { scheme: 'bearer', params: { realm, service: 'svc' } };
      const cache = new TokenCache();
      const base = { challenge, userAgent: 'hull-test', domain: 'reg' };
      const creds = { username: 'u', password: 'p' };

      assert.equal(await cache.get({ ...base, scopes: ['repository:a:pull'], credentials: creds }), 't1');
      assert.equal(await cache.get({ ...base, scopes: ['repository:a:pull'], credentials: creds }), 't1', 'cached');
      const url = new URL(seen[0]?.url ?? '', realm);
      assert.equal(url.searchParams.get('service'), 'svc');
      assert.deepEqual(url.searchParams.getAll('scope'), ['repository:a:pull']);
      assert.equal(seen[0]?.auth, basicAuthorization(creds));

      assert.equal(await cache.get({ ...base, scopes: ['repository:a:pull,push', 'repository:b:pull'] }), 't2', 'access_token accepted');
      assert.deepEqual(new URL(seen[1]?.url ?? '', realm).searchParams.getAll('scope'), ['repository:a:pull,push', 'repository:b:pull']);
      assert.equal(seen[1]?.auth, undefined, 'anonymous without credentials');
      // Default lifetime is 60 s: past it a new token is fetched.
      assert.equal(await cache.get({ ...base, scopes: ['repository:a:pull,push', 'repository:b:pull'] }, Date.now() + 61_000), 't3');

      const parallel = await Promise.all([1, 2, 3].map(() => cache.get({ ...base, scopes: ['repository:c:pull'] })));
      assert.equal(new Set(parallel).size, 1, 'concurrent callers share one token request');
      assert.equal(seen.length, 4);

      await assert.rejects(
        cache.get({ ...base, scopes: ['repository:a:pull'], credentials: { username: 'u', password: 'bad' } }),
        (e: unknown) => isHullError(e, 'UNAUTHORIZED') && e.message === 'unauthorized: incorrect username or password',
      );
    } finally {
      server.close();
    }
  });
});
