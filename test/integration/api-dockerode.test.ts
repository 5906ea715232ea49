/**
 * `hull serve` driven by dockerode (a real SDK, unchanged): create/attach/start/wait with stdin,
 * logs and their stdcopy framing, exec streams with and without a TTY, stats, archive, images,
 * pull progress, events, and a client that goes away mid-stream.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { loadBusybox, startApiServer, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip, uniqueName as uniq, until } from '../helpers/hull.js';
import { startRegistry } from '../helpers/registry.js';

const skip = containerTestSkip(['runc', 'skopeo', 'docker-registry']);

let server: ApiServer;
let docker: Docker;
let work: string;

function collect(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString()));
    stream.on('error', reject);
  });
}

/** Split a multiplexed stream with dockerode's own demuxer. */
function demux(stream: NodeJS.ReadableStream): { out: Promise<string>; err: Promise<string> } {
  const out = new PassThrough();
  const err = new PassThrough();
  docker.modem.demuxStream(stream, out, err);
  stream.on('end', () => {
    out.end();
    err.end();
  });
  return { out: collect(out), err: collect(err) };
}

describe('hull serve with dockerode', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-dockerode-'));
    server = await startApiServer();
    await loadBusybox(server.root, work);
    docker = new Docker({ socketPath: server.socket });
  });

  after(async () => {
    if (server) {
      for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true });
      await server.stop();
    }
    await rm(work, { recursive: true, force: true });
  });

  test('create, hijacked attach with stdin, start, wait: the docker run sequence', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'read l; echo "got $l"; echo oops >&2; exit 2'], OpenStdin: true, StdinOnce: true, name: uniq('attach') });
    const stream = await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const { out, err } = demux(stream);
    const waited = c.wait({ condition: 'next-exit' });
    await c.start();
    stream.write('hello\n');
    assert.deepEqual(await waited, { StatusCode: 2 });
    assert.equal(await out, 'got hello\n');
    assert.equal(await err, 'oops\n');
    const info = await c.inspect();
    assert.equal(info.State.ExitCode, 2);
    assert.equal(info.State.Status, 'exited');
    await c.remove();
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('docker run --rm: the attached streams end before the wait for the removal answers, with all output', async () => {
    // As with dockerd, the streams end at the exit and the removal comes after: the CLI, which
    // waits for both, is not held by the removal's work.
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'seq 1 3000'], HostConfig: { AutoRemove: true }, name: uniq('rm-order') });
    const stream = await c.attach({ stream: true, stdout: true, stderr: true, hijack: true });
    const order: string[] = [];
    const { out } = demux(stream);
    stream.on('end', () => order.push('streams'));
    const waited = c.wait({ condition: 'removed' }).then((r: unknown) => (order.push('wait'), r));
    await c.start();
    assert.deepEqual(await waited, { StatusCode: 0 });
    const text = await out;
    assert.deepEqual(order, ['streams', 'wait']);
    assert.equal(text.split('\n').length, 3001);
    await assert.rejects(c.inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  test('logs: stdcopy frames, tail, timestamps, one stream only', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo a; sleep 0.3; echo b >&2; sleep 0.3; echo c'], name: uniq('logs') });
    await c.start();
    await c.wait();
    const buf = await c.logs({ stdout: true, stderr: true, follow: false });
    // Frame by frame: [stream, 0, 0, 0, size32be] payload.
    const frames: [number, string][] = [];
    for (let off = 0; off < buf.length; ) {
      const size = buf.readUInt32BE(off + 4);
      frames.push([buf[off]!, buf.subarray(off + 8, off + 8 + size).toString()]);
      off += 8 + size;
    }
    assert.deepEqual(frames, [[1, 'a\n'], [2, 'b\n'], [1, 'c\n']]);
    const onlyErr = await c.logs({ stderr: true, stdout: false });
    assert.equal(onlyErr.subarray(8).toString(), 'b\n');
    const tail = await c.logs({ stdout: true, tail: 1, timestamps: true });
    assert.match(tail.subarray(8).toString(), /^\d{4}-\d\d-\d\dT[\d:.]+Z c\n$/);
    await assert.rejects(c.logs({ follow: false }), (e: { statusCode?: number }) => e.statusCode === 400);
    await c.remove();
  });

  test('a TTY container: logs and attach are raw, resize reaches the terminal', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'sleep 1; stty size; echo tty-out'], Tty: true, name: uniq('tty') });
    const stream = await c.attach({ stream: true, stdout: true, stderr: true, hijack: true });
    const got = collect(stream as unknown as Readable);
    await c.start();
    await c.resize({ h: 31, w: 97 });
    await c.wait();
    assert.equal(await got, '31 97\r\ntty-out\r\n');
    await c.remove();
  });

  test('exec: hijacked streams with stdin, exit code in inspect; with a TTY; detached', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'], name: uniq('exec') });
    await c.start();
    const e = await c.exec({ Cmd: ['sh', '-c', 'cat; echo err >&2; exit 9'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const s = await e.start({ hijack: true, stdin: true });
    const { out, err } = demux(s);
    s.end('to-exec\n');
    assert.equal(await out, 'to-exec\n');
    assert.equal(await err, 'err\n');
    const ins = await e.inspect();
    assert.equal(ins.ExitCode, 9);
    assert.equal(ins.Running, false);

    const t = await c.exec({ Cmd: ['sh', '-c', 'tty; stty size'], Tty: true, AttachStdout: true, ConsoleSize: [20, 70] });
    const ts = await t.start({ hijack: true, Tty: true, ConsoleSize: [20, 70] } as Docker.ExecStartOptions);
    const tout = await collect(ts);
    assert.match(tout, /^\/dev\/pts\/\d+\r\n20 70\r\n$/);
    assert.equal((await t.inspect()).ExitCode, 0);

    const d = await c.exec({ Cmd: ['sh', '-c', 'echo detached > /tmp/d'] });
    await d.start({ Detach: true });
    await until('the detached exec to run', async () => {
      const r = await c.exec({ Cmd: ['cat', '/tmp/d'], AttachStdout: true });
      const st = await r.start({ hijack: true });
      const { out: o } = demux(st);
      return (await o) === 'detached\n' ? true : undefined;
    });
    await assert.rejects(docker.getExec('0'.repeat(64)).inspect(), (er: { statusCode?: number }) => er.statusCode === 404);
    await c.remove({ force: true });
  });

  test('stats one-shot and streamed; top; pause; rename; update; changes; archive', async () => {
    const name = uniq('ops');
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'], name });
    await c.start();
    const one = (await c.stats({ stream: false })) as unknown as { pids_stats: { current: number }; precpu_stats: { cpu_usage: { total_usage: number } }; name: string };
    assert.equal(one.pids_stats.current, 1);
    assert.equal(one.name, `/${name}`);
    const streamed = (await c.stats({ stream: true })) as unknown as Readable;
    const first = await new Promise<string>((resolve) => streamed.once('data', (d: Buffer) => resolve(d.toString())));
    streamed.destroy();
    assert.ok((JSON.parse(first.split('\n')[0]!) as { read: string }).read);
    const top = (await c.top()) as { Processes: string[][] };
    assert.ok(top.Processes.some((p: string[]) => p.join(' ').includes('sleep 300')));
    await c.pause();
    assert.equal((await c.inspect()).State.Status, 'paused');
    await c.unpause();
    const renamed = uniq('renamed');
    await c.rename({ name: renamed });
    assert.equal((await c.inspect()).Name, `/${renamed}`);
    await c.update({ Memory: 64 * 1024 * 1024 });
    assert.equal((await c.inspect()).HostConfig.Memory, 64 * 1024 * 1024);
    const e = await c.exec({ Cmd: ['sh', '-c', 'echo x > /made'] });
    await e.start({ Detach: true });
    await until('the change to show', async () => (((await c.changes()) as { Path: string }[] | null) ?? []).some((ch) => ch.Path === '/made') || undefined);
    const head = (await c.infoArchive({ path: '/made' })) as unknown as { headers: Record<string, string> };
    const stat = JSON.parse(Buffer.from(head.headers['x-docker-container-path-stat']!, 'base64').toString()) as { name: string; size: number; mode: number };
    assert.deepEqual([stat.name, stat.size, stat.mode & 0o777], ['made', 2, 0o644]);
    const tar = (await c.getArchive({ path: '/made' })) as unknown as Readable;
    const body = await collect(tar);
    assert.ok(body.includes('made') && body.includes('x\n'));
    await c.remove({ force: true });
  });

  test('a client that leaves a follow stream frees it; concurrent streams do not block', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'while true; do echo spam; sleep 0.05; done'], name: uniq('follow') });
    await c.start();
    const streams: Readable[] = [];
    for (let i = 0; i < 5; i++) streams.push((await c.logs({ follow: true, stdout: true })) as unknown as Readable);
    await new Promise<void>((resolve) => streams[0]!.once('data', () => resolve()));
    for (const s of streams) s.destroy();
    const started = Date.now();
    assert.equal(String(await docker.ping()), 'OK');
    assert.ok(Date.now() - started < 30_000);
    await c.remove({ force: true });
  });

  test('images: list, inspect, history, tag, remove, pull with JSON progress, push', async () => {
    const list = await docker.listImages();
    assert.ok(list.some((i) => i.RepoTags?.includes('busybox:latest')));
    const img = await docker.getImage('busybox').inspect();
    assert.match(img.Id, /^sha256:/);
    const hist = (await docker.getImage('busybox').history()) as unknown[];
    assert.ok(Array.isArray(hist) && hist.length >= 1);
    await docker.getImage('busybox').tag({ repo: 'dockerode/bb', tag: 't1' });
    assert.deepEqual(await docker.getImage('dockerode/bb:t1').remove(), [{ Untagged: 'dockerode/bb:t1' }]);
    await assert.rejects(docker.getImage('dockerode/bb:t1').inspect(), (e: { statusCode?: number }) => e.statusCode === 404);

    const reg = await startRegistry();
    try {
      const ref = `${reg.host}/dockerode/bb:2`;
      await docker.getImage('busybox').tag({ repo: `${reg.host}/dockerode/bb`, tag: '2' });
      const pushStream = await docker.getImage(ref).push({});
      const pushed = await new Promise<unknown[]>((resolve, reject) => docker.modem.followProgress(pushStream, (e, out) => (e ? reject(e) : resolve(out as unknown[]))));
      assert.ok(pushed.some((m) => (m as { aux?: { Digest?: string } }).aux?.Digest?.startsWith('sha256:')));
      await docker.getImage(ref).remove();
      const pullStream = await docker.pull(ref);
      const events = await new Promise<{ status?: string; error?: string }[]>((resolve, reject) => docker.modem.followProgress(pullStream, (e, out) => (e ? reject(e) : resolve(out as never))));
      assert.ok(events.some((m) => m.status?.startsWith('Status: Downloaded newer image')));
      // A failure after the stream began is reported in-band, as Docker does.
      const bad = await docker.pull(`${reg.host}/dockerode/none:1`);
      const badOut = await new Promise<{ error?: string }[]>((resolve, reject) => docker.modem.followProgress(bad, (e, out) => (e ? reject(e) : resolve(out as never))));
      assert.match(badOut.at(-1)?.error ?? '', /not found|unknown/i);
      await docker.getImage(ref).remove();
    } finally {
      await reg.stop();
    }
  });

  test('events stream with filters', async () => {
    const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['create'] } })) as unknown as Readable;
    const first = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
    const name = uniq('ev');
    await new Promise((r) => setTimeout(r, 300));
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['true'], name });
    const ev = JSON.parse((await first).split('\n')[0]!) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } };
    stream.destroy();
    assert.equal(ev.Type, 'container');
    assert.equal(ev.Action, 'create');
    assert.equal(ev.Actor.ID, c.id);
    assert.equal(ev.Actor.Attributes.name, name);
    await c.remove();
  });
});
