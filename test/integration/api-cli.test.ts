/**
 * `hull serve` driven by the real docker CLI (client 28.x), unchanged: the CLI negotiates the
 * API version, creates, attaches, waits, streams logs and exec, copies files, pulls and pushes
 * against a real registry. One server and state root for the file; containers named uniquely.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerCli, dockerInPty, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip, runHull, uniqueName as uniq, until } from '../helpers/hull.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const skip = containerTestSkip(['runc', 'skopeo', 'script', DOCKER_CLI, 'docker-registry']);

let server: ApiServer;
let work: string;

async function docker(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await dockerCli(server, args, opts);
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** A raw request on the socket, for what the CLI does not show (headers, malformed bodies). */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: server.socket, method, path, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('hull serve with the docker CLI', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-cli-'));
    server = await startApiServer();
    await loadBusybox(server.root, work);
  });

  after(async () => {
    if (server) {
      await dockerCli(server, ['rm', '-f', ...(await dockerCli(server, ['ps', '-aq'])).stdout.split('\n').filter(Boolean)]);
      const code = await server.stop();
      assert.equal(code, 0, 'hull serve exits 0 on SIGTERM');
    }
    await rm(work, { recursive: true, force: true });
  });

  test('ping answers Docker headers for GET and HEAD; version and info through the CLI', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await raw(method, '/_ping');
      assert.equal(r.status, 200);
      assert.equal(r.headers['api-version'], '1.44');
      assert.equal(r.headers['ostype'], 'linux');
      assert.equal(r.headers['docker-experimental'], 'false');
      assert.equal(r.body, method === 'GET' ? 'OK' : '');
    }
    const v = JSON.parse(await docker(['version', '--format', '{{json .Server}}'])) as { Version: string; APIVersion?: string; ApiVersion?: string; MinAPIVersion?: string };
    assert.equal(v.ApiVersion ?? v.APIVersion, '1.44');
    assert.equal(v.MinAPIVersion, '1.24');
    assert.match(await docker(['version', '--format', '{{.Client.APIVersion}}']), /^1\.44/);
    const info = JSON.parse(await docker(['info', '--format', '{{json .}}'])) as { Images: number; OSType: string; DockerRootDir: string };
    assert.equal(info.OSType, 'linux');
    assert.equal(info.DockerRootDir, server.root);
    assert.ok(info.Images >= 1);
  });

  test('--print-socket tells scripts where to connect; a second server on a live socket is refused', async () => {
    const p = await runHull(['serve', '--print-socket', '-H', 'unix:///tmp/x.sock'], { root: server.root });
    assert.equal(p.stdout, 'unix:///tmp/x.sock\n');
    const second = await runHull(['serve', '-H', server.host], { root: server.root, timeoutMs: 30_000 });
    assert.equal(second.code, 125);
    assert.match(second.stderr, /is in use by another server/);
    assert.equal((await raw('GET', '/_ping')).status, 200);
    const bad = await runHull(['serve', '-H', 'tcp://nowhere'], { root: server.root });
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid host tcp:\/\/nowhere/);
  });

  test('version prefixes: too old and too new are 400 with Docker wording; unknown paths 404', async () => {
    assert.equal((await raw('GET', '/v1.44/containers/json')).status, 200);
    assert.equal((await raw('GET', '/v1.24/containers/json')).status, 200);
    const old = await raw('GET', '/v1.12/containers/json');
    assert.equal(old.status, 400);
    assert.match(old.body, /client version 1\.12 is too old\. Minimum supported API version is 1\.24/);
    const tooNew = await raw('GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(tooNew.body, /too new/);
    assert.equal((await raw('GET', '/nothing/here')).status, 404);
    assert.equal((await raw('PUT', '/_ping')).status, 405);
  });

  test('malformed JSON and wrong types are 400, and the server keeps answering', async () => {
    const bad = await raw('POST', '/containers/create', '{"Image": "busybox", ');
    assert.equal(bad.status, 400);
    assert.match((JSON.parse(bad.body) as { message: string }).message, /invalid JSON/);
    const wrong = await raw('POST', '/containers/create', JSON.stringify({ Image: 'busybox', Tty: 'yes' }));
    assert.equal(wrong.status, 400);
    assert.match((JSON.parse(wrong.body) as { message: string }).message, /cannot unmarshal string into Go struct field Tty/);
    const hc = await raw('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { Memory: '1g' } }));
    assert.equal(hc.status, 400);
    const missing = await raw('POST', '/containers/create', JSON.stringify({ Image: 'nosuchimage:1' }));
    assert.equal(missing.status, 404);
    assert.match((JSON.parse(missing.body) as { message: string }).message, /No such image: nosuchimage:1/);
    assert.equal((await raw('GET', '/_ping')).status, 200);
  });

  test('run --rm: output, stderr apart, exit status, container gone', async () => {
    const name = uniq('rm');
    const r = await dockerCli(server, ['run', '--rm', '--name', name, 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal((await dockerCli(server, ['inspect', name])).code, 1);
  });

  test('run -i: stdin reaches the container and its end closes it', async () => {
    assert.equal(await docker(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'line1\nline2\n' }), 'line1\nline2\ndone\n');
  });

  test('run -it goes through a real terminal', async () => {
    const r = await dockerInPty(server, `${DOCKER_CLI} run --rm -it busybox sh -c 'tty; exit 5'`);
    assert.equal(r.code, 5, r.stdout);
    assert.match(r.stdout, /\/dev\/pts\/\d+/);
  });

  test('one state: hull run -d shows in docker ps, docker run -d in hull ps; logs -f, exec, stop, rm', async () => {
    const fromCli = uniq('cli');
    const viaApi = uniq('api');
    const rh = await runHull(['run', '-d', '--name', fromCli, 'busybox', 'sleep', '300'], { root: server.root });
    assert.equal(rh.code, 0, rh.stderr);
    const id = (await docker(['run', '-d', '--name', viaApi, 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 3 ]; do echo tick $i; i=$((i+1)); sleep 0.3; done; sleep 300'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await docker(['ps', '--format', '{{.Names}} {{.Status}}']);
    assert.match(ps, new RegExp(`${fromCli} Up`));
    assert.match(ps, new RegExp(`${viaApi} Up`));
    const hps = await runHull(['ps', '--format', '{{.Names}}'], { root: server.root });
    assert.match(hps.stdout, new RegExp(viaApi));

    await until('three ticks in the log', async () => ((await docker(['logs', viaApi])).includes('tick 2') ? true : undefined), 20_000);
    assert.equal(await docker(['logs', '--tail', '1', viaApi]), 'tick 2\n');

    assert.equal(await docker(['exec', viaApi, 'sh', '-c', 'echo in-exec; echo e >&2']), 'in-exec\n');
    assert.equal((await dockerCli(server, ['exec', viaApi, 'sh', '-c', 'exit 4'])).code, 4);
    assert.equal(await docker(['exec', '-i', viaApi, 'cat'], { input: 'piped\n' }), 'piped\n');
    const notFound = await dockerCli(server, ['exec', viaApi, 'nosuchcommand']);
    assert.equal(notFound.code, 127, notFound.stderr);
    const it = await dockerInPty(server, `${DOCKER_CLI} exec -it ${viaApi} sh -c 'tty; exit 6'`);
    assert.equal(it.code, 6, it.stdout);
    assert.match(it.stdout, /\/dev\/pts\/\d+/);

    // logs -f ends when the container stops.
    const follow = dockerCli(server, ['logs', '-f', viaApi]);
    await docker(['stop', '-t', '1', viaApi]);
    const f = await follow;
    assert.equal(f.code, 0);
    assert.match(f.stdout, /tick 0\ntick 1\ntick 2\n/);
    assert.equal((await docker(['inspect', '-f', '{{.State.Status}}', viaApi])).trim(), 'exited');

    const running = await dockerCli(server, ['rm', fromCli]);
    assert.equal(running.code, 1);
    assert.match(running.stderr, /cannot remove container "\/.*": container is running/);
    await docker(['rm', '-f', fromCli, viaApi]);
    assert.equal((await runHull(['ps', '-aq'], { root: server.root })).stdout.includes(id.slice(0, 12)), false);
  });

  test('cp both ways, stats --no-stream, top, inspect', async () => {
    const name = uniq('cp');
    await docker(['run', '-d', '--name', name, 'busybox', 'sleep', '300']);
    const src = join(work, 'in.txt');
    await writeFile(src, 'copied in\n');
    await docker(['cp', src, `${name}:/tmp/`]);
    assert.equal(await docker(['exec', name, 'cat', '/tmp/in.txt']), 'copied in\n');
    await docker(['exec', name, 'sh', '-c', 'mkdir -p /data/sub && echo deep > /data/sub/f']);
    const out = join(work, 'out');
    await docker(['cp', `${name}:/data`, out]);
    assert.equal(await readFile(join(out, 'sub', 'f'), 'utf8'), 'deep\n');
    const missing = await dockerCli(server, ['cp', `${name}:/nope`, out]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Could not find the file \/nope/);

    const stats = await docker(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', name]);
    assert.equal(stats.trim(), `${name} 1`);
    assert.match(await docker(['top', name]), /sleep 300/);
    assert.equal((await docker(['inspect', '-f', '{{.Name}} {{.Config.Image}} {{.State.Running}}', name])).trim(), `/${name} busybox true`);
    assert.match(await docker(['diff', name]), /^A \/tmp\/in\.txt$/m);
    assert.match(await docker(['commit', '-c', 'CMD ["cat", "/tmp/in.txt"]', name, 'committed:1']), /^sha256:[0-9a-f]{64}$/m);
    assert.equal(await docker(['run', '--rm', 'committed:1']), 'copied in\n');
    await docker(['rm', '-f', name]);
    await docker(['rmi', 'committed:1']);
  });

  test('images, tag, save, rmi, load, system df', async () => {
    assert.match(await docker(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^busybox:latest$/m);
    await docker(['tag', 'busybox', 'mine/bb:v1']);
    assert.match(await docker(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^mine\/bb:v1$/m);
    const tar = join(work, 'saved.tar');
    await docker(['save', '-o', tar, 'mine/bb:v1']);
    assert.ok(existsSync(tar));
    assert.match(await docker(['rmi', 'mine/bb:v1']), /Untagged: mine\/bb:v1/);
    assert.match(await docker(['load', '-i', tar]), /Loaded image: mine\/bb:v1/);
    assert.match(await docker(['image', 'inspect', '-f', '{{.Id}}', 'mine/bb:v1']), /^sha256:[0-9a-f]{64}/);
    await docker(['rmi', 'mine/bb:v1']);
    const missing = await dockerCli(server, ['rmi', 'mine/bb:v1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such image/);
    assert.match(await docker(['system', 'df']), /^Images\s+1\s/m);
  });

  test('push to and pull from a real registry through the server', async () => {
    let reg: TestRegistry | undefined;
    try {
      reg = await startRegistry();
      const ref = `${reg.host}/api/bb:1`;
      await docker(['tag', 'busybox', ref]);
      const push = await docker(['push', ref]);
      assert.match(push, /1: digest: sha256:[0-9a-f]{64} size: \d+/);
      await docker(['rmi', ref]);
      const pull = await docker(['pull', ref]);
      assert.match(pull, /Status: (Downloaded newer image|Image is up to date) for/);
      assert.match(pull, new RegExp(`${ref.replace(/\./g, '\\.')}\\s*$`));
      // `docker run` of a missing image pulls it (the create answers 404, the CLI pulls).
      await docker(['rmi', ref]);
      const r = await dockerCli(server, ['run', '--rm', ref, 'echo', 'pulled-and-ran']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split('\n').filter((l) => l === 'pulled-and-ran').length, 1);
      await docker(['rmi', ref]);
    } finally {
      await reg?.stop();
    }
  });

  test('login checks credentials through the server; push and pull send them (X-Registry-Auth)', async () => {
    let reg: TestRegistry | undefined;
    try {
      reg = await startRegistry({ htpasswd: { user: 'apiuser', pass: 'apipass' } });
      const ref = `${reg.host}/auth/bb:1`;
      await docker(['tag', 'busybox', ref]);
      const anon = await dockerCli(server, ['push', ref]);
      assert.notEqual(anon.code, 0, 'the registry wants credentials');
      const wrong = await dockerCli(server, ['login', '-u', 'apiuser', '--password-stdin', reg.host], { input: 'nope\n' });
      assert.notEqual(wrong.code, 0);
      assert.match(await docker(['login', '-u', 'apiuser', '--password-stdin', reg.host], { input: 'apipass\n' }), /Login Succeeded/);
      await docker(['push', ref]);
      await docker(['rmi', ref]);
      await docker(['pull', ref]);
      await docker(['rmi', ref]);
    } finally {
      await reg?.stop();
    }
  });

  test('events: recorded by the CLI and the server alike, filtered, bounded by since/until', async () => {
    const name = uniq('ev');
    const since = Math.floor(Date.now() / 1000) - 1;
    await docker(['run', '--name', name, 'busybox', 'true']);
    await runHull(['rm', name], { root: server.root });
    const untilS = Math.floor(Date.now() / 1000) + 1;
    const ev = await docker(['events', '--since', String(since), '--until', String(untilS), '--filter', `container=${name}`, '--format', '{{.Type}} {{.Action}}']);
    assert.deepEqual(ev.trim().split('\n'), ['container create', 'container start', 'container die', 'container destroy']);
    // Live: a stream open before the action sees it (headers arrive once it is subscribed).
    const filters = encodeURIComponent(JSON.stringify({ type: ['image'], event: ['tag'] }));
    const line = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: server.socket, path: `/v1.44/events?filters=${filters}` }, (res) => {
        void runHull(['tag', 'busybox', 'evtag:1'], { root: server.root });
        res.once('data', (d: Buffer) => {
          req.destroy();
          resolve(d.toString());
        });
      });
      req.on('error', reject);
      req.end();
    });
    const msg = JSON.parse(line.split('\n')[0]!) as { Action: string; Actor: { Attributes: { name: string } } };
    assert.deepEqual([msg.Action, msg.Actor.Attributes.name], ['tag', 'evtag:1']);
    await until('the tag to be recorded', async () => ((await dockerCli(server, ['image', 'inspect', 'evtag:1'])).code === 0 ? true : undefined));
    await docker(['rmi', 'evtag:1']);
  });

  test('a long request does not block others', async () => {
    const name = uniq('long');
    await docker(['run', '-d', '--name', name, 'busybox', 'sleep', '300']);
    const waiting = dockerCli(server, ['wait', name]);
    const follow = dockerCli(server, ['logs', '-f', name]);
    for (let i = 0; i < 5; i++) assert.equal((await raw('GET', '/_ping')).status, 200);
    assert.match(await docker(['ps', '--format', '{{.Names}}']), new RegExp(name));
    await docker(['kill', name]);
    assert.equal((await waiting).stdout.trim(), '137');
    assert.equal((await follow).code, 0);
    await docker(['rm', name]);
  });
});
