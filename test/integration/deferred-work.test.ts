/**
 * What runs after a command answered (docs/ARCHITECTURE.md, "Deleting a state root"), and the
 * lifecycle races around it: an exit handled by `rm -f` leaves no exit command to run later,
 * the exit command of a handled exit does not touch the root, `hull serve` in a warm worker does
 * its after-answer work as it goes, `restart` of a --rm container restarts it (Docker 20.10+),
 * and the StartedAt a reader sees during a `start` is the one the start records.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerCli, loadBusybox, startApiServer, DOCKER_CLI, type ApiServer } from '../helpers/api-server.js';
import { assertOk, containerTestSkip, HULL_CLIENT, runHull, uniqueName as uniq, until, withRoot } from '../helpers/hull.js';
import { removeHullTree } from '../helpers/leftovers.js';

const skip = containerTestSkip(['runc', 'skopeo', DOCKER_CLI]);
const IMG = 'busybox';

let server: ApiServer;
let work: string;
let archive: string;

async function ok(args: string[]): Promise<string> {
  return assertOk(args, await runHull(args, { root: server.root, timeoutMs: 60_000 })).stdout;
}

/** Send `signal` and wait (bounded) for the process to end; false if it did not. */
async function stopProcess(child: ChildProcess, signal: NodeJS.Signals, ms = 30_000): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const ended = new Promise<boolean>((res) => child.once('exit', () => res(true)));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([ended, new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return done;
}

async function docker(args: string[]): Promise<string> {
  const r = await dockerCli(server, args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

describe('work after the answer, and lifecycle races', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-deferred-'));
    server = await startApiServer();
    archive = (await loadBusybox(server.root, work)).ociArchive;
  });

  after(async () => {
    if (server) {
      const left = (await dockerCli(server, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (left.length > 0) await dockerCli(server, ['rm', '-f', ...left]);
      await server.stop();
    }
    if (work) await removeHullTree(work);
  });

  test('restart of a --rm container restarts it, and it stays --rm (Docker 20.10+)', async () => {
    for (const via of ['hull', 'docker'] as const) {
      const name = uniq(`rr-${via}`);
      await ok(['run', '-d', '--rm', '--name', name, IMG, 'sleep', '100']);
      const before = (await ok(['inspect', '-f', '{{.State.StartedAt}}', name])).trim();
      const r = via === 'hull' ? await runHull(['restart', '-t', '1', name], { root: server.root }) : await dockerCli(server, ['restart', '-t', '1', name]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${name}\n`);
      assert.equal(r.stderr, '');
      const [status, autoRemove, count, startedAt] = (await ok(['inspect', '-f', '{{.State.Status}} {{.HostConfig.AutoRemove}} {{.RestartCount}} {{.State.StartedAt}}', name])).trim().split(' ');
      assert.deepEqual([status, autoRemove, count], ['running', 'true', '0']);
      assert.notEqual(startedAt, before, 'started again');
      // Still --rm: the next stop removes it.
      await ok(['stop', '-t', '1', name]);
      await until(`${name} removed`, async () => !(await ok(['ps', '-a', '--format', '{{.Names}}'])).split('\n').includes(name) || undefined, 20_000);
    }
  });

  test('rm -f handles the exit it caused: its die is recorded, before destroy', async () => {
    const id = (await docker(['run', '-d', IMG, 'sleep', '100'])).trim();
    await docker(['rm', '-f', id]);
    const actions = (await docker(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${id}`, '--format', '{{.Action}}'])).trim().split('\n');
    assert.deepEqual(actions.filter((a) => a === 'die' || a === 'destroy'), ['die', 'destroy'], actions.join(','));
  });

  test('the exit command of an exit already handled leaves the root untouched', async () => {
    await withRoot(async (root) => {
      const r = await runHull(['ps'], { root });
      assert.equal(r.code, 0, r.stderr);
      const id = 'e'.repeat(64);
      const monitorDir = join(root, 'run', id.slice(0, 16));
      mkdirSync(monitorDir, { recursive: true });
      writeFileSync(join(monitorDir, 'exit.json'), JSON.stringify({ exitCode: 0, signal: 0, oomKilled: false, finishedAt: new Date().toISOString() }));
      writeFileSync(join(monitorDir, 'exit-handled'), '');
      // What a deletion of the root in progress has already removed: opening the state again
      // would make these directories anew.
      await rm(join(root, 'layers'), { recursive: true, force: true });
      await rm(join(root, 'blobs'), { recursive: true, force: true });
      const e = await runHull(['_exited', id], { root });
      assert.equal(e.code, 0, e.stderr);
      assert.equal(existsSync(join(root, 'layers')), false, 'the exit command opened the root');
      assert.equal(existsSync(join(root, 'blobs')), false, 'the exit command opened the root');
    });
  });

  test('StartedAt seen during a start is the one the start records', async () => {
    for (let round = 0; round < 3; round++) {
      const name = uniq('race');
      await ok(['create', '--name', name, IMG, 'sleep', '100']);
      const seen = new Set<string>();
      let started = false;
      const start = ok(['start', name]).finally(() => (started = true));
      // Readers race the start (bounded: until it returned, 200 reads at most).
      for (let i = 0; i < 200 && !started; i++) {
        const [status, at] = (await ok(['inspect', '-f', '{{.State.Status}} {{.State.StartedAt}}', name])).trim().split(' ');
        if (status === 'running') seen.add(at!);
      }
      await start;
      const final = (await ok(['inspect', '-f', '{{.State.StartedAt}}', name])).trim();
      for (const at of seen) assert.equal(at, final, `a reader saw StartedAt ${at}, the start recorded ${final}`);
      await ok(['rm', '-f', name]);
    }
  });

  test('hull serve in a warm worker deletes a --rm container\'s files as it goes, not at its exit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hull-warm-serve-'));
    const sock = join(dir, 'cli.sock');
    const trace = join(dir, 'trace');
    const env = { ...process.env, HULL_CLI_SOCKET: sock, HULL_CLIENT_TRACE: trace, HULL_SERVER_IDLE_SECONDS: '60' };
    const root = join(dir, 'root');
    const apiSock = join(dir, 'docker.sock');
    let child: ChildProcess | undefined;
    let workerPid = 0;
    try {
      const r = await runHull(['load', '-i', archive], { root });
      assert.equal(r.code, 0, r.stderr);
      // The supervisor starts with the first client command and fills its pool in the
      // background: `serve` must be handed to a worker, not run by node as a fallback.
      let stderr = '';
      for (let attempt = 0; attempt < 20; attempt++) {
        const lines = existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n').length : 0;
        child = spawn(HULL_CLIENT, ['--root', root, 'serve', '-H', `unix://${apiSock}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        await until('hull serve to listen', () => stderr.includes('API listen on') || undefined, 30_000);
        const how = readFileSync(trace, 'utf8').trim().split('\n')[lines] ?? '';
        if (how.startsWith('worker ')) {
          workerPid = Number(how.split(' ')[1]);
          break;
        }
        assert.ok(await stopProcess(child, 'SIGTERM'), 'hull serve did not stop on SIGTERM');
        child = undefined;
        await new Promise((res) => setTimeout(res, 500));
      }
      assert.ok(child, 'hull serve was never served by a warm worker');
      const peer: ApiServer = { ...server, root, socket: apiSock, host: `unix://${apiSock}` };
      for (let i = 0; i < 3; i++) {
        const out = await dockerCli(peer, ['run', '--rm', IMG, 'echo', `hi-${i}`]);
        assert.equal(out.code, 0, out.stderr);
        assert.equal(out.stdout, `hi-${i}\n`);
      }
      const trash = join(root, 'tmp', 'removed');
      await until('the removed containers\' files to be deleted while the server runs', () => (!existsSync(trash) || readdirSync(trash).length === 0) || undefined, 30_000);
      assert.doesNotMatch(stderr, /MaxListenersExceeded|memory leak/);
      assert.ok(await stopProcess(child, 'SIGTERM'), 'hull serve did not stop on SIGTERM');
      child = undefined;
    } finally {
      if (child) await stopProcess(child, 'SIGKILL');
      // A client killed outright leaves its worker serving.
      try {
        if (workerPid > 0 && readFileSync(`/proc/${workerPid}/cmdline`, 'utf8').includes('worker.js')) process.kill(workerPid, 'SIGKILL');
      } catch {
        // ended with its client
      }
      for (const p of readdirSync('/proc')) {
        if (!/^\d+$/.test(p)) continue;
        try {
          const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
          if (cmd.some((a) => a.endsWith('supervisor.js')) && cmd.includes(sock)) process.kill(Number(p), 'SIGTERM');
        } catch {
          // exited meanwhile
        }
      }
      await removeHullTree(dir);
    }
  });
});
