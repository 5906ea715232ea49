/**
 * Networks and volumes through `hull serve`: the real docker CLI 28 (`network`, `volume`,
 * `run -p/-v/--network`) and dockerode, against real netavark/aardvark networks, real
 * volumes and runc. Names only resolve inside hull's networks; the upstream resolver is a
 * loopback address nobody answers on, so no query leaves the machine.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { dockerCli, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip, uniqueName as uniq, until } from '../helpers/hull.js';
import { httpGet } from '../helpers/net.js';

const netavarkPresent = existsSync('/usr/lib/podman/netavark') && existsSync('/usr/lib/podman/aardvark-dns');
const skip = containerTestSkip(['runc', 'skopeo', 'iptables', DOCKER_CLI]) || (netavarkPresent ? false : 'netavark/aardvark-dns not installed');

let server: ApiServer;
let work: string;
let client: Docker;

async function docker(args: string[], timeoutMs?: number): Promise<string> {
  const r = await dockerCli(server, args, timeoutMs ? { timeoutMs } : {});
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

async function dockerFails(args: string[], message: RegExp): Promise<void> {
  const r = await dockerCli(server, args);
  assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail:\n${r.stdout}`);
  assert.match(r.stderr, message);
}

/** The dockerode error's status code (it throws on non-2xx). */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { statusCode?: number }).statusCode ?? -1;
  }
}

describe('networks and volumes through hull serve', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-net-'));
    // Nothing listens on this loopback address: names outside hull's networks do not resolve.
    await writeFile(join(work, 'upstream-resolv.conf'), 'nameserver 127.0.0.9\n');
    server = await startApiServer({ HULL_DNS_UPSTREAM_FILE: join(work, 'upstream-resolv.conf') });
    await loadBusybox(server.root, work);
    client = new Docker({ socketPath: server.socket });
  });

  after(async () => {
    if (server) {
      const ids = (await dockerCli(server, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await dockerCli(server, ['rm', '-f', ...ids]);
      await dockerCli(server, ['network', 'prune', '-f']);
      await dockerCli(server, ['volume', 'prune', '-af']);
      assert.equal(await server.stop(), 0);
    }
    await rm(work, { recursive: true, force: true });
  });

  test('docker network create/ls/inspect/connect/disconnect/rm/prune', async () => {
    const net = uniq('anet');
    const id = (await docker(['network', 'create', '--label', 'suite=api', '--subnet', '10.231.7.0/24', net])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await dockerFails(['network', 'create', net], /Error response from daemon: network with name .* already exists/);
    assert.match(await docker(['network', 'ls']), new RegExp(`${id.slice(0, 12)}\\s+${net}\\s+bridge\\s+local`));
    assert.equal((await docker(['network', 'ls', '-q', '--filter', `name=${net}`, '--no-trunc'])).trim(), id);
    assert.equal((await docker(['network', 'ls', '-q', '--filter', 'label=suite=nope'])).trim(), '');
    const builtins = (await docker(['network', 'ls', '--filter', 'type=builtin', '--format', '{{.Name}}'])).trim().split('\n').sort();
    assert.deepEqual(builtins, ['bridge', 'host', 'none']);
    assert.equal((await docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.suite}}', net])).trim(), '10.231.7.0/24 api');

    const c = uniq('ac');
    await docker(['run', '-d', '--name', c, 'busybox', 'sleep', '300']);
    await docker(['network', 'connect', '--alias', 'extra', '--ip', '10.231.7.50', net, c]);
    assert.equal((await docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c])).trim(), '10.231.7.50');
    assert.match(await docker(['exec', c, 'ip', 'addr']), /10\.231\.7\.50/);
    const members = JSON.parse(await docker(['network', 'inspect', '-f', '{{json .Containers}}', net])) as Record<string, { Name: string }>;
    assert.deepEqual(Object.values(members).map((m) => m.Name), [c]);
    await dockerFails(['network', 'rm', net], /has active endpoints/);
    await docker(['network', 'disconnect', net, c]);
    assert.doesNotMatch(await docker(['exec', c, 'ip', 'addr']), /10\.231\.7\.50/);
    await dockerFails(['network', 'disconnect', net, c], /is not connected to network/);
    assert.equal((await docker(['network', 'rm', net])).trim(), net);
    await dockerFails(['network', 'inspect', net], /network .* not found/);
    await dockerFails(['network', 'rm', 'bridge'], /pre-defined network and cannot be removed/);

    const spare = uniq('spare');
    await docker(['network', 'create', spare]);
    assert.match(await docker(['network', 'prune', '-f']), new RegExp(`Deleted Networks:\\n${spare}`));
    await docker(['rm', '-f', c]);
  });

  test('docker volume create/ls/inspect/rm; a used volume is refused', async () => {
    const vol = uniq('avol');
    assert.equal((await docker(['volume', 'create', '--label', 'k=v', vol])).trim(), vol);
    assert.match(await docker(['volume', 'ls']), new RegExp(`local\\s+${vol}`));
    assert.equal((await docker(['volume', 'ls', '-q', '--filter', 'label=k=v', '--filter', `name=${vol}`])).trim(), vol);
    const doc = JSON.parse(await docker(['volume', 'inspect', vol])) as { Name: string; Driver: string; Mountpoint: string; Labels: Record<string, string> }[];
    assert.equal(doc[0]!.Name, vol);
    assert.equal(doc[0]!.Driver, 'local');
    assert.deepEqual(doc[0]!.Labels, { k: 'v' });
    assert.ok(existsSync(doc[0]!.Mountpoint));
    const c = uniq('vc');
    await docker(['create', '--name', c, '-v', `${vol}:/data`, 'busybox', 'true']);
    await dockerFails(['volume', 'rm', vol], /volume is in use/);
    await docker(['rm', c]);
    assert.equal((await docker(['volume', 'rm', vol])).trim(), vol);
    await dockerFails(['volume', 'inspect', vol], /no such volume/i);
    await docker(['volume', 'rm', '-f', vol]);
  });

  test('docker run -v and --network: an httpd serves a file from a named volume to a client by name', async () => {
    const net = uniq('web');
    const vol = uniq('www');
    await docker(['network', 'create', net]);
    await docker(['run', '--rm', '-v', `${vol}:/www`, 'busybox', 'sh', '-c', 'echo hello-from-volume > /www/index.html']);
    const srv = uniq('httpd');
    await docker(['run', '-d', '--name', srv, '--network', net, '--network-alias', 'site', '-v', `${vol}:/www:ro`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    const fetch = async (host: string): Promise<string> => {
      const r = await dockerCli(server, ['run', '--rm', '--network', net, 'busybox', 'wget', '-qO-', `http://${host}/index.html`]);
      return r.code === 0 ? r.stdout : `failed ${r.code}: ${r.stderr}`;
    };
    // httpd may still be starting: retry a few times, bounded.
    await until('httpd answers by container name', async () => ((await fetch(srv)).trim() === 'hello-from-volume' ? true : undefined), 30_000);
    assert.equal((await fetch('site')).trim(), 'hello-from-volume');
    const mounts = JSON.parse(await docker(['inspect', '-f', '{{json .Mounts}}', srv])) as { Type: string; Name: string; Destination: string; RW: boolean }[];
    assert.deepEqual(mounts.map((m) => [m.Type, m.Name, m.Destination, m.RW]), [['volume', vol, '/www', false]]);
    assert.match(await docker(['ps', '--filter', `name=${srv}`, '--format', '{{.Networks}} {{.Mounts}}']), new RegExp(`${net} ${vol.slice(0, 15)}`));
    assert.equal((await docker(['ps', '--filter', `network=${net}`, '--format', '{{.Names}}'])).trim(), srv);
    assert.equal((await docker(['ps', '-a', '--filter', 'network=none', '-q'])).trim(), '');
    await docker(['rm', '-f', srv]);
    await docker(['network', 'rm', net]);
    await docker(['volume', 'rm', vol]);
  });

  test('docker run -p publishes a port on the host; ps and port show it', async () => {
    const c = uniq('pub');
    const www = join(work, 'www');
    await rm(www, { recursive: true, force: true });
    await docker(['run', '--rm', '-v', `${work}:/w`, 'busybox', 'sh', '-c', 'mkdir -p /w/www && echo published > /w/www/index.html']);
    await docker(['run', '-d', '--name', c, '-p', '127.0.0.1::80', '--mount', `type=bind,source=${www},target=/www,readonly`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    const port = Number((await docker(['port', c, '80/tcp'])).trim().split(':').pop());
    assert.ok(port > 0, 'a host port was bound');
    assert.match(await docker(['ps', '--filter', `name=${c}`, '--format', '{{.Ports}}']), new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp`));
    const r = await until('published port answers', async () => httpGet(port, '/index.html').catch(() => undefined), 30_000);
    assert.equal(r.status, 200);
    assert.equal(r.body.trim(), 'published');
    await docker(['rm', '-f', c]);
  });

  test('dockerode: networks', async () => {
    const name = uniq('dnet');
    const created = await client.createNetwork({ Name: name, Labels: { via: 'dockerode' }, IPAM: { Driver: 'default', Config: [{ Subnet: '10.231.9.0/24', Gateway: '10.231.9.1' }] } });
    const net = client.getNetwork(created.id);
    const info = (await net.inspect()) as { Name: string; Driver: string; IPAM: { Config: { Subnet: string; Gateway: string }[] }; Labels: Record<string, string> };
    assert.equal(info.Name, name);
    assert.deepEqual(info.IPAM.Config, [{ Subnet: '10.231.9.0/24', Gateway: '10.231.9.1' }]);
    assert.deepEqual(info.Labels, { via: 'dockerode' });
    const listed = await client.listNetworks({ filters: { label: ['via=dockerode'] } });
    assert.deepEqual(listed.map((n) => n.Name), [name]);
    assert.equal(await statusOf(client.createNetwork({ Name: name })), 409);
    assert.equal(await statusOf(client.createNetwork({ Name: uniq('x'), Driver: 'overlay' })), 404);
    assert.equal(await statusOf(client.createNetwork({ Name: 42 } as unknown as Docker.NetworkCreateOptions)), 400);
    assert.equal(await statusOf(client.listNetworks({ filters: { bogus: ['1'] } })), 400);

    const ctr = await client.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '300'],
      name: uniq('dn'),
      HostConfig: { NetworkMode: name },
      NetworkingConfig: { EndpointsConfig: { [name]: { IPAMConfig: { IPv4Address: '10.231.9.77' }, Aliases: ['svc'] } } },
    });
    await ctr.start();
    const ci = (await ctr.inspect()) as unknown as { NetworkSettings: { Networks: Record<string, { IPAddress: string; Aliases: string[] }> } };
    assert.equal(ci.NetworkSettings.Networks[name]!.IPAddress, '10.231.9.77');
    assert.ok(ci.NetworkSettings.Networks[name]!.Aliases.includes('svc'));
    const summary = (await client.listContainers({ filters: { id: [ctr.id] } }))[0] as unknown as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } };
    assert.equal(summary.NetworkSettings.Networks[name]!.IPAddress, '10.231.9.77');

    await net.disconnect({ Container: ctr.id });
    assert.equal(await statusOf(net.disconnect({ Container: ctr.id })), 409);
    await net.connect({ Container: ctr.id, EndpointConfig: { Aliases: ['again'] } });
    assert.equal(await statusOf(net.connect({ Container: ctr.id })), 409);
    assert.equal(await statusOf(net.connect({ Container: 'no-such-container' })), 404);
    assert.equal(await statusOf(net.remove()), 409);
    await ctr.remove({ force: true });
    await net.remove();
    assert.equal(await statusOf(net.inspect()), 404);

    const spare = uniq('dspare');
    await client.createNetwork({ Name: spare, Labels: { prune: 'me' } });
    const keep = uniq('dkeep');
    await client.createNetwork({ Name: keep });
    const pruned = (await client.pruneNetworks({ filters: { label: ['prune=me'] } }));
    assert.deepEqual(pruned.NetworksDeleted, [spare]);
    await client.getNetwork(keep).remove();
  });

  test('dockerode: volumes, and create with Mounts and PortBindings', async () => {
    const name = uniq('dvol');
    await client.createVolume({ Name: name, Labels: { a: 'b' } });
    const v = (await client.getVolume(name).inspect()) as { Name: string; Driver: string; Labels: Record<string, string> };
    assert.equal(v.Name, name);
    assert.deepEqual(v.Labels, { a: 'b' });
    const listed = (await client.listVolumes({ filters: { label: ['a=b'] } })) as { Volumes: { Name: string }[] };
    assert.deepEqual(listed.Volumes.map((x) => x.Name), [name]);
    assert.equal(await statusOf(client.getVolume(uniq('none')).inspect()), 404);
    assert.equal(await statusOf(client.createVolume({ Name: 'bad/name' })), 400);
    assert.equal(await statusOf(client.listVolumes({ filters: { dangling: ['maybe'] } })), 400);

    const ctr = await client.createContainer({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo via-mounts > /data/f && cat /data/f'],
      name: uniq('dv'),
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { Mounts: [{ Type: 'volume', Source: name, Target: '/data' }], PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    const ci = (await ctr.inspect()) as unknown as { Mounts: { Name: string; Destination: string }[]; HostConfig: { PortBindings: Record<string, unknown> } };
    assert.deepEqual(ci.Mounts.map((m) => [m.Name, m.Destination]), [[name, '/data']]);
    assert.deepEqual(Object.keys(ci.HostConfig.PortBindings), ['80/tcp']);
    assert.equal(await statusOf(client.getVolume(name).remove()), 409);
    await ctr.start();
    await ctr.wait();
    assert.match((await ctr.logs({ stdout: true })).toString(), /via-mounts/);
    await ctr.remove();
    await client.getVolume(name).remove();
    assert.equal(await statusOf(client.getVolume(name).remove()), 404);
    // (force=true on a missing volume: `docker volume rm -f` above; dockerode does not send the query.)
    assert.equal(await statusOf(client.createContainer({ Image: 'busybox', HostConfig: { Mounts: [{ Type: 'volume', Target: 5 }] } } as unknown as Docker.ContainerCreateOptions)), 400);

    const anon: Docker.Container = await client.createContainer({ Image: 'busybox', Cmd: ['true'], HostConfig: { Mounts: [{ Type: 'volume', Target: '/anon' } as Docker.MountSettings] } });
    const anonName = ((await anon.inspect()) as unknown as { Mounts: { Name: string }[] }).Mounts[0]!.Name;
    const named = uniq('dnamed');
    await client.createVolume({ Name: named });
    await anon.remove();
    const pruned = (await client.pruneVolumes()) as { VolumesDeleted: string[] };
    assert.ok(pruned.VolumesDeleted.includes(anonName), 'the anonymous volume is pruned');
    assert.ok(!pruned.VolumesDeleted.includes(named), 'a named volume is kept without all=true');
    const all = (await client.pruneVolumes({ filters: { all: ['true'] } })) as { VolumesDeleted: string[] };
    assert.ok(all.VolumesDeleted.includes(named));
  });
});
