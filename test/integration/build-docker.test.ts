/**
 * hull build against `docker build` (Debian's dockerd 20.10 on a private socket): the same
 * Dockerfiles, the same offline base image (`docker load` of the busybox test image), and the
 * resulting image configs and file trees compared, ignoring timestamps and ids.
 *
 * dockerd 20.10's BuildKit resolves every FROM against a registry, which is unreachable here,
 * so the classic builder runs (DOCKER_BUILDKIT=0). It has no heredocs and no `COPY --chmod`;
 * those are covered by build.test.ts and left out of this corpus.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { extract } from 'tar-stream';
import { startDockerd, type DockerdPeer } from '../../bench/lib/peers.js';
import { containerTestSkip, runHull } from '../helpers/hull.js';
import { loadBusybox } from '../helpers/images.js';

const execFileP = promisify(execFile);
const skip = containerTestSkip(['runc', 'skopeo', 'dockerd']);

let work: string;
let root: string;
let docker: DockerdPeer | undefined;
let dockerSkip: string | undefined;

async function hullOk(args: string[]): Promise<string> {
  const r = await runHull(args, { root, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `hull ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

async function dockerOk(args: string[]): Promise<string> {
  const r = await docker!.docker(args, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `docker ${args.join(' ')} → ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** Paths an engine puts into every container (mount points, .dockerenv): not image content. */
const RUNTIME_PATHS = /^(\.dockerenv|dev|proc|sys|etc\/hosts|etc\/hostname|etc\/resolv\.conf|etc\/mtab)(\/|$)/;

/** name → type, mode, owner, size, link target, content digest: a tree without times. */
async function treeOf(tar: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ex = extract();
  Readable.from([tar]).pipe(ex);
  for await (const entry of ex) {
    const h = entry.header;
    const name = h.name.replace(/^\.\//, '').replace(/^\/+/, '').replace(/\/$/, '');
    const hash = createHash('sha256');
    for await (const chunk of entry) hash.update(chunk as Buffer);
    if (name === '' || RUNTIME_PATHS.test(name)) continue;
    out[name] = `${h.type} ${((h.mode ?? 0) & 0o7777).toString(8)} ${h.uid}:${h.gid} ${h.type === 'file' ? `${h.size} ${hash.digest('hex').slice(0, 16)}` : ''}${h.linkname ? ` -> ${h.linkname}` : ''}`;
  }
  // Docker's init layer makes /etc for the mount points even in a scratch image.
  if (!Object.keys(out).some((k) => k.startsWith('etc/'))) delete out.etc;
  return out;
}

async function exportTree(engine: 'hull' | 'docker', ref: string): Promise<Record<string, string>> {
  const file = join(work, `${engine}-${ref.replace(/\W/g, '_')}.tar`);
  if (engine === 'hull') {
    const id = (await hullOk(['create', ref, '/bin/true'])).trim();
    await hullOk(['export', '-o', file, id]);
    await hullOk(['rm', id]);
  } else {
    const id = (await dockerOk(['create', ref, '/bin/true'])).trim();
    await dockerOk(['export', '-o', file, id]);
    await dockerOk(['rm', id]);
  }
  return treeOf(await readFile(file));
}

const CONFIG_FIELDS = ['Cmd', 'Entrypoint', 'Env', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'] as const;

function configOf(inspectJson: string): Record<string, unknown> {
  const c = (JSON.parse(inspectJson) as { Config: Record<string, unknown> }[])[0]!.Config;
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const v = c[f];
    // Absent, null and empty mean the same to both engines' consumers.
    const empty = v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);
    out[f] = empty ? null : v;
  }
  return out;
}

/** The corpus: realistic Dockerfiles for the offline busybox image. */
const CORPUS: { name: string; files: Record<string, string> }[] = [
  {
    name: 'app',
    files: {
      'src/app.sh': '#!/bin/sh\necho "app $APP_ENV"\n',
      'src/conf/app.conf': 'port=8080\n',
      'README.md': 'readme\n',
      '.dockerignore': 'README.md\n**/*.bak\n',
      'src/old.bak': 'old\n',
      Dockerfile: [
        'FROM busybox',
        'LABEL org.opencontainers.image.title="demo app" maintainer=ops',
        'ENV APP_ENV=production APP_HOME=/opt/app',
        'ARG BUILD_NO=7',
        'WORKDIR $APP_HOME',
        'COPY src/ ./',
        'RUN chmod 0755 app.sh && mkdir -p /var/log/app && echo "build $BUILD_NO" > BUILD && echo app:x:1001:1001::/home/app:/bin/sh >> /etc/passwd && chown app /var/log/app',
        'EXPOSE 8080 9090/udp',
        'VOLUME ["/var/log/app", "/data"]',
        'USER app',
        'STOPSIGNAL SIGQUIT',
        'HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 CMD wget -qO- localhost:8080 || exit 1',
        'ENTRYPOINT ["./app.sh"]',
        'CMD ["--serve"]',
        '',
      ].join('\n'),
    },
  },
  {
    name: 'multistage',
    files: {
      'data/a.txt': 'a\n',
      'data/b.txt': 'b\n',
      Dockerfile: [
        'FROM busybox AS build',
        'COPY data /in',
        'RUN mkdir /out && cat /in/*.txt > /out/all.txt && ln -s all.txt /out/link && rm -rf /etc/motd',
        'FROM busybox',
        'COPY --from=build /out/ /result/',
        'COPY --from=build --chown=65534:65534 /in/a.txt /result/owned.txt',
        'SHELL ["/bin/sh", "-ec"]',
        'RUN rm /bin/vi && echo shell-form',
        'CMD cat /result/all.txt',
        '',
      ].join('\n'),
    },
  },
  {
    name: 'scratch',
    files: {
      'hello.txt': 'hi\n',
      Dockerfile: 'FROM busybox AS tools\nFROM scratch\nCOPY --from=tools /bin/busybox /bin/sh\nCOPY hello.txt /\nENV A=1\nONBUILD RUN echo child\nENTRYPOINT ["/bin/sh"]\n',
    },
  },
  {
    name: 'dockerignore',
    files: {
      '.dockerignore': '**/*.log\nsecret/\n!secret/public.txt\ntmp*\n',
      'keep.txt': 'k\n',
      'deep/er/b.log': 'x\n',
      'deep/er/c.txt': 'c\n',
      'secret/key.pem': 'KEY\n',
      'secret/public.txt': 'pub\n',
      tmpfile: 'x\n',
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nCOPY deep /deep-copy\n',
    },
  },
  {
    name: 'add-and-globs',
    files: {
      'pkg/x/1.conf': '1\n',
      'pkg/y.conf': 'y\n',
      'pkg/z.txt': 'z\n',
      Dockerfile: 'FROM busybox\nADD pkg.tar.gz /unpacked/\nCOPY pkg/*.conf pkg/z.txt /etc/app/\nADD pkg/z.txt /z-added\nWORKDIR rel/dir\nRUN pwd > /pwd\nHEALTHCHECK NONE\nUSER 1000:1000\n',
    },
  },
];

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-build-docker-'));
  root = join(work, 'root');
  const { dockerArchive } = await loadBusybox(root, work, { docker: true });
  try {
    // The peer's CLI environment is taken from ours: the classic builder for every docker build.
    process.env.DOCKER_BUILDKIT = '0';
    docker = await startDockerd();
  } catch (e) {
    dockerSkip = `dockerd could not be started here: ${(e as Error).message}`;
    return;
  }
  await dockerOk(['load', '-q', '-i', dockerArchive!]);
});

after(async () => {
  if (skip) return;
  await docker?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('hull build vs docker build', { skip }, () => {
  for (const item of CORPUS) {
    test(`${item.name}: same config and file tree`, async (t) => {
      if (dockerSkip) {
        t.skip(dockerSkip);
        return;
      }
      const dir = join(work, `ctx-${item.name}`);
      for (const [name, content] of Object.entries(item.files)) {
        await mkdir(dirname(join(dir, name)), { recursive: true });
        await writeFile(join(dir, name), content);
      }
      if (item.name === 'add-and-globs') await execFileP('tar', ['-czf', join(dir, 'pkg.tar.gz'), '-C', dir, 'pkg']);
      const ref = `cmp-${item.name}:latest`;
      await hullOk(['build', '-q', '-t', ref, dir]);
      await dockerOk(['build', '-q', '-t', ref, dir]);
      assert.deepEqual(configOf(await hullOk(['image', 'inspect', ref])), configOf(await dockerOk(['image', 'inspect', ref])));
      assert.deepEqual(await exportTree('hull', ref), await exportTree('docker', ref));
    });
  }
});
