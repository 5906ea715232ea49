/**
 * Containers end to end: the real `hull` binary on real runc, as a user runs it. One state root
 * for the file (images loaded once, containers named uniquely); the crash tests get roots of
 * their own because they remove everything. After each group no container, monitor or mount
 * of ours is left.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { removeHullTree } from '../helpers/leftovers.js';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOk, containerTestSkip, HULL_BIN, hullCommand, runHull, uniqueName as uniq, until } from '../helpers/hull.js';
import { runOnPty } from '../helpers/pty.js';
import type { PtyResult, PtyStep } from '../helpers/pty.js';
import type { HullResult } from '../helpers/hull.js';
import { BUSYBOX_PATH, buildOciLayout, busyboxImage } from '../helpers/images.js';
import type { LayerSpec } from '../helpers/images.js';

const execFileP = promisify(execFile);

const skip = containerTestSkip(['runc', 'skopeo', 'python3']);

const IMG = 'busybox:latest';
/** Entrypoint, Cmd, User, WorkingDir and Env set in the image, to check Docker's merge rules. */
const CFG = 'cfg:latest';

/** Applets the standard test image lacks that these tests need. */
const EXTRA_APPLETS: LayerSpec = ['unshare', 'tty', 'stty'].map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' }));

let work: string;
let root: string;
let archive: string;
let cfgArchive: string;

function hull(args: string[], opts: { input?: string; timeoutMs?: number; root?: string } = {}): Promise<HullResult> {
  return runHull(args, { root: opts.root ?? root, ...(opts.input !== undefined ? { input: opts.input } : {}), timeoutMs: opts.timeoutMs ?? 60_000 });
}

async function ok(args: string[], opts: { input?: string; root?: string } = {}): Promise<string> {
  return assertOk(args, await hull(args, opts)).stdout;
}

async function inspect(name: string, format: string, r = root): Promise<string> {
  return (await ok(['inspect', '-f', format, name], { root: r })).trim();
}


/** Live hull-monitor processes (not zombies) whose command line mentions `under`. */
function monitorsUnder(under: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
      if (comm !== 'hull-monitor' || state === 'Z') continue;
      if (readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(under)) found.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function mountsUnder(under: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(under));
}

/** A controller's file for a process, from its /proc/<pid>/cgroup line (cgroup v1 or hybrid). */
function cgroupFile(pid: number, controller: string, file: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  assert.ok(line, `no ${controller} cgroup for ${pid}`);
  const dir = readdirSync('/sys/fs/cgroup').find((d) => d.split(',').includes(controller));
  assert.ok(dir, `no ${controller} hierarchy mounted`);
  return join('/sys/fs/cgroup', dir, line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1), file);
}

/** Remove every container of a root and check nothing of them is left on the host. */
async function removeAll(r: string): Promise<void> {
  const ids = (await ok(['ps', '-aq', '--no-trunc'], { root: r })).split('\n').filter(Boolean);
  if (ids.length > 0) await ok(['rm', '-f', ...ids], { root: r });
  assert.equal((await ok(['ps', '-aq'], { root: r })).trim(), '');
  await until('monitors to exit', () => monitorsUnder(r).length === 0 || undefined, 5000);
  assert.deepEqual(mountsUnder(r), []);
}

async function loadImages(r: string): Promise<void> {
  await ok(['load', '-i', archive], { root: r });
  await ok(['load', '-i', cfgArchive], { root: r });
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-ctest-'));
  root = join(work, 'root');
  const layout = join(work, 'layout');
  const cfgLayout = join(work, 'cfg-layout');
  await buildOciLayout(layout, busyboxImage({ refName: 'latest', extraLayers: [EXTRA_APPLETS] }));
  await buildOciLayout(
    cfgLayout,
    busyboxImage({
      refName: 'latest',
      extraLayers: [EXTRA_APPLETS],
      config: {
        Env: [`PATH=${BUSYBOX_PATH}`, 'FOO=image', 'BAR=image'],
        Entrypoint: ['echo', 'ep'],
        Cmd: ['c1', 'c2'],
        User: 'app',
        WorkingDir: '/home/app',
        Labels: { 'from.image': 'yes' },
      },
    }),
  );
  archive = join(work, 'busybox.tar');
  cfgArchive = join(work, 'cfg.tar');
  await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `oci-archive:${archive}:busybox:latest`]);
  await execFileP('skopeo', ['copy', '--quiet', `oci:${cfgLayout}`, `oci-archive:${cfgArchive}:cfg:latest`]);
  await loadImages(root);
});

after(async () => {
  if (skip) return;
  try {
    await removeAll(root);
  } finally {
    await removeHullTree(work);
  }
});

void describe('exit codes and errors', { skip }, () => {
  test('the container’s own status: 0 and 3', async () => {
    assert.equal((await hull(['run', '--rm', IMG, 'true'])).code, 0);
    assert.equal((await hull(['run', '--rm', IMG, 'sh', '-c', 'exit 3'])).code, 3);
  });

  test('a missing --env-file is Docker\'s error (and not read by node itself)', async () => {
    const r = await hull(['run', '--rm', '--env-file', '/nonexistent/env', IMG, 'true']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr, 'hull: open /nonexistent/env: no such file or directory\n');
  });

  test('--init runs Docker\'s init as pid 1 and passes the status through', async () => {
    const ps = await ok(['run', '--rm', '--init', IMG, 'ps', '-o', 'pid,comm']);
    assert.match(ps, /^\s*1 docker-init$/m);
    assert.equal((await hull(['run', '--rm', '--init', IMG, 'sh', '-c', 'exit 4'])).code, 4);
  });

  test('125 for an engine error (invalid flag value), and nothing is created', async () => {
    const before = await ok(['ps', '-aq']);
    const r = await hull(['run', '--restart', 'bogus', IMG, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid restart policy 'bogus'/);
    const r2 = await hull(['run', '--memory', 'lots', IMG, 'true']);
    assert.equal(r2.code, 125);
    assert.equal(await ok(['ps', '-aq']), before);
  });

  test('126 for a file that is not executable, 127 for a missing command, with runc’s reason', async () => {
    const r = await hull(['run', '--rm', IMG, '/etc/passwd']);
    assert.equal(r.code, 126, r.stderr);
    assert.match(r.stderr, /exec: "\/etc\/passwd": permission denied/);
    const r2 = await hull(['run', '--rm', IMG, 'nope']);
    assert.equal(r2.code, 127, r2.stderr);
    assert.match(r2.stderr, /exec: "nope": executable file not found in \$PATH/);
  });

  test('a container whose start failed records the status and can be removed', async () => {
    const name = uniq('nocmd');
    assert.equal((await hull(['run', '--name', name, IMG, 'nope'])).code, 127);
    // As Docker: it never ran, so it stays `created`, with the status and the runtime's reason.
    assert.equal(await inspect(name, '{{.State.Status}} {{.State.ExitCode}}'), 'created 127');
    assert.match(await inspect(name, '{{.State.Error}}'), /nope/);
    await ok(['rm', name]);
  });
});

void describe('signals', { skip }, () => {
  test('kill -s USR1 reaches a trap; stop of a trapping process returns its own code', async () => {
    const name = uniq('sig');
    await ok(['run', '-d', '--name', name, IMG, 'sh', '-c', 'trap "echo got-usr1" USR1; trap "exit 7" TERM; echo ready; while true; do sleep 0.1; done']);
    await until('ready', async () => (await ok(['logs', name])).includes('ready') || undefined);
    await ok(['kill', '-s', 'USR1', name]);
    await until('the trap', async () => (await ok(['logs', name])).includes('got-usr1') || undefined);
    assert.equal(await inspect(name, '{{.State.Status}}'), 'running');
    const t0 = Date.now();
    await ok(['stop', name]);
    assert.ok(Date.now() - t0 < 5000, 'stop waited for the timeout although the process exited');
    assert.equal(await inspect(name, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 7');
    await ok(['rm', name]);
  });

  test('stop -t 1 kills a process ignoring SIGTERM after a second: 137', async () => {
    const name = uniq('ign');
    await ok(['run', '-d', '--name', name, IMG, 'sh', '-c', 'trap "" TERM; echo ready; while true; do sleep 0.1; done']);
    await until('ready', async () => (await ok(['logs', name])).includes('ready') || undefined);
    const t0 = Date.now();
    await ok(['stop', '-t', '1', name]);
    const took = Date.now() - t0;
    assert.ok(took >= 1000 && took < 6000, `stop took ${took} ms`);
    assert.equal(await inspect(name, '{{.State.ExitCode}}'), '137');
    assert.equal((await ok(['wait', name])).trim(), '137');
    await ok(['rm', name]);
  });

  test('kill of a container that is not running is Docker’s error', async () => {
    const name = uniq('dead');
    await ok(['run', '--name', name, IMG, 'true']);
    const r = await hull(['kill', name]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not running/);
    await ok(['rm', name]);
  });
});

void describe('configuration', { skip }, () => {
  test('env: -e and --env-file over the image’s Env', async () => {
    const file = join(work, 'env.list');
    await writeFile(file, '# comment\nBAZ=file\n\nFOO=file\n');
    const env = (await ok(['run', '--rm', '-e', 'FOO=cli', '--env-file', file, '-e', 'QUX=cli', CFG])).trim();
    assert.equal(env, 'ep c1 c2');
    const out = await ok(['run', '--rm', '-e', 'FOO=cli', '--env-file', file, '-e', 'QUX=cli', '--entrypoint', 'env', CFG]);
    const vars = new Map(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(vars.get('FOO'), 'cli');
    assert.equal(vars.get('BAR'), 'image');
    assert.equal(vars.get('BAZ'), 'file');
    assert.equal(vars.get('QUX'), 'cli');
    assert.equal(vars.get('PATH'), BUSYBOX_PATH);
    assert.equal(vars.get('HOME'), '/home/app');
    assert.match(vars.get('HOSTNAME') ?? '', /^[0-9a-f]{12}$/);
  });

  test('user: -u name, -u uid:gid, the image’s USER, and an unknown user', async () => {
    assert.equal((await ok(['run', '--rm', '-u', 'app', IMG, 'id'])).trim(), 'uid=1000(app) gid=1000(app) groups=1000(app)');
    assert.match(await ok(['run', '--rm', '-u', '1000:1000', IMG, 'id']), /^uid=1000\(app\) gid=1000\(app\)/);
    assert.equal((await ok(['run', '--rm', '--entrypoint', 'id', CFG, '-un'])).trim(), 'app');
    assert.equal((await ok(['run', '--rm', '-u', 'root', '--entrypoint', 'id', CFG, '-u'])).trim(), '0');
    const r = await hull(['run', '--rm', '-u', 'nope', IMG, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unable to find user nope: no matching entries in passwd file/);
  });

  test('workdir: -w, the image’s WorkingDir', async () => {
    assert.equal((await ok(['run', '--rm', '-w', '/tmp', IMG, 'pwd'])).trim(), '/tmp');
    assert.equal((await ok(['run', '--rm', '--entrypoint', 'pwd', CFG])).trim(), '/home/app');
    assert.equal((await ok(['run', '--rm', '-w', '/data', '--entrypoint', 'pwd', CFG])).trim(), '/data');
    const r = await hull(['run', '--rm', '-w', 'rel', IMG, 'pwd']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /the working directory 'rel' is invalid, it needs to be an absolute path/);
  });

  test('entrypoint and cmd: Docker’s rules', async () => {
    assert.equal(await ok(['run', '--rm', CFG]), 'ep c1 c2\n');
    assert.equal(await ok(['run', '--rm', CFG, 'x', 'y']), 'ep x y\n');
    // --entrypoint drops the image's Cmd; arguments after the image become the new Cmd.
    assert.equal(await ok(['run', '--rm', '--entrypoint', 'echo', CFG]), '\n');
    assert.equal(await ok(['run', '--rm', '--entrypoint', 'echo', CFG, 'a', 'b']), 'a b\n');
    assert.equal(await ok(['run', '--rm', '--entrypoint', '', CFG, 'echo', 'plain']), 'plain\n');
    const r = await hull(['run', '--rm', '--entrypoint', '', CFG]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /No command specified/);
    assert.equal(await inspect(CFG, '{{json .Config.Cmd}}'), '["c1","c2"]');
  });

  test('hostname (given and default) and labels in inspect', async () => {
    assert.equal(await ok(['run', '--rm', '-h', 'myhost', IMG, 'hostname']), 'myhost\n');
    const name = uniq('lab');
    const id = (await ok(['run', '-d', '--name', name, '-l', 'a=b', '--label', 'c=d', CFG])).trim();
    assert.equal(await ok(['wait', name]), '0\n');
    assert.equal((await ok(['logs', name])).trim(), 'ep c1 c2');
    assert.deepEqual(JSON.parse(await inspect(name, '{{json .Config.Labels}}')), { a: 'b', c: 'd', 'from.image': 'yes' });
    assert.equal(await inspect(name, '{{.Config.Hostname}}'), id.slice(0, 12));
    assert.equal(await inspect(name, '{{.Name}}'), `/${name}`);
    await ok(['rm', name]);
  });
});

void describe('logs', { skip }, () => {
  test('stdout and stderr streams, --tail, --timestamps', async () => {
    const name = uniq('logs');
    await ok(['run', '--name', name, IMG, 'sh', '-c', 'echo out1; echo err1 >&2; sleep 0.2; echo out2; echo err2 >&2']);
    const r = await hull(['logs', name]);
    assert.equal(r.stdout, 'out1\nout2\n');
    assert.equal(r.stderr, 'err1\nerr2\n');
    const tail = await hull(['logs', '--tail', '1', name]);
    assert.equal(tail.stdout + tail.stderr, 'err2\n');
    const ts = await hull(['logs', '-t', '--tail', '2', name]);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out2\n$/);
    assert.match(ts.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err2\n$/);
    assert.equal((await hull(['logs', '--tail', '0', name])).stdout, '');
    await ok(['rm', name]);
  });

  test('-f follows a running container until it exits', async () => {
    const name = uniq('follow');
    await ok(['run', '-d', '--name', name, IMG, 'sh', '-c', 'for i in 1 2 3 4 5; do echo f$i; sleep 0.3; done']);
    const t0 = Date.now();
    const r = await hull(['logs', '-f', name], { timeoutMs: 15_000 });
    const took = Date.now() - t0;
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'f1\nf2\nf3\nf4\nf5\n');
    assert.ok(took > 500, `logs -f returned after ${took} ms: it did not follow`);
    assert.equal(await inspect(name, '{{.State.Status}}'), 'exited');
    await ok(['rm', name]);
  });

  test('--log-opt max-size/max-file rotate into files', async () => {
    const name = uniq('rot');
    const id = (
      await ok(['run', '-d', '--name', name, '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', IMG, 'sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxx; i=$((i+1)); done'])
    ).trim();
    assert.equal(await ok(['wait', name]), '0\n');
    const logPath = await inspect(name, '{{.LogPath}}');
    assert.ok(logPath.endsWith(`${id}-json.log`));
    const dir = join(logPath, '..');
    const files = (await readdir(dir)).filter((f) => f.startsWith(`${id}-json.log`)).sort();
    assert.deepEqual(files, [`${id}-json.log`, `${id}-json.log.1`, `${id}-json.log.2`]);
    for (const f of files) assert.ok((await stat(join(dir, f))).size <= 1024, `${f} is larger than max-size`);
    const out = (await ok(['logs', name])).trim().split('\n');
    assert.equal(out.at(-1), 'line-199-xxxxxxxxxxxxxxxx');
    assert.ok(!out.includes('line-0-xxxxxxxxxxxxxxxx'), 'the oldest lines should have been rotated away');
    // The lines kept are consecutive: rotation lost nothing between files.
    const nums = out.map((l) => Number(/^line-(\d+)-/.exec(l)?.[1]));
    nums.forEach((n, i) => assert.equal(n, nums[0]! + i));
    await ok(['rm', name]);
  });
});

void describe('restart policies and --rm', { skip }, () => {
  test('on-failure:2 restarts exactly twice', async () => {
    const name = uniq('onf');
    await ok(['run', '-d', '--name', name, '--restart', 'on-failure:2', IMG, 'sh', '-c', 'echo run; exit 1']);
    let last = '';
    await until(
      'two restarts',
      async () => ((last = await inspect(name, '{{.RestartCount}} {{.State.Status}} {{.State.Error}}')).startsWith('2 exited') ? true : undefined),
      15_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last state: ${last}`);
    });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await inspect(name, '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}'), '2 exited 1');
    assert.equal(await ok(['logs', name]), 'run\nrun\nrun\n');
    await ok(['rm', name]);
  });

  test('always restarts (a success too) until stopped, even while being watched', async () => {
    const name = uniq('always');
    await ok(['run', '-d', '--name', name, '--restart', 'always', IMG, 'sh', '-c', 'echo run; sleep 0.2']);
    // `inspect` reconciles state on every call: polling must not cancel a pending restart.
    await until('two restarts', async () => (Number(await inspect(name, '{{.RestartCount}}')) >= 2 ? true : undefined), 20_000);
    await ok(['stop', name]);
    const count = await inspect(name, '{{.RestartCount}}');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await inspect(name, '{{.State.Status}}'), 'exited');
    assert.equal(await inspect(name, '{{.RestartCount}}'), count);
    await ok(['rm', name]);
  });

  test('no (the default) does not restart', async () => {
    const name = uniq('norestart');
    await ok(['run', '-d', '--name', name, IMG, 'sh', '-c', 'exit 1']);
    assert.equal(await ok(['wait', name]), '1\n');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(await inspect(name, '{{.RestartCount}} {{.State.Status}}'), '0 exited');
    await ok(['rm', name]);
  });

  test('--rm removes after exit; run -d --rm too', async () => {
    const name = uniq('rm');
    // What a killed process left in the removal area (named by its pid) goes with the next --rm.
    // A --rm container's root is unmounted after the answer, so such a leftover may still hold
    // a mounted root: the sweep unmounts it.
    const removed = join(root, 'tmp', 'removed');
    await mkdir(join(removed, '2147483646-left-behind', 'diff'), { recursive: true });
    await mkdir(join(removed, '2147483646-left-behind', 'rootfs'));
    await execFileP('mount', ['-t', 'tmpfs', 'tmpfs', join(removed, '2147483646-left-behind', 'rootfs')]);
    // ... and a network namespace whose removal (after the answer) it did not get to.
    const leftId = randomBytes(32).toString('hex');
    await mkdir(join(removed, `2147483646-${leftId}-1`));
    await execFileP('ip', ['netns', 'add', `hull-${leftId}`]);
    const r = await hull(['run', '--rm', '--name', name, IMG, 'sh', '-c', 'exit 4']);
    assert.equal(r.code, 4);
    assert.equal((await hull(['inspect', name])).code, 1, 'the container should be gone when run returns');
    assert.deepEqual(await readdir(removed), [], 'the removed container\'s files, and the leftover, are deleted');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
    assert.deepEqual(mounts.filter((m) => m.startsWith(join(root, 'tmp')) || m.startsWith(join(root, 'containers'))), [], 'no root is left mounted');
    assert.ok(!existsSync(`/run/netns/hull-${leftId}`), 'the leftover namespace is removed');
    const dname = uniq('rmd');
    const did = (await ok(['run', '-d', '--rm', '--name', dname, IMG, 'sleep', '0.3'])).trim();
    await until('removal', async () => ((await hull(['inspect', dname])).code === 1 ? true : undefined));
    // Its namespace goes after the removal's answer (by the exit command), but it goes.
    await until('its network namespace to go', () => !existsSync(`/run/netns/hull-${did}`) || undefined);
    const stop = uniq('rmstop');
    await ok(['run', '-d', '--rm', '--name', stop, IMG, 'sleep', '30']);
    await ok(['stop', '-t', '1', stop]);
    await until('removal after stop', async () => ((await hull(['inspect', stop])).code === 1 ? true : undefined));
  });

  test('--rm: the root is a volatile overlay (no syncs); a kept container\'s is not, and starts again', async () => {
    const rootLine = ['grep', ' / / ', '/proc/self/mountinfo'];
    const [major, minor] = release().split('.').map(Number) as [number, number];
    if (major > 5 || (major === 5 && minor >= 10)) assert.match(await ok(['run', '--rm', IMG, ...rootLine]), /volatile/);
    const kept = uniq('kept');
    assert.doesNotMatch(await ok(['run', '--name', kept, IMG, ...rootLine]), /volatile/);
    // The marker a volatile mount leaves makes overlayfs refuse the directories: a start clears it.
    const id = await inspect(kept, '{{.Id}}');
    await mkdir(join(root, 'containers', id, 'work', 'work', 'incompat', 'volatile'), { recursive: true });
    assert.match(await ok(['start', '-a', kept]), /overlay/);
    await ok(['rm', kept]);
  });
});

void describe('limits', { skip }, () => {
  test('--memory 16m: a memory hog is OOM-killed, 137, OOMKilled true', async () => {
    const name = uniq('oom');
    const r = await hull(['run', '--name', name, '--memory', '16m', IMG, 'sh', '-c', 'a=x; while true; do a="$a$a"; done'], { timeoutMs: 30_000 });
    assert.equal(r.code, 137, r.stderr);
    assert.equal(await inspect(name, '{{.State.OOMKilled}} {{.State.ExitCode}}'), 'true 137');
    assert.equal(await inspect(name, '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}'), `${16 << 20} ${32 << 20}`);
    await ok(['rm', name]);
  });

  test('--pids-limit 20 contains a fork bomb', async () => {
    const name = uniq('bomb');
    await ok(['run', '-d', '--name', name, '--pids-limit', '20', IMG, 'sh', '-c', 'f(){ f | f & }; f 2>/dev/null; exec sleep 60']);
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    assert.equal(readFileSync(cgroupFile(pid, 'pids', 'pids.max'), 'utf8').trim(), '20');
    // Let it push against the limit, while this process keeps its own timers on time.
    let worstLag = 0;
    for (let i = 0; i < 10; i++) {
      const t = Date.now();
      await new Promise((r) => setTimeout(r, 100));
      worstLag = Math.max(worstLag, Date.now() - t - 100);
    }
    assert.ok(worstLag < 1000, `the test process stalled ${worstLag} ms`);
    const current = Number(readFileSync(cgroupFile(pid, 'pids', 'pids.current'), 'utf8'));
    assert.ok(current <= 20, `pids.current ${current}`);
    const t0 = Date.now();
    await ok(['rm', '-f', name]);
    assert.ok(Date.now() - t0 < 15_000, 'rm -f of the fork bomb took too long');
  });

  test('--read-only refuses writes to the root; --tmpfs /tmp is writable', async () => {
    const r = await hull(['run', '--rm', '--read-only', IMG, 'touch', '/x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(await ok(['run', '--rm', '--read-only', '--tmpfs', '/tmp', IMG, 'sh', '-c', 'touch /tmp/x && echo ok']), 'ok\n');
    // /tmp without --tmpfs is part of the read-only root.
    assert.equal((await hull(['run', '--rm', '--read-only', IMG, 'touch', '/tmp/x'])).code, 1);
  });

  test('--cpus 0.5 is a CFS quota of 50000 per 100000', async () => {
    const name = uniq('cpus');
    await ok(['run', '-d', '--name', name, '--cpus', '0.5', IMG, 'sleep', '30']);
    const pid = Number(await inspect(name, '{{.State.Pid}}'));
    assert.equal(readFileSync(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    assert.equal(readFileSync(cgroupFile(pid, 'cpu', 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    assert.equal(await inspect(name, '{{.HostConfig.NanoCpus}}'), '500000000');
    await ok(['rm', '-f', name]);
  });
});

void describe('security', { skip }, () => {
  const capEff = async (...flags: string[]): Promise<string> => {
    const out = await ok(['run', '--rm', ...flags, IMG, 'grep', 'CapEff', '/proc/self/status']);
    return out.trim().split(/\s+/)[1]!;
  };

  test('capabilities: Docker’s default set, --cap-drop ALL, --privileged', async () => {
    assert.equal(await capEff(), '00000000a80425fb');
    assert.equal(await capEff('--cap-drop', 'ALL'), '0000000000000000');
    const priv = await capEff('--privileged');
    assert.notEqual(priv, '00000000a80425fb');
    assert.ok((BigInt(`0x${priv}`) & 0xa80425fbn) === 0xa80425fbn, 'privileged lacks a default capability');
    assert.equal(await capEff('-u', 'app'), '0000000000000000');
  });

  test('seccomp: unshare refused by default, allowed unconfined with SYS_ADMIN', async () => {
    const r = await hull(['run', '--rm', IMG, 'unshare', '-m', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Operation not permitted/);
    // Docker's profile opens unshare to a container given CAP_SYS_ADMIN.
    assert.equal((await hull(['run', '--rm', '--cap-add', 'SYS_ADMIN', IMG, 'unshare', '-m', 'true'])).code, 0);
    assert.equal((await hull(['run', '--rm', '--security-opt', 'seccomp=unconfined', '--cap-add', 'SYS_ADMIN', IMG, 'unshare', '-m', 'true'])).code, 0);
  });

  test('seccomp: the 32-bit ABIs the kernel executes are filtered like x86_64; the ones it refuses are left out', { skip: process.arch !== 'x64' }, async () => {
    // A static probe making raw calls of each ABI: `int 0x80` (ia32) and bit 30 set (x32).
    const dir = await mkdtemp(join(tmpdir(), 'hull-abi-'));
    try {
      const src = join(dir, 'probe.c');
      const bin = join(dir, 'probe');
      await writeFile(src, [
        '#include <stdio.h>', '#include <string.h>', '#include <unistd.h>', '#include <sys/syscall.h>',
        'static long ia32(long nr, long a) { long r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory"); return r; }',
        'int main(int c, char **v) {',
        '  if (c > 1 && !strcmp(v[1], "x32")) printf("%ld\\n", syscall(0x40000000L | SYS_getpid) < 0 ? -1L : 0L);',
        '  if (c > 1 && !strcmp(v[1], "ia32-getpid")) printf("%ld\\n", ia32(20, 0) > 0 ? 0L : -1L);',
        '  if (c > 1 && !strcmp(v[1], "ia32-unshare")) printf("%ld\\n", ia32(310, 0x20000));', // CLONE_NEWNS
        '  return 0;', '}', ''].join('\n'));
      await execFileP('gcc', ['-static', '-O2', '-o', bin, src]);
      const onHost = async (what: string) => (await execFileP(bin, [what])).stdout.trim();
      const inside = (what: string) => hull(['run', '--rm', '-v', `${bin}:/probe:ro`, IMG, '/probe', what]);
      // ia32: allowed where Docker's profile allows it, refused (EPERM) where it refuses it.
      if ((await onHost('ia32-getpid')) === '0') {
        assert.equal((await inside('ia32-getpid')).stdout.trim(), '0');
        assert.equal((await inside('ia32-unshare')).stdout.trim(), '-1', 'unshare through int 0x80 is refused (EPERM)');
      }
      // x32: allowed when the kernel runs x32 calls; else not in the filter, and the call is killed.
      const x32 = await inside('x32');
      if ((await onHost('x32')) === '0') assert.equal(x32.stdout.trim(), '0');
      else assert.equal(x32.code, 128 + 31, `an x32 call ends with SIGSYS: ${JSON.stringify(x32)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('masked paths and no-new-privileges', async () => {
    const r = await hull(['run', '--rm', IMG, 'sh', '-c', 'cat /proc/timer_list | wc -c; cat /proc/kcore 2>/dev/null | wc -c']);
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.trim().split(/\s+/), ['0', '0']);
    assert.match(await ok(['run', '--rm', IMG, 'grep', 'NoNewPrivs', '/proc/self/status']), /NoNewPrivs:\s+0/);
    assert.match(await ok(['run', '--rm', '--security-opt', 'no-new-privileges', IMG, 'grep', 'NoNewPrivs', '/proc/self/status']), /NoNewPrivs:\s+1/);
  });
});

void describe('robustness', { skip }, () => {
  test('20 run -d in parallel: all succeed, distinct ids and names', async () => {
    const label = uniq('par');
    const results = await Promise.all(Array.from({ length: 20 }, () => hull(['run', '-d', '-l', `batch=${label}`, IMG, 'sleep', '30'])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const ids = results.map((r) => r.stdout.trim());
    ids.forEach((id) => assert.match(id, /^[0-9a-f]{64}$/));
    assert.equal(new Set(ids).size, 20);
    const listed = (await ok(['ps', '--filter', `label=batch=${label}`, '--format', '{{.Names}} {{.Status}}'])).trim().split('\n');
    assert.equal(listed.length, 20);
    assert.equal(new Set(listed.map((l) => l.split(' ')[0])).size, 20);
    for (const l of listed) assert.match(l, / Up /);
    await ok(['rm', '-f', ...ids]);
    assert.equal((await ok(['ps', '-aq', '--filter', `label=batch=${label}`])).trim(), '');
  });

  test('a name clash is Docker’s conflict error; rm -f of a running container', async () => {
    const name = uniq('clash');
    const id = (await ok(['run', '-d', '--name', name, IMG, 'sleep', '30'])).trim();
    const r = await hull(['run', '--name', name, IMG, 'true']);
    assert.equal(r.code, 125);
    assert.ok(
      r.stderr.includes(`Conflict. The container name "/${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`),
      r.stderr,
    );
    const rm1 = await hull(['rm', name]);
    assert.equal(rm1.code, 1);
    assert.match(rm1.stderr, /container is running: stop the container before removing or force remove/);
    const monitorPid = readMonitorPid(id);
    await ok(['rm', '-f', name]);
    assert.equal((await hull(['inspect', name])).code, 1);
    assert.ok(monitorPid === undefined || monitorsUnder(root).every((p) => p !== monitorPid), 'the monitor survived rm -f');
  });

  test('a CLI killed during run leaves a truthful state, and rm -f cleans everything', async () => {
    const r = join(work, 'crash-root');
    await loadImages(r);
    try {
      for (const delay of [50, 200, 500, 100, 300, 400]) {
        const child = spawn(process.execPath, [HULL_BIN, '--root', r, 'run', IMG, 'sleep', '30'], { stdio: 'ignore' });
        await new Promise((res) => setTimeout(res, delay));
        child.kill('SIGKILL');
        await new Promise((res) => child.once('exit', res));
      }
      const listed = (await ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.State}}'], { root: r })).trim().split('\n').filter(Boolean);
      for (const line of listed) {
        const [id, state] = line.split(' ');
        if (state !== 'running') continue;
        const pid = Number(await inspect(id!, '{{.State.Pid}}', r));
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
        assert.deepEqual(cmd, ['sleep', '30'], `container ${id} shown as running, its pid runs ${cmd.join(' ')}`);
      }
      // `start` of a container whose CLI died must not race the old monitor.
      for (const line of listed) {
        const [id, state] = line.split(' ');
        if (state === 'created') {
          await ok(['start', id!], { root: r });
          assert.equal(await inspect(id!, '{{.State.Status}}', r), 'running');
          break;
        }
      }
      await removeAll(r);
      if (existsSync(join(r, 'containers'))) assert.deepEqual(await readdir(join(r, 'containers')), []);
    } finally {
      await removeAll(r).catch(() => undefined);
      await removeHullTree(r);
    }
  });
});

function readMonitorPid(id: string): number | undefined {
  const p = monitorsUnder(root).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(id));
  return p;
}

async function onPty(args: string[], steps: PtyStep[], size = { rows: 33, cols: 101 }): Promise<PtyResult> {
  return runOnPty(hullCommand(['--root', root, ...args]), steps, size);
}

void describe('terminal and stdin', { skip }, () => {
  test('run -it: a pty of the outer terminal’s size; exit 5 exits 5', async () => {
    const r = await onPty(['run', '-it', '--rm', IMG, 'sh'], [{ expect: '# ', send: 'tty; stty size\n' }, { expect: '101', send: 'exit 5\n' }]);
    assert.equal(r.status, 5, r.out);
    assert.match(r.out, /\/dev\/pts\/0\r\n/);
    assert.match(r.out, /33 101\r\n/);
    assert.ok(!r.out.includes('\r\r\n'), `the outer terminal translated line ends again: ${JSON.stringify(r.out)}`);
  });

  test('ctrl-p ctrl-q detaches; the container keeps running', async () => {
    const name = uniq('detach');
    const r = await onPty(['run', '-it', '--name', name, IMG, 'sh'], [{ expect: '# ', send: 'echo before\n' }, { expect: 'before\r\n', send: '\x10\x11' }]);
    assert.equal(r.status, 0, r.out);
    assert.equal(await inspect(name, '{{.State.Status}}'), 'running');
    await ok(['rm', '-f', name]);
  });

  test('-i without -t pipes stdin', async () => {
    assert.equal(await ok(['run', '-i', '--rm', IMG, 'cat'], { input: 'hi\n' }), 'hi\n');
    assert.equal(await ok(['run', '-i', '--rm', IMG, 'wc', '-l'], { input: 'a\nb\nc\n' }), '3\n');
    // Without -i the container's stdin is empty.
    assert.equal(await ok(['run', '--rm', IMG, 'cat'], { input: 'ignored\n' }), '');
  });
});

test('the monitor\'s exit command never recreates a state root that was removed under it', async () => {
  // A container killed by `rm -f` runs its exit command after the CLI returned; a user (or a
  // test) removing the whole root meanwhile must not see an empty root come back.
  const gone = join(await mkdtemp(join(tmpdir(), 'hull-gone-')), 'root');
  const r = await runHull(['_exited', 'f'.repeat(64)], { root: gone });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(gone), false, 'the exit command created the root');
  await rm(join(gone, '..'), { recursive: true, force: true });
});
