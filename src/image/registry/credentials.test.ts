import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { credentialKey, dockerConfigPath, getCredentials, removeCredentials, saveCredentials, withRequestCredentials } from './credentials.js';

let dir: string;
const saved = { DOCKER_CONFIG: process.env['DOCKER_CONFIG'], PATH: process.env['PATH'] };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hull-creds-'));
  process.env['DOCKER_CONFIG'] = dir;
});

afterEach(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(dir, { recursive: true, force: true });
});

async function readJson(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

void describe('credentials', () => {
  void it('honours DOCKER_CONFIG', () => {
    assert.equal(dockerConfigPath(), join(dir, 'config.json'));
  });

  void it('returns undefined without a config file', async () => {
    assert.equal(await getCredentials('127.0.0.1:5000'), undefined);
  });

  void it('per-registry request credentials (X-Registry-Config) match like auths keys and fall back to the config file', async () => {
    await saveCredentials('127.0.0.1:6000', 'fromfile', 'f');
    const byRegistry = { 'http://127.0.0.1:5000/': { username: 'sent', password: 's' }, 'https://index.docker.io/v1/': { username: 'hub', password: 'h' } };
    await withRequestCredentials({ byRegistry }, async () => {
      assert.deepEqual(await getCredentials('127.0.0.1:5000'), { username: 'sent', password: 's' });
      assert.deepEqual(await getCredentials('docker.io'), { username: 'hub', password: 'h' });
      assert.deepEqual(await getCredentials('127.0.0.1:6000'), { username: 'fromfile', password: 'f' });
    });
    assert.equal(await getCredentials('127.0.0.1:5000'), undefined, 'only for the request');
  });

  void it('saves in Docker format with mode 0600 and reads back', async () => {
    await saveCredentials('127.0.0.1:5000', 'alice', 'p:ss wörd');
    const json = await readJson();
    assert.deepEqual(json['auths'], { '127.0.0.1:5000': { auth: Buffer.from('alice:p:ss wörd').toString('base64') } });
    assert.equal((await stat(join(dir, 'config.json'))).mode & 0o777, 0o600);
    assert.deepEqual(await getCredentials('127.0.0.1:5000'), { username: 'alice', password: 'p:ss wörd' });
  });

  void it('preserves other keys and other registries', async () => {
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'other.example': { auth: Buffer.from('bob:x').toString('base64') } }, psFormat: 'table {{.ID}}', proxies: { default: {} } }),
    );
    await saveCredentials('127.0.0.1:5000', 'alice', 'pw');
    let json = await readJson();
    assert.equal(json['psFormat'], 'table {{.ID}}');
    assert.deepEqual(json['proxies'], { default: {} });
    assert.deepEqual(await getCredentials('other.example'), { username: 'bob', password: 'x' });
    assert.equal(await removeCredentials('127.0.0.1:5000'), true);
    assert.equal(await removeCredentials('127.0.0.1:5000'), false);
    json = await readJson();
    assert.deepEqual(Object.keys(json['auths'] as object), ['other.example']);
    assert.equal(json['psFormat'], 'table {{.ID}}');
    assert.equal(await getCredentials('127.0.0.1:5000'), undefined);
  });

  void it('files Docker Hub under its legacy key and finds it by any alias', async () => {
    assert.equal(credentialKey('docker.io'), 'https://index.docker.io/v1/');
    await saveCredentials('docker.io', 'hubuser', 'hubpass');
    assert.deepEqual(Object.keys((await readJson())['auths'] as object), ['https://index.docker.io/v1/']);
    assert.deepEqual(await getCredentials('index.docker.io'), { username: 'hubuser', password: 'hubpass' });
    assert.deepEqual(await getCredentials('registry-1.docker.io'), { username: 'hubuser', password: 'hubpass' });
    assert.equal(await removeCredentials('docker.io'), true);
    assert.equal(await getCredentials('docker.io'), undefined);
  });

  void it('reads URL-style keys and username/password entries written by older clients', async () => {
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'https://reg.example:8443/v2/': { username: 'u', password: 'p' } } }),
    );
    assert.deepEqual(await getCredentials('reg.example:8443'), { username: 'u', password: 'p' });
    await saveCredentials('reg.example:8443', 'u2', 'p2');
    assert.deepEqual(Object.keys((await readJson())['auths'] as object), ['reg.example:8443']);
  });

  void it('refuses to overwrite a config.json that is not JSON', async () => {
    await writeFile(join(dir, 'config.json'), '{not json');
    await assert.rejects(saveCredentials('h', 'u', 'p'), (e: unknown) => isHullError(e, 'INVALID_ARGUMENT') && e.message.includes('not valid JSON'));
    assert.equal(await readFile(join(dir, 'config.json'), 'utf8'), '{not json');
  });

  void it('uses a configured credential helper', async () => {
    const store = join(dir, 'helper-store.json');
    // A minimal docker-credential-helpers implementation backed by a JSON file.
    const script = `#!/usr/bin/env node
const fs = require('fs');
const store = ${JSON.stringify(store)};
const db = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, 'utf8')) : {};
const input = fs.readFileSync(0, 'utf8').trim();
const action = process.argv[2];
if (action === 'get') {
  if (!db[input]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
  process.stdout.write(JSON.stringify({ ServerURL: input, Username: db[input].Username, Secret: db[input].Secret }));
} else if (action === 'store') {
  const c = JSON.parse(input); db[c.ServerURL] = c; fs.writeFileSync(store, JSON.stringify(db));
} else if (action === 'erase') {
  delete db[input]; fs.writeFileSync(store, JSON.stringify(db));
}
`;
    await writeFile(join(dir, 'docker-credential-fake'), script);
    await chmod(join(dir, 'docker-credential-fake'), 0o755);
    process.env['PATH'] = `${dir}:${process.env['PATH'] ?? ''}`;
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credHelpers: { '127.0.0.1:5000': 'fake' } }));

    assert.equal(await getCredentials('127.0.0.1:5000'), undefined);
    await saveCredentials('127.0.0.1:5000', 'carol', 's3cret');
    const json = await readJson();
    assert.deepEqual(json['auths'], { '127.0.0.1:5000': {} }, 'the secret stays out of config.json');
    assert.deepEqual(json['credHelpers'], { '127.0.0.1:5000': 'fake' });
    assert.deepEqual(await getCredentials('127.0.0.1:5000'), { username: 'carol', password: 's3cret' });
    assert.equal(await removeCredentials('127.0.0.1:5000'), true);
    assert.equal(await getCredentials('127.0.0.1:5000'), undefined);
    // Another host is not routed to the helper.
    await saveCredentials('other:1', 'x', 'y');
    assert.deepEqual(await getCredentials('other:1'), { username: 'x', password: 'y' });
  });
});
