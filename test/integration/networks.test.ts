/**
 * Networks end to end: the real `hull` binary, runc, netavark, aardvark-dns and iptables in
 * real namespaces. Traffic stays on this machine: containers talk to each other, to the host's
 * loopback through published ports, and to a namespace this test makes; name forwarding goes
 * to a DNS server this test runs on a loopback address (HULL_DNS_UPSTREAM_FILE).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { removeHullTree } from '../helpers/leftovers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOk, containerTestSkip, removeContainersAndNetworks, runHull, uniqueName as uniq, until } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { startTestDns, type TestDns } from '../helpers/dns-server.js';
import { buildOciLayout, busyboxImage } from '../helpers/images.js';
import { tcpRead } from '../helpers/net.js';

const execFileP = promisify(execFile);
const netavarkPresent = existsSync('/usr/lib/podman/netavark') && existsSync('/usr/lib/podman/aardvark-dns');
const skip = containerTestSkip(['runc', 'skopeo', 'iptables']) || (netavarkPresent ? false : 'netavark/aardvark-dns not installed');

let work: string;
let root: string;
let dns: TestDns;
/** A loopback address of our own for the upstream resolver (port 53 must be free on it). */
const DNS_ADDR = `127.53.${process.pid % 250}.${1 + (Math.floor(process.pid / 250) % 250)}`;
const PORT_BASE = 20000 + (process.pid % 20000);

function hull(args: string[], timeoutMs = 90_000): Promise<HullResult> {
  return runHull(args, { root, env: { HULL_DNS_UPSTREAM_FILE: join(work, 'upstream-resolv.conf') }, timeoutMs });
}

async function ok(args: string[]): Promise<string> {
  return assertOk(args, await hull(args)).stdout;
}

async function fails(args: string[], message: RegExp): Promise<void> {
  const r = await hull(args);
  assert.notEqual(r.code, 0, `hull ${args.join(' ')} should fail`);
  assert.match(r.stderr, message);
}

async function inspect(name: string, format: string): Promise<string> {
  return (await ok(['inspect', '-f', format, name])).trim();
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-ntest-'));
  root = join(work, 'root');
  dns = await startTestDns(DNS_ADDR, { 'outside.test': '192.0.2.123' });
  await writeFile(join(work, 'upstream-resolv.conf'), `nameserver ${DNS_ADDR}\n`);
  const layout = join(work, 'layout');
  const udpApplets = ['syslogd', 'logger'].map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' }));
  await buildOciLayout(layout, busyboxImage({ refName: 'latest', extraLayers: [udpApplets], config: { ExposedPorts: ['8080/tcp'] } }));
  const archive = join(work, 'busybox.tar');
  await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `oci-archive:${archive}:busybox:latest`]);
  await ok(['load', '-i', archive]);
});

after(async () => {
  if (skip) return;
  try {
    const ids = await removeContainersAndNetworks(ok);
    for (const id of ids) assert.equal(existsSync(`/run/netns/hull-${id}`), false, 'netns left behind');
  } finally {
    await dns.close();
    await removeHullTree(work);
  }
});

describe('user-defined networks', { skip }, () => {
  test('containers talk TCP and UDP by name and alias; a removed name stops resolving; other names are forwarded', async () => {
    const net = uniq('net');
    await ok(['network', 'create', net]);
    const srv = uniq('srv');
    await ok(['run', '-d', '--name', srv, '--network', net, '--network-alias', 'db', 'busybox', 'sh', '-c', 'while true; do echo tcp-ok | nc -l -p 5000; done']);
    const run = (script: string): Promise<string> => ok(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', script]);
    assert.equal((await run(`nc -w 5 ${srv} 5000 </dev/null`)).trim(), 'tcp-ok');
    assert.equal((await run('nc -w 5 db 5000 </dev/null')).trim(), 'tcp-ok');
    // id prefix (Docker's short id) resolves too
    const id = await inspect(srv, '{{.Id}}');
    assert.equal((await run(`nc -w 5 ${id.slice(0, 12)} 5000 </dev/null`)).trim(), 'tcp-ok');
    // UDP: this busybox's nc has no -u, so syslogd -R sends the datagrams (to the name, then the
    // alias) and the server's kernel counts their arrival (Udp NoPorts: nothing listens on 5001).
    const noPorts = async (): Promise<number> => {
      const lines = (await ok(['exec', srv, 'grep', 'Udp:', '/proc/net/snmp'])).trim().split('\n');
      const head = lines[0]!.split(/\s+/);
      return Number(lines[1]!.split(/\s+/)[head.indexOf('NoPorts')]);
    };
    const before0 = await noPorts();
    for (const target of [srv, 'db']) {
      await run(`syslogd -n -R ${target}:5001 & sleep 1; logger udp-to-${target}; sleep 1; kill %1`);
    }
    await until('two UDP datagrams at the server', async () => ((await noPorts()) >= before0 + 2 ? true : undefined), 10_000);

    // forwarding: a name no container has goes to the upstream resolver
    assert.match(await run('nslookup outside.test'), /192\.0\.2\.123/);
    assert.ok(dns.questions.includes('outside.test'));

    const srvIp = await inspect(srv, `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`);
    assert.match(await run(`nslookup ${srv}`), new RegExp(`Address: ${srvIp.replace(/\./g, '\\.')}`));
    await ok(['rm', '-f', srv]);
    const r = await hull(['run', '--rm', '--network', net, 'busybox', 'nslookup', srv]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.doesNotMatch(r.stdout, new RegExp(srvIp.replace(/\./g, '\\.')));
    await ok(['network', 'rm', net]);
  });

  test('the default bridge does not resolve container names; --dns sets the resolver', async () => {
    const c1 = uniq('b1');
    await ok(['run', '-d', '--name', c1, 'busybox', 'sleep', '120']);
    const gw = await inspect(c1, '{{.NetworkSettings.Gateway}}');
    assert.match(gw, /^\d+\.\d+\.\d+\.\d+$/);
    // A resolver of ours on the bridge's gateway: the container's queries reach it, and no one answers c1.
    const local = await startTestDns(gw, {});
    try {
      const r = await hull(['run', '--rm', '--dns', gw, 'busybox', 'sh', '-c', `cat /etc/resolv.conf; nslookup ${c1}`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, new RegExp(`nameserver ${gw.replace(/\./g, '\\.')}`));
      assert.ok(local.questions.includes(c1), `the query went to --dns: ${local.questions.join(',')}`);
    } finally {
      await local.close();
    }
    await ok(['rm', '-f', c1]);
  });

  test('network rm is refused while in use and names the users; inspect shows them', async () => {
    const net = uniq('busy');
    const id = (await ok(['network', 'create', '--label', 'k=v', net])).trim();
    const c = uniq('user');
    await ok(['create', '--name', c, '--network', net, 'busybox', 'true']);
    const shown = JSON.parse(await ok(['network', 'inspect', net])) as { Id: string; Labels: Record<string, string>; Containers: Record<string, { Name: string; IPv4Address: string }>; IPAM: { Config: { Subnet: string }[] } }[];
    assert.equal(shown[0]!.Id, id);
    assert.deepEqual(shown[0]!.Labels, { k: 'v' });
    assert.deepEqual(Object.values(shown[0]!.Containers).map((x) => x.Name), [c]);
    await fails(['network', 'rm', net], new RegExp(`network ${net} has active endpoints \\(name:"${c}"`));
    await ok(['rm', c]);
    assert.equal((await ok(['network', 'rm', net])).trim(), net);
  });

  test('20 parallel run -d on one network get distinct addresses', async () => {
    const net = uniq('par');
    await ok(['network', 'create', net]);
    const names = Array.from({ length: 20 }, () => uniq('p'));
    const results = await Promise.all(names.map((n) => hull(['run', '-d', '--name', n, '--network', net, 'busybox', 'sleep', '120'], 240_000)));
    results.forEach((r, i) => assert.equal(r.code, 0, `${names[i]}: ${r.stderr}`));
    const ips = await Promise.all(names.map((n) => inspect(n, `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`)));
    assert.equal(new Set(ips).size, 20, ips.join(' '));
    await ok(['rm', '-f', ...names]);
    await ok(['network', 'rm', net]);
  });

  test('connect and disconnect a running container', async () => {
    const a = uniq('na');
    const b = uniq('nb');
    await ok(['network', 'create', a]);
    await ok(['network', 'create', b]);
    const c = uniq('cd');
    await ok(['run', '-d', '--name', c, '--network', a, 'busybox', 'sleep', '120']);
    await ok(['network', 'connect', '--alias', 'extra', b, c]);
    const addrs = await ok(['exec', c, 'ip', '-4', '-o', 'addr']);
    assert.match(addrs, /eth1/);
    assert.match(await ok(['run', '--rm', '--network', b, 'busybox', 'nslookup', 'extra']), /Address: \d/);
    await ok(['network', 'disconnect', b, c]);
    assert.doesNotMatch(await ok(['exec', c, 'ip', '-4', '-o', 'addr']), /eth1/);
    await ok(['rm', '-f', c]);
    await ok(['network', 'rm', a, b]);
  });
});

describe('published ports', { skip }, () => {
  test('a published port answers on 127.0.0.1 and the chosen address; hull port and ps show it; a clash is an error', async () => {
    const c = uniq('web');
    const p1 = PORT_BASE;
    await ok(['run', '-d', '--name', c, '-p', `${p1}:80`, '-P', 'busybox', 'sh', '-c', 'while true; do echo hello | nc -l -p 80; done']);
    assert.equal((await until('the published port', () => tcpRead('127.0.0.1', p1).catch(() => undefined), 15_000)).trim(), 'hello');
    const ports = await ok(['port', c]);
    assert.match(ports, new RegExp(`80/tcp -> 0\\.0\\.0\\.0:${p1}`));
    assert.match(ports, /8080\/tcp -> 0\.0\.0\.0:\d+/, '-P publishes the image EXPOSE');
    assert.match(await ok(['ps', '--filter', `name=${c}`]), new RegExp(`0\\.0\\.0\\.0:${p1}->80/tcp`));
    const clash = uniq('clash');
    await fails(['run', '-d', '--name', clash, '-p', `${p1}:80`, 'busybox', 'sleep', '5'], new RegExp(`Bind for 0\\.0\\.0\\.0:${p1} failed: port is already allocated`));
    await ok(['rm', '-f', c, clash]);
    // freed with the container: the same port can be published again, on an explicit address
    const c2 = uniq('web2');
    await ok(['run', '-d', '--name', c2, '-p', `127.0.0.1:${p1}:80/tcp`, 'busybox', 'sh', '-c', 'while true; do echo again | nc -l -p 80; done']);
    assert.equal((await until('the republished port', () => tcpRead('127.0.0.1', p1).catch(() => undefined), 15_000)).trim(), 'again');
    assert.equal((await ok(['port', c2, '80'])).trim(), `127.0.0.1:${p1}`);
    await ok(['rm', '-f', c2]);
    const gone = await tcpRead('127.0.0.1', p1).then(() => 'answered', () => 'refused');
    assert.equal(gone, 'refused');
  });
});

describe('--internal', { skip }, () => {
  const ns = `hnt${process.pid % 100000}`;
  const third = process.pid % 250;
  const hostIp = `10.199.${third}.1`;
  const nsIp = `10.199.${third}.2`;
  let listener: ReturnType<typeof spawn> | undefined;

  before(() => {
    if (skip) return;
    const sh = (cmd: string): void => {
      const r = spawnSync('sh', ['-ec', cmd], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    };
    // A namespace of ours, routed from the host: the "outside" a container may or may not reach.
    sh(`ip netns add ${ns}; ip link add ${ns}a type veth peer name ${ns}b; ip link set ${ns}b netns ${ns};
        ip addr add ${hostIp}/30 dev ${ns}a; ip link set ${ns}a up;
        ip -n ${ns} addr add ${nsIp}/30 dev ${ns}b; ip -n ${ns} link set ${ns}b up; ip -n ${ns} link set lo up;
        ip -n ${ns} route add default via ${hostIp}`);
    listener = spawn('ip', ['netns', 'exec', ns, 'timeout', '120', 'busybox', 'sh', '-c', 'while true; do echo reached | busybox nc -l -p 7000; done'], { stdio: 'ignore' });
  });

  after(() => {
    if (skip) return;
    listener?.kill('SIGKILL');
    spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).forEach((p) => {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        // gone
      }
    });
    spawnSync('ip', ['link', 'del', `${ns}a`]);
    spawnSync('ip', ['netns', 'del', ns]);
  });

  test('an --internal network has no route out; a normal one reaches the same address', async () => {
    const open = uniq('open');
    const closed = uniq('closed');
    await ok(['network', 'create', open]);
    await ok(['network', 'create', '--internal', closed]);
    const reach = (net: string): Promise<HullResult> => hull(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', `ip route; nc -w 3 ${nsIp} 7000 </dev/null`]);
    const o = await until('the outside listener', async () => {
      const r = await reach(open);
      return r.stdout.includes('reached') ? r : undefined;
    }, 20_000);
    assert.match(o.stdout, /default via/);
    const i = await reach(closed);
    assert.doesNotMatch(i.stdout, /reached/);
    assert.doesNotMatch(i.stdout, /default/);
    const shown = JSON.parse(await ok(['network', 'inspect', closed])) as { Internal: boolean }[];
    assert.equal(shown[0]!.Internal, true);
    await ok(['network', 'rm', open, closed]);
  });
});

describe('modes and errors', { skip }, () => {
  test('none, host and container: modes', async () => {
    assert.doesNotMatch(await ok(['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']), /eth0/);
    const hostLinks = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
    const inHost = (await ok(['run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link'])).split('\n').filter(Boolean).length;
    assert.ok(Math.abs(inHost - hostLinks) <= 2, `host network sees the host's links (${inHost} vs ${hostLinks})`);
    const c = uniq('share');
    await ok(['run', '-d', '--name', c, '--hostname', 'sharer', '--add-host', 'db.example:10.1.2.3', 'busybox', 'sleep', '120']);
    const ip = await inspect(c, '{{.NetworkSettings.IPAddress}}');
    assert.match(await ok(['exec', c, 'cat', '/etc/hosts']), /10\.1\.2\.3\s+db\.example/);
    assert.match(await ok(['exec', c, 'hostname']), /sharer/);
    assert.match(await ok(['run', '--rm', '--network', `container:${c}`, 'busybox', 'ip', '-4', '-o', 'addr']), new RegExp(ip.replace(/\./g, '\\.')));
    await ok(['rm', '-f', c]);
  });

  test('Docker-worded errors for bad flags', async () => {
    await fails(['network', 'create', '--subnet', '10.1.2.3/24', uniq('bad')], /invalid subnet 10\.1\.2\.3\/24/);
    await fails(['network', 'create', '--subnet', 'nonsense', uniq('bad')], /invalid CIDR address: nonsense/);
    await fails(['network', 'create', '--gateway', '10.1.1.1', uniq('bad')], /every ip-range or gateway must have a corresponding subnet/);
    await fails(['network', 'create', '-d', 'overlay', uniq('bad')], /plugin "overlay" not found/);
    const a = uniq('ov');
    await ok(['network', 'create', a]);
    const subnet = (JSON.parse(await ok(['network', 'inspect', a])) as { IPAM: { Config: { Subnet: string }[] } }[])[0]!.IPAM.Config[0]!.Subnet;
    await fails(['network', 'create', '--subnet', subnet, uniq('ov')], /Pool overlaps with other one on this address space/);
    await fails(['network', 'create', a], new RegExp(`network with name ${a} already exists`));
    await fails(['run', '--rm', '--network', uniq('nonet'), 'busybox', 'true'], /network .* not found/);
    await fails(['run', '--rm', '-p', 'abc', 'busybox', 'true'], /invalid containerPort: abc/);
    await fails(['run', '--rm', '-p', '1-3:4-5', 'busybox', 'true'], /invalid ranges specified/);
    await fails(['run', '--rm', '--ip', '10.1.1.1', 'busybox', 'true'], /user specified IP address is supported on user defined networks only/);
    await fails(['run', '--rm', '--network', a, '--ip', '192.0.2.9', 'busybox', 'true'], /no configured subnet or ip-range contain the IP address 192\.0\.2\.9/);
    await fails(['network', 'rm', 'bridge'], /bridge is a pre-defined network and cannot be removed/);
    await fails(['network', 'rm', uniq('missing')], /network .* not found/);
    const named = uniq('refused');
    await fails(['run', '--name', named, '--network', a, '--ip', '192.0.2.9', 'busybox', 'true'], /no configured subnet/);
    assert.equal((await ok(['ps', '-aq', '--filter', `name=${named}`])).trim(), '', 'a refused create leaves no container behind');
    await ok(['network', 'rm', a]);
  });

  test('--ip gives the asked address; it is not handed out twice; prune removes unused networks', async () => {
    const net = uniq('ipn');
    await ok(['network', 'create', '--label', `t=${process.pid}`, net]);
    const subnet = (JSON.parse(await ok(['network', 'inspect', net])) as { IPAM: { Config: { Subnet: string }[] } }[])[0]!.IPAM.Config[0]!.Subnet;
    const want = subnet.replace(/\.0\/\d+$/, '.77');
    const c = uniq('fixed');
    await ok(['run', '-d', '--name', c, '--network', net, '--ip', want, 'busybox', 'sleep', '120']);
    assert.equal(await inspect(c, `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`), want);
    await fails(['run', '--rm', '--network', net, '--ip', want, 'busybox', 'true'], /Address already in use/);
    await ok(['rm', '-f', c]);
    assert.equal((await ok(['network', 'prune', '-f', '--filter', `label=t=${process.pid}`])).trim(), `Deleted Networks:\n${net}`);
  });
});

describe('the default bridge fast path (network/fast-bridge.ts)', { skip }, () => {
  const link = (name: string): { exists: boolean; master: string } => {
    const r = spawnSync('ip', ['-j', 'link', 'show', name], { encoding: 'utf8' });
    if (r.status !== 0) return { exists: false, master: '' };
    return { exists: true, master: ((JSON.parse(r.stdout) as { master?: string }[])[0]?.master ?? '') };
  };
  const bridgeOf = async (r = root): Promise<string> => {
    const id = (await runHull(['network', 'inspect', '-f', '{{.Id}}', 'bridge'], { root: r })).stdout.trim();
    return `hull${id.slice(0, 6)}`;
  };

  test('on an up bridge hull plumbs the veth: reachable by IP, same NetworkSettings as netavark gives, gone after rm', async () => {
    // netavark's path (the switch that turns the fast path off): the bridge is up from here on.
    const slow = uniq('slow');
    const r = await runHull(['run', '-d', '--name', slow, 'busybox', 'sleep', '120'], { root, env: { HULL_NETWORK_FAST: '0' } });
    assert.equal(r.code, 0, r.stderr);
    const bridge = await bridgeOf();
    const fast = uniq('fast');
    const id = (await ok(['run', '-d', '--name', fast, 'busybox', 'sh', '-c', 'echo reached | nc -l -p 7000; sleep 120'])).trim();
    const veth = `vh${id.slice(0, 12)}`;
    assert.deepEqual(link(veth), { exists: true, master: bridge }, 'hull\'s veth on the network\'s bridge');
    // Reachable from another container by its address.
    const ip = await inspect(fast, '{{.NetworkSettings.IPAddress}}');
    const got = await until('the fast container to answer', async () => {
      const x = await hull(['run', '--rm', 'busybox', 'nc', '-w', '3', ip, '7000']);
      return x.stdout.includes('reached') ? x.stdout : undefined;
    }, 30_000);
    assert.match(got, /reached/);
    // What inspect says is what the kernel has, in the same shape as for netavark's endpoint.
    const settings = async (name: string): Promise<Record<string, unknown>> => JSON.parse(await inspect(name, '{{json .NetworkSettings}}')) as Record<string, unknown>;
    const [s, f] = [await settings(slow), await settings(fast)];
    assert.deepEqual(Object.keys(f).sort(), Object.keys(s).sort());
    for (const k of ['Gateway', 'IPPrefixLen', 'Bridge']) assert.equal(f[k], s[k], k);
    const nets = (x: Record<string, unknown>): Record<string, unknown> => (x.Networks as Record<string, Record<string, unknown>>).bridge!;
    assert.deepEqual(Object.keys(nets(f)).sort(), Object.keys(nets(s)).sort());
    assert.match(String(f.MacAddress), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal((await ok(['exec', fast, 'cat', '/sys/class/net/eth0/address'])).trim(), f.MacAddress);
    assert.match(await ok(['exec', fast, 'ip', 'route']), new RegExp(`default via ${String(f.Gateway).replace(/\./g, '\\.')}`));
    await ok(['rm', '-f', fast, slow]);
    assert.equal(link(veth).exists, false, 'veth left behind');
    assert.equal(existsSync(`/run/netns/hull-${id}`), false, 'netns left behind');
    // The bridge stays for the next container, as docker0 does.
    assert.equal(link(bridge).exists, true);
  });

  test('a bridge whose root is gone is taken down by the next netavark setup', async () => {
    const other = join(work, 'other-root');
    const load = await runHull(['load', '-i', join(work, 'busybox.tar')], { root: other });
    assert.equal(load.code, 0, load.stderr);
    const r = await runHull(['run', '--rm', 'busybox', 'true'], { root: other });
    assert.equal(r.code, 0, r.stderr);
    const bridge = await bridgeOf(other);
    assert.equal(link(bridge).exists, true, 'the default bridge outlives its last container');
    await rm(other, { recursive: true, force: true });
    // netavark's path runs the reclaim (the fast path never does: it must stay fast).
    const s = await runHull(['run', '--rm', 'busybox', 'true'], { root, env: { HULL_NETWORK_FAST: '0' } });
    assert.equal(s.code, 0, s.stderr);
    assert.equal(link(bridge).exists, false, `${bridge} of a deleted root is still there`);
  });
});
