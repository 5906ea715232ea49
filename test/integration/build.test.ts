/**
 * `hull build` end to end: the real binary, runc, overlayfs, the offline busybox image. A
 * corpus of Dockerfiles covering every instruction, multi-stage and scratch; the cache (an
 * unchanged rebuild runs no RUN, one changed file rebuilds from its COPY); .dockerignore;
 * contexts from stdin; failures (syntax, missing file, failing RUN, interrupt) and what they
 * leave behind.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOk, containerTestSkip, HULL_BIN, runHull, until } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { loadBusybox } from '../helpers/images.js';

const execFileP = promisify(execFile);
const skip = containerTestSkip(['runc', 'skopeo']);

let work: string;
let root: string;
let seq = 0;

function hull(args: string[], input?: string | Buffer): Promise<HullResult> {
  return runHull(args, { root, ...(input !== undefined ? { input } : {}), timeoutMs: 180_000 });
}

async function ok(args: string[], input?: string | Buffer): Promise<HullResult> {
  return assertOk(args, await hull(args, input));
}

/** A fresh context directory with these files (path → content). */
async function context(files: Record<string, string>): Promise<string> {
  const dir = join(work, `ctx-${++seq}`);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  await mkdir(dir, { recursive: true });
  return dir;
}

async function inspect(ref: string): Promise<{ Id: string; Config: Record<string, unknown>; Author: string; RootFS: { Layers: string[] } }> {
  return (JSON.parse((await ok(['image', 'inspect', ref])).stdout) as never[])[0]!;
}

/** Runs `sh -c script` in the image and returns its stdout. */
async function inImage(ref: string, script: string): Promise<string> {
  return (await ok(['run', '--rm', '--entrypoint', '/bin/sh', '-u', '0', ref, '-c', script])).stdout;
}

function mountsUnderRoot(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(root));
}

async function runcContainers(): Promise<string[]> {
  const { stdout } = await execFileP('runc', ['--root', join(root, 'runtime'), 'list', '-q']).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean);
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-build-'));
  root = join(work, 'root');
  await loadBusybox(root, work);
});

after(async () => {
  if (skip) return;
  assert.deepEqual(mountsUnderRoot(), [], 'no mount of ours is left');
  await rm(work, { recursive: true, force: true });
});

describe('hull build: the instructions', { skip }, () => {
  test('a Dockerfile using every instruction gives Docker\'s config, history and files', async () => {
    const dir = await context({
      'app/main.sh': '#!/bin/sh\necho main\n',
      'app/lib/util.sh': 'util\n',
      'notes.txt': 'notes\n',
      'Dockerfile': [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=busybox',
        'FROM ${BASE} AS base',
        'MAINTAINER Jane <jane@example.com>',
        'ARG VERSION=1.0',
        'ENV APP_HOME=/srv/app \\',
        '    GREETING="hello world"',
        'LABEL org.example.version=$VERSION "multi word"="a b"',
        'WORKDIR $APP_HOME',
        'COPY app/ ./',
        'COPY --chown=1000:1000 --chmod=640 notes.txt /srv/notes.txt',
        'ADD notes.txt app/main.sh /srv/added/',
        'RUN echo "v=$VERSION g=$GREETING" > built.txt && chmod +x main.sh',
        'RUN <<EOF',
        'echo heredoc-run > /srv/heredoc.txt',
        'EOF',
        'COPY <<EOT /srv/inline.txt',
        'home=${APP_HOME}',
        'EOT',
        'SHELL ["/bin/sh", "-ec"]',
        'EXPOSE 8080 53/udp',
        'VOLUME ["/data"]',
        'USER 1000:1000',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD test -f /srv/app/built.txt',
        'ONBUILD RUN echo triggered > /srv/onbuild.txt',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["./main.sh"]',
        '',
      ].join('\n'),
    });
    await ok(['build', '-t', 'corpus:all', '--build-arg', 'VERSION=2.5', dir]);
    const img = await inspect('corpus:all');
    const c = img.Config;
    assert.equal(img.Author, 'Jane <jane@example.com>');
    assert.deepEqual(c.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/srv/app', 'GREETING=hello world']);
    assert.deepEqual(c.Labels, { 'org.example.version': '2.5', 'multi word': 'a b' });
    assert.equal(c.WorkingDir, '/srv/app');
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.Volumes, { '/data': {} });
    assert.equal(c.User, '1000:1000');
    assert.equal(c.StopSignal, 'SIGINT');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'test -f /srv/app/built.txt'], Interval: 30e9, Timeout: 3e9, Retries: 2 });
    assert.deepEqual(c.Shell, ['/bin/sh', '-ec']);
    assert.deepEqual(c.OnBuild, ['RUN echo triggered > /srv/onbuild.txt']);
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(c.Cmd, ['./main.sh']);

    const files = await inImage(
      'corpus:all',
      'cd /srv && cat app/built.txt heredoc.txt inline.txt app/lib/util.sh added/notes.txt; stat -c "%a %u %g" /srv/notes.txt; ls added; test -x app/main.sh && echo exec',
    );
    assert.equal(
      files,
      'v=2.5 g=hello world\nheredoc-run\nhome=/srv/app\nutil\nnotes\n640 1000 1000\nmain.sh\nnotes.txt\nexec\n',
    );
    // The image runs as built: entrypoint, cmd, workdir and user together.
    assert.equal((await ok(['run', '--rm', 'corpus:all'])).stdout, 'main\n');
  });

  test('ONBUILD triggers run in the child build, then are cleared', async () => {
    const parent = await context({ Dockerfile: 'FROM busybox\nONBUILD COPY marker /marker\nONBUILD RUN echo "child ran" > /ran\n' });
    await ok(['build', '-t', 'corpus:onbuild-parent', parent]);
    const child = await context({ marker: 'from child context\n', Dockerfile: 'FROM corpus:onbuild-parent\nCMD ["cat", "/marker", "/ran"]\n' });
    await ok(['build', '-t', 'corpus:onbuild-child', child]);
    assert.equal((await ok(['run', '--rm', 'corpus:onbuild-child'])).stdout, 'from child context\nchild ran\n');
    assert.equal((await inspect('corpus:onbuild-child')).Config.OnBuild, null);
  });

  test('multi-stage: FROM scratch, COPY --from by name and index, --target builds only what it needs', async () => {
    const dir = await context({
      Dockerfile: [
        'FROM busybox AS builder',
        'RUN mkdir -p /out && echo artifact > /out/a.txt && echo builder-ran',
        'FROM busybox AS never',
        'RUN echo never-ran && exit 7',
        'FROM scratch',
        'COPY --from=builder /out/a.txt /a.txt',
        'COPY --from=0 /bin/busybox /bin/busybox',
        'ENTRYPOINT ["/bin/busybox"]',
        'CMD ["cat", "/a.txt"]',
        '',
      ].join('\n'),
    });
    const r = await ok(['build', '--progress', 'plain', '-t', 'corpus:multi', dir]);
    assert.match(r.stderr, /builder-ran/);
    assert.doesNotMatch(r.stderr, /never-ran/, 'a stage the target does not need is not built');
    assert.equal((await ok(['run', '--rm', 'corpus:multi'])).stdout, 'artifact\n');
    const img = await inspect('corpus:multi');
    assert.equal(img.RootFS.Layers.length, 2, 'scratch + two COPY layers');

    const t = await hull(['build', '--target', 'never', dir]);
    assert.equal(t.code, 7, t.stderr);
    assert.match(t.stderr, /never-ran/);
    assert.match(t.stderr, /The command '\/bin\/sh -c echo never-ran && exit 7' returned a non-zero code: 7/);
    const missing = await hull(['build', '--target', 'nope', dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /failed to reach build target nope in Dockerfile/);
  });

  test('ADD: a local tar is unpacked, a URL (loopback) is downloaded 0600 and keyed by its content', async () => {
    const dir = await context({ 'payload/x/y.txt': 'inside tar\n' });
    await execFileP('tar', ['-czf', join(dir, 'payload.tgz'), '-C', join(dir, 'payload'), '.']);
    let body = 'downloaded\n';
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      await writeFile(join(dir, 'Dockerfile'), `FROM busybox\nADD payload.tgz /unpacked/\nADD http://127.0.0.1:${port}/files/remote.txt /dl/\n`);
      await ok(['build', '--network', 'host', '-t', 'corpus:add', dir]);
      assert.equal(await inImage('corpus:add', 'cat /unpacked/x/y.txt /dl/remote.txt; stat -c %a /dl/remote.txt'), 'inside tar\ndownloaded\n600\n');
      assert.equal((await ok(['build', dir])).stderr.match(/ CACHED$/gm)?.length, 2, 'same content: cached');
      body = 'changed\n';
      await ok(['build', '-t', 'corpus:add', dir]);
      assert.equal(await inImage('corpus:add', 'cat /dl/remote.txt'), 'changed\n');
    } finally {
      server.close();
    }
  });

  test('a tar context on stdin, and a Dockerfile on stdin with an empty context', async () => {
    const dir = await context({ 'f.txt': 'from tar\n', Dockerfile: 'FROM busybox\nCOPY f.txt /\n' });
    const { stdout: tar } = await execFileP('tar', ['-cf', '-', '-C', dir, '.'], { encoding: 'buffer', maxBuffer: 1 << 24 });
    const r = await ok(['build', '-q', '-t', 'corpus:stdin-tar', '-'], tar);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.equal(await inImage('corpus:stdin-tar', 'cat /f.txt'), 'from tar\n');
    await ok(['build', '-t', 'corpus:stdin-df', '-'], 'FROM busybox\nRUN echo piped > /p\n');
    assert.equal(await inImage('corpus:stdin-df', 'cat /p'), 'piped\n');
  });
});

describe('hull build: cache', { skip }, () => {
  test('an unchanged rebuild runs no RUN and says CACHED; one changed file rebuilds from its COPY', async () => {
    const dir = await context({
      'a.txt': 'a1\n',
      'b.txt': 'b1\n',
      Dockerfile: 'FROM busybox\nRUN echo STEP-ONE-$((40+2))\nCOPY a.txt /a.txt\nRUN echo STEP-TWO-$((40+2))\nCOPY b.txt /b.txt\nRUN echo STEP-THREE-$((40+2))\nCMD ["cat", "/a.txt", "/b.txt"]\n',
    });
    const first = await ok(['build', '-t', 'cache:1', dir]);
    for (const s of ['ONE', 'TWO', 'THREE']) assert.match(first.stderr, new RegExp(`STEP-${s}-42`));
    const id1 = (await inspect('cache:1')).Id;

    const second = await ok(['build', '-t', 'cache:1', dir]);
    assert.doesNotMatch(second.stderr, /STEP-\w+-42/, 'no RUN ran');
    assert.equal(second.stderr.match(/ CACHED$/gm)?.length, 6, second.stderr);
    assert.equal((await inspect('cache:1')).Id, id1, 'the same image');

    // Only the mtime changed: not a change (Docker hashes contents, not times).
    await execFileP('touch', ['-d', '2001-01-01', join(dir, 'a.txt')]);
    assert.doesNotMatch((await ok(['build', dir])).stderr, /STEP-\w+-42/);

    await writeFile(join(dir, 'b.txt'), 'b2\n');
    const third = await ok(['build', '-t', 'cache:2', dir]);
    assert.doesNotMatch(third.stderr, /STEP-ONE-42|STEP-TWO-42/);
    assert.match(third.stderr, /STEP-THREE-42/);
    assert.equal((await ok(['run', '--rm', 'cache:2'])).stdout, 'a1\nb2\n');

    const nocache = await ok(['build', '--no-cache', dir]);
    for (const s of ['ONE', 'TWO', 'THREE']) assert.match(nocache.stderr, new RegExp(`STEP-${s}-42`));
  });

  test('build args in scope are part of a RUN\'s cache key', async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nARG FLAVOUR=plain\nRUN echo "RAN-$FLAVOUR" | tee /flavour\n' });
    await ok(['build', dir]);
    assert.doesNotMatch((await ok(['build', dir])).stderr, /RAN-plain/);
    const r = await ok(['build', '--build-arg', 'FLAVOUR=spicy', '-t', 'cache:arg', dir]);
    assert.match(r.stderr, /RAN-spicy/);
    assert.equal(await inImage('cache:arg', 'cat /flavour'), 'RAN-spicy\n');
    const unused = await ok(['build', '--build-arg', 'NOBODY=x', dir]);
    assert.match(unused.stderr, /\[Warning\] One or more build-args \[NOBODY\] were not consumed/);
  });
});

describe('hull build: builder prune', { skip }, () => {
  test('drops the cache and the layers only a failed build kept; images stay intact', async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo kept-$((1+1)) | tee /kept\n' });
    // Other tests' stage-only layers are cache-only too: start from a pruned root.
    await ok(['builder', 'prune', '-f']);
    await ok(['build', '-t', 'prune:kept', dir]);
    const failing = await context({ Dockerfile: 'FROM busybox\nRUN head -c 100000 /dev/zero > /orphan\nRUN exit 1\n' });
    assert.equal((await hull(['build', failing])).code, 1);
    const layers = (): number => readdirSync(join(root, 'layers', 'sha256')).length;
    const before = layers();
    const r = await ok(['builder', 'prune', '-f']);
    assert.match(r.stdout, /^Total reclaimed space: 100kB\n$/);
    assert.equal(layers(), before - 1, 'the failed build\'s layer is gone');
    assert.equal(await inImage('prune:kept', 'cat /kept'), 'kept-2\n');
    assert.match((await ok(['build', dir])).stderr, /kept-2/, 'the cache is empty: RUN runs again');
  });
});

describe('hull build: .dockerignore', { skip }, () => {
  test('patterns with ** and ! decide what COPY sees', async () => {
    const dir = await context({
      '.dockerignore': '# build context rules\n**/*.log\nsecret/\n!secret/public.txt\ntmp*\n',
      'keep.txt': 'k\n',
      'a.log': 'x\n',
      'deep/er/b.log': 'x\n',
      'deep/er/c.txt': 'c\n',
      'secret/key.pem': 'KEY\n',
      'secret/public.txt': 'pub\n',
      'tmpfile': 'x\n',
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
    });
    await ok(['build', '-t', 'ignore:1', dir]);
    const listing = await inImage('ignore:1', 'cd /ctx && find . -type f | sort');
    assert.equal(listing, './.dockerignore\n./Dockerfile\n./deep/er/c.txt\n./keep.txt\n./secret/public.txt\n');
    const direct = await context({ '.dockerignore': 'hidden.txt\n', 'hidden.txt': 'h\n', Dockerfile: 'FROM busybox\nCOPY hidden.txt /\n' });
    const r = await hull(['build', direct]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /COPY failed: file not found in build context or excluded by \.dockerignore: stat hidden\.txt: file does not exist/);
  });
});

describe('hull build: failures', { skip }, () => {
  test('a syntax error names the line; a missing COPY source names the path; a failing RUN prints command and status', async () => {
    const syntax = await context({ Dockerfile: 'FROM busybox\n\nRUN true\nCOPYY a b\n' });
    let r = await hull(['build', syntax]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dockerfile parse error on line 4: unknown instruction: COPYY/);

    const missing = await context({ Dockerfile: 'FROM busybox\nCOPY does/not/exist.txt /x\n' });
    r = await hull(['build', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /stat does\/not\/exist\.txt: file does not exist/);

    const failing = await context({ Dockerfile: 'FROM busybox\nRUN echo about-to-fail && exit 42\n' });
    const before = (await ok(['images', '-q'])).stdout;
    r = await hull(['build', '-t', 'fail:1', failing]);
    assert.equal(r.code, 42);
    assert.match(r.stderr, /about-to-fail/);
    assert.match(r.stderr, /The command '\/bin\/sh -c echo about-to-fail && exit 42' returned a non-zero code: 42/);
    assert.equal((await ok(['images', '-q'])).stdout, before, 'no image was recorded');
    assert.deepEqual(await runcContainers(), []);
  });

  test('an interrupted build leaves no container, no mount, no image, no work directory', { timeout: 300_000 }, async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo started-long-step-$((1+1)) && sleep 600\n' });
    const before = (await ok(['images', '-q'])).stdout;
    const child = spawn(process.execPath, ['--', HULL_BIN, '--root', root, 'build', '-t', 'interrupted:1', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await until('the RUN step to start', () => stderr.includes('started-long-step-2'), 60_000);
    child.kill('SIGINT');
    // Were the RUN waited for instead of stopped, this would hit the test's timeout.
    const code = await exited;
    assert.equal(code, 130, stderr);
    assert.deepEqual(await runcContainers(), [], 'no build container is left');
    assert.deepEqual(mountsUnderRoot(), [], 'nothing is left mounted');
    assert.equal((await ok(['images', '-q'])).stdout, before, 'no image was recorded');
    assert.equal(existsSync(join(root, 'build')) ? readdirSync(join(root, 'build')).length : 0, 0, 'no work directory is left');
  });

  test('a SIGKILLed build is cleaned up by the next build: container, mount and work directory', { timeout: 300_000 }, async () => {
    const dir = await context({ Dockerfile: 'FROM busybox\nRUN echo killed-step-$((1+1)) && sleep 600\n' });
    const child = spawn(process.execPath, ['--', HULL_BIN, '--root', root, 'build', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    await until('the RUN step to start', () => stderr.includes('killed-step-2'), 60_000);
    child.kill('SIGKILL');
    await exited;
    assert.equal((await runcContainers()).length, 1, 'the killed build left its RUN behind');
    await ok(['build', await context({ Dockerfile: 'FROM busybox\n' })]);
    assert.deepEqual(await runcContainers(), []);
    assert.deepEqual(mountsUnderRoot(), []);
    assert.deepEqual(readdirSync(join(root, 'build')), []);
  });
});
