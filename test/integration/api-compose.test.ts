/**
 * docker-compose (Debian's 1.29, python docker-py) unchanged against `hull serve`: `up -d`,
 * `ps`, `port`, `logs`, `down -v` of a two-service app. `web` is busybox httpd serving a file
 * from a named volume and publishing its port on the host; `client` fetches the file from
 * `web` by service name over the project's network. Upstream DNS is a silent loopback address.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerCli, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip, until } from '../helpers/hull.js';
import { httpGet } from '../helpers/net.js';

const COMPOSE = '/usr/bin/docker-compose';
const netavarkPresent = existsSync('/usr/lib/podman/netavark') && existsSync('/usr/lib/podman/aardvark-dns');
const skip = containerTestSkip(['runc', 'skopeo', 'iptables', DOCKER_CLI]) || (!existsSync(COMPOSE) ? 'docker-compose not installed' : netavarkPresent ? false : 'netavark/aardvark-dns not installed');

const COMPOSE_FILE = `version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo served-by-compose > /www/index.html && exec httpd -f -p 80 -h /www"]
    volumes:
      - site:/www
    ports:
      - "127.0.0.1::80"
    networks: [appnet]
  client:
    image: busybox
    command: ["sh", "-c", "for i in $$(seq 1 20); do wget -qO- http://web/index.html && exit 0; sleep 1; done; exit 1"]
    depends_on: [web]
    networks: [appnet]
volumes:
  site:
networks:
  appnet:
`;

let server: ApiServer;
let work: string;
const project = `hc${process.pid}`;

function compose(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(COMPOSE, ['-p', project, ...args], {
      cwd: work,
      env: { ...process.env, DOCKER_HOST: server.host, DOCKER_CONFIG: server.dockerConfig, COMPOSE_INTERACTIVE_NO_CLI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await compose(args);
  assert.equal(r.code, 0, `docker-compose ${args.join(' ')} → ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

describe('docker-compose against hull serve', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-compose-'));
    await writeFile(join(work, 'upstream-resolv.conf'), 'nameserver 127.0.0.9\n');
    server = await startApiServer({ HULL_DNS_UPSTREAM_FILE: join(work, 'upstream-resolv.conf') });
    await loadBusybox(server.root, work);
    await writeFile(join(work, 'docker-compose.yml'), COMPOSE_FILE);
  });

  after(async () => {
    if (server) {
      await compose(['down', '-v']);
      assert.equal(await server.stop(), 0);
    }
    await rm(work, { recursive: true, force: true });
  });

  test('up -d, ps, port, logs, down -v of a web + client app with a network and a volume', async () => {
    const up = await ok(['up', '-d']);
    assert.match(up, new RegExp(`Creating network "${project}_appnet"`));
    assert.match(up, new RegExp(`Creating volume "${project}_site"`));

    // The client exits 0 once it has fetched the page by service name.
    const clientName = `${project}_client_1`;
    await until('the client container exits', async () => {
      const r = await dockerCli(server, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', clientName]);
      return r.stdout.startsWith('exited') ? r.stdout.trim() : undefined;
    }, 60_000).then((s) => assert.equal(s, 'exited 0'));

    const ps = await ok(['ps']);
    assert.match(ps, new RegExp(`${project}_web_1 .* Up .*127\\.0\\.0\\.1:\\d+->80/tcp`));
    assert.match(ps, new RegExp(`${clientName} .* Exit 0`));

    const port = Number((await ok(['port', 'web', '80'])).trim().split(':').pop());
    assert.ok(port > 0);
    assert.equal((await until('the published port answers', () => httpGet(port, '/index.html').catch(() => undefined), 30_000)).body.trim(), 'served-by-compose');

    const logs = await ok(['logs', '--no-color', 'client']);
    assert.match(logs, /client_1\s+\| served-by-compose/);

    // The file really lives in the named volume, and the services share the project network.
    const mountpoint = (await dockerCli(server, ['volume', 'inspect', '-f', '{{.Mountpoint}}', `${project}_site`])).stdout.trim();
    assert.equal(await readFile(join(mountpoint, 'index.html'), 'utf8'), 'served-by-compose\n');
    const members = JSON.parse((await dockerCli(server, ['network', 'inspect', '-f', '{{json .Containers}}', `${project}_appnet`])).stdout) as Record<string, { Name: string }>;
    assert.ok(Object.values(members).some((m) => m.Name === `${project}_web_1`), JSON.stringify(members));

    const down = await ok(['down', '-v']);
    assert.match(down, new RegExp(`Removing network ${project}_appnet`));
    assert.match(down, new RegExp(`Removing volume ${project}_site`));
    assert.equal((await dockerCli(server, ['ps', '-aq'])).stdout.trim(), '');
    assert.doesNotMatch((await dockerCli(server, ['network', 'ls'])).stdout, new RegExp(project));
    assert.equal((await dockerCli(server, ['volume', 'ls', '-q'])).stdout.trim(), '');
  });
});
