/**
 * RUN on networks, end to end: the real `hull` binary, runc, netavark and aardvark-dns. A RUN
 * on a user network reaches a service container on it by name; with `--network none` it
 * cannot; the default is the default bridge. Set-up happens only for a RUN that runs (a cached
 * rebuild succeeds with the service gone), and every step's namespace and endpoint are gone
 * after success, failure, Ctrl-C and (by the next build) SIGKILL. Name forwarding goes to a
 * DNS server this test runs on a loopback address, so no query leaves the machine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestDns, type TestDns } from '../helpers/dns-server.js';
import { assertOk, containerTestSkip, HULL_BIN, type HullResult, removeContainersAndNetworks, runHull, uniqueName as uniq, until } from '../helpers/hull.js';
import { loadBusybox } from '../helpers/images.js';

const netavarkPresent = existsSync('/usr/lib/podman/netavark') && existsSync('/usr/lib/podman/aardvark-dns');
const skip = containerTestSkip(['runc', 'skopeo', 'iptables']) || (netavarkPresent ? false : 'netavark/aardvark-dns not installed');

let work: string;
let root: string;
let dns: TestDns;
let seq = 0;
const DNS_ADDR = `127.54.${process.pid % 250}.${1 + (Math.floor(process.pid / 250) % 250)}`;
const env = (): Record<string, string> => ({ HULL_DNS_UPSTREAM_FILE: join(work, 'upstream-resolv.conf') });

function hull(args: string[]): Promise<HullResult> {
  return runHull(args, { root, env: env(), timeoutMs: 180_000 });
}

async function ok(args: string[]): Promise<string> {
  return assertOk(args, await hull(args)).stdout;
}

async function context(dockerfile: string): Promise<string> {
  const dir = join(work, `ctx-${++seq}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

/** The ids of the endpoints on `net` (a RUN step's is there while it runs: it has no name). */
async function endpoints(net: string): Promise<string[]> {
  const out = await ok(['network', 'inspect', '-f', '{{range $k, $v := .Containers}}{{$k}} {{end}}', net]);
  return out.trim().split(/\s+/).filter(Boolean).sort();
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-build-net-'));
  root = join(work, 'root');
  dns = await startTestDns(DNS_ADDR, {});
  await writeFile(join(work, 'upstream-resolv.conf'), `nameserver ${DNS_ADDR}\n`);
  await loadBusybox(root, work);
});

after(async () => {
  if (skip) return;
  try {
    await removeContainersAndNetworks(ok);
  } finally {
    await dns.close();
    await rm(work, { recursive: true, force: true });
  }
});

describe('hull build: RUN on networks', { skip }, () => {
  let net: string;
  let srv: string;
  let srvId: string;

  before(async () => {
    if (skip) return;
    net = uniq('bnet');
    srv = uniq('svc');
    await ok(['network', 'create', net]);
    srvId = (await ok(['run', '-d', '--name', srv, '--network', net, 'busybox', 'sh', '-c', 'while true; do echo reached-by-name | nc -l -p 5000; done'])).trim();
  });

  test('a RUN on a user network reaches a service there by name; a cached rebuild does not set the network up', async () => {
    const dir = await context(`FROM busybox\nRUN nc -w 10 ${srv} 5000 > /got && ip -4 -o addr show eth0 > /a1\nRUN ip -4 -o addr show eth0 > /a2\n`);
    await ok(['build', '--network', net, '-t', 'netbuild:1', dir]);
    assert.equal(await ok(['run', '--rm', 'netbuild:1', 'cat', '/got']), 'reached-by-name\n');
    // One attachment serves the build's RUN steps: the same interface and address in both.
    const [a1, a2] = (await ok(['run', '--rm', 'netbuild:1', 'cat', '/a1', '/a2'])).trim().split('\n');
    assert.match(a1!, /eth0\s+inet \d+\.\d+\.\d+\.\d+\//);
    assert.equal(a1!.replace(/\s+valid_lft.*$/, ''), a2!.replace(/\s+valid_lft.*$/, ''));
    // Its endpoint is deleted after its namespace (engine/networks.ts `removed`).
    assert.deepEqual(await endpoints(net), [srvId], 'the step left its endpoint');

    // With the service gone, only a RUN served from the cache can succeed.
    await ok(['stop', '-t', '0', srv]);
    try {
      const r = await hull(['build', '--network', net, '-t', 'netbuild:1', dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /RUN nc[^\n]*\n#\d+ CACHED/);
      assert.doesNotMatch(r.stderr, /DONE \d/, 'no step ran');
    } finally {
      await ok(['start', srv]);
    }
  });

  test('with --network none the same RUN cannot reach it, and the failure leaves nothing behind', async () => {
    const dir = await context(`FROM busybox\nRUN nc -w 5 ${srv} 5000\n`);
    const r = await hull(['build', '--network', 'none', dir]);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /The command '\/bin\/sh -c nc -w 5 .*' returned a non-zero code: 1/);
    // And failing on the user network too (a port nobody listens on): torn down as well.
    const refused = await hull(['build', '--network', net, await context(`FROM busybox\nRUN nc -w 5 ${srv} 5999\n`)]);
    assert.notEqual(refused.code, 0);
    assert.deepEqual(await endpoints(net), [srvId]);
  });

  test('the default is the default bridge: the step has an address there, and --network none has only loopback', async () => {
    const subnet = (await ok(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'bridge'])).trim();
    const prefix = subnet.split('.').slice(0, 3).join('.');
    const dir = await context('FROM busybox\nRUN ip -4 -o addr show > /addrs\n');
    await ok(['build', '-t', 'netdefault:1', dir]);
    assert.match(await ok(['run', '--rm', '--network', 'none', 'netdefault:1', 'cat', '/addrs']), new RegExp(`eth0\\s+inet ${prefix.replace(/\./g, '\\.')}\\.`));
    await ok(['build', '--no-cache', '--network', 'none', '-t', 'netnone:1', dir]);
    const none = await ok(['run', '--rm', '--network', 'none', 'netnone:1', 'cat', '/addrs']);
    assert.doesNotMatch(none, /eth0/);
    assert.match(none, /\blo\s+inet 127\.0\.0\.1/);
  });

  test('an unknown network is Docker\'s error before anything runs', async () => {
    const r = await hull(['build', '--network', 'no-such-net-xyz', await context('FROM busybox\nRUN true\n')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /network no-such-net-xyz not found/);
  });

  test('Ctrl-C during a RUN on a network tears its network down; after SIGKILL the next build does', { timeout: 300_000 }, async () => {
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const marker = `long-step-${signal}`;
      const dir = await context(`FROM busybox\nRUN echo ${marker}-$((1+1)) && sleep 600\n`);
      const child = spawn(process.execPath, ['--', HULL_BIN, '--root', root, 'build', '--network', net, dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env() } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((r) => child.on('close', () => r()));
      await until('the RUN step to start', () => stderr.includes(`${marker}-2`), 60_000);
      const step = (await endpoints(net)).filter((id) => id !== srvId);
      assert.equal(step.length, 1, 'the running step is on the network');
      assert.ok(existsSync(`/run/netns/hull-${step[0]!}`), 'the step has its namespace');
      child.kill(signal);
      await exited;
      if (signal === 'SIGKILL') {
        assert.ok(existsSync(`/run/netns/hull-${step[0]!}`), 'a killed build cannot clean up');
        await ok(['build', await context('FROM busybox\n')]);
      }
      assert.deepEqual(await endpoints(net), [srvId], `${signal}: the endpoint is gone`);
      assert.equal(existsSync(`/run/netns/hull-${step[0]!}`), false, `${signal}: the namespace is gone`);
    }
  });
});
