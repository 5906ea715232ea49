/**
 * The verbs around a running container, end to end: the real `hull` binary on real runc. One
 * state root for the file; containers are named uniquely and all removed at the end.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { removeHullTree } from '../helpers/leftovers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { assertOk, containerTestSkip, HULL_BIN, runHull, uniqueName as uniq, until } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { buildOciLayout, busyboxImage } from '../helpers/images.js';
import type { LayerSpec } from '../helpers/images.js';

const execFileP = promisify(execFile);

const skip = containerTestSkip(['runc', 'skopeo', 'python3']);

const IMG = 'busybox:latest';
const EXTRA_APPLETS: LayerSpec = ['tty', 'stty'].map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' }));

let work: string;
let root: string;

function hull(args: string[], input?: string): Promise<HullResult> {
  return runHull(args, { root, ...(input !== undefined ? { input } : {}), timeoutMs: 60_000 });
}

async function ok(args: string[], input?: string): Promise<string> {
  return assertOk(args, await hull(args, input)).stdout;
}

async function inspect(name: string, format: string): Promise<string> {
  return (await ok(['inspect', '-f', format, name])).trim();
}

async function runDetached(name: string, args: string[]): Promise<string> {
  return (await ok(['run', '-d', '--name', name, ...args])).trim();
}


/** A container's cgroup v1 directory for `controller`, from its init's /proc/<pid>/cgroup. */
function cgroupDir(pid: number, controller: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  assert.ok(line, `no ${controller} cgroup for ${pid}`);
  const [, hierarchy, path] = line.split(':') as [string, string, string];
  return join('/sys/fs/cgroup', hierarchy, path);
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-ops-'));
  root = join(work, 'root');
  const layout = join(work, 'layout');
  await buildOciLayout(layout, busyboxImage({ extraLayers: [EXTRA_APPLETS] }));
  const archive = join(work, 'busybox.tar');
  await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `docker-archive:${archive}:${IMG}`]);
  await ok(['load', '-i', archive]);
});

after(async () => {
  if (skip) return;
  const ids = (await hull(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await hull(['rm', '-f', ...ids]);
  await removeHullTree(work);
});

void describe('exec', { skip }, () => {
  let c: string;
  before(async () => {
    c = uniq('exec');
    await runDetached(c, ['-e', 'FROM_RUN=yes', '--hostname', 'box', IMG, 'sleep', '1000']);
  });

  void test("runs in the container: its hostname, its files, its environment", async () => {
    assert.equal(await ok(['exec', c, 'hostname']), 'box\n');
    assert.equal(await ok(['exec', c, 'cat', '/data/new.txt']), 'new data from layer 3\n');
    await ok(['exec', c, 'sh', '-c', 'echo written > /tmp/x']);
    assert.equal(await ok(['exec', c, 'cat', '/tmp/x']), 'written\n');
    const env = (await ok(['exec', c, 'env'])).split('\n');
    assert.ok(env.includes('FROM_RUN=yes'), env.join(' '));
    assert.ok(env.includes('HOSTNAME=box'));
    assert.ok(env.includes('HOME=/root'));
    assert.ok(!env.includes('TERM=xterm'), 'no TERM without -t');
    // Same pid namespace: the container's init is pid 1.
    assert.equal(await ok(['exec', c, 'cat', '/proc/1/cmdline']), 'sleep\u00001000\u0000');
  });

  void test('-e, -u, -w, --env-file', async () => {
    assert.equal(await ok(['exec', '-e', 'A=1', '-e', 'FROM_RUN', '-u', 'app', '-w', '/tmp', c, 'sh', '-c', 'echo "$A ${FROM_RUN-unset}"; id -u; id -g; pwd; echo $HOME']), '1 unset\n1000\n1000\n/tmp\n/home/app\n');
    assert.equal(await ok(['exec', '-u', '1234:55', c, 'id']), 'uid=1234 gid=55 groups=55\n');
    const envFile = join(work, 'env');
    await writeFile(envFile, '# comment\nB=from-file\n');
    assert.equal(await ok(['exec', '--env-file', envFile, c, 'sh', '-c', 'echo $B']), 'from-file\n');
    const bad = await hull(['exec', '-u', 'nobody-here', c, 'id']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unable to find user nobody-here/);
  });

  void test("exit codes: the process's, 127 not found, 126 not executable", async () => {
    const r = await hull(['exec', c, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
    const nf = await hull(['exec', c, 'no-such-command']);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /^OCI runtime exec failed: exec failed: .*executable file not found in \$PATH: unknown\n$/);
    const ne = await hull(['exec', c, '/etc/passwd']);
    assert.equal(ne.code, 126);
    assert.match(ne.stderr, /permission denied/);
    // A process killed by a signal: 128 + n, as Docker reports.
    const killed = await hull(['exec', c, 'sh', '-c', 'kill -9 $$']);
    assert.equal(killed.code, 137, killed.stderr);
  });

  void test('-i passes stdin; without it the process reads EOF', async () => {
    assert.equal(await ok(['exec', '-i', c, 'cat'], 'piped\n'), 'piped\n');
    assert.equal(await ok(['exec', c, 'cat'], 'ignored\n'), '');
  });

  void test('-d returns at once and the process runs on', async () => {
    const t0 = Date.now();
    assert.equal(await ok(['exec', '-d', c, 'sh', '-c', 'sleep 1; echo done > /tmp/detached']), '');
    assert.ok(Date.now() - t0 < 5000);
    assert.equal((await hull(['exec', c, 'cat', '/tmp/detached'])).code, 1, 'not yet written');
    await until('the detached exec', async () => (await hull(['exec', c, 'cat', '/tmp/detached'])).stdout === 'done\n');
  });

  void test('-it: a real terminal of the caller\'s size that follows resizes', async () => {
    // python's pty gives `hull exec -it` a terminal, as a user's shell would.
    const script = `
import os, pty, sys, time, select, struct, fcntl, termios
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 101, 0, 0))
out = b''
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return
            if not d:
                return
            out += d
def wait_for(s, t=10):
    end = time.time() + t
    while s not in out and time.time() < end:
        pump(0.1)
wait_for(b'# ')
os.write(fd, b'stty size; tty; echo "T=$TERM"\\r')
wait_for(b'T=xterm')
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 44, 120, 0, 0))
os.kill(pid, 28)
time.sleep(0.5)
os.write(fd, b'stty size; exit 7\\r')
pump(5)
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode('latin1'))
sys.stdout.write('\\nEXIT=%d\\n' % os.waitstatus_to_exitcode(st))
`;
    const { stdout } = await execFileP('python3', ['-c', script, process.execPath, HULL_BIN, '--root', root, 'exec', '-it', c, 'sh'], { timeout: 60_000 });
    assert.match(stdout, /33 101\r\n/);
    assert.match(stdout, /\/dev\/pts\/\d+\r\n/);
    assert.match(stdout, /44 120\r\n/, 'SIGWINCH on the caller reaches the pty');
    assert.match(stdout, /EXIT=7\n$/);
  });

  void test('-it without a terminal on stdin: Docker\'s refusal', async () => {
    const r = await hull(['exec', '-it', c, 'sh']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'the input device is not a TTY\n');
  });

  void test('a stopped or missing container: Docker\'s errors, exit 1', async () => {
    const stopped = uniq('exec-stopped');
    const id = (await ok(['create', '--name', stopped, IMG, 'true'])).trim();
    const r = await hull(['exec', stopped, 'true']);
    assert.deepEqual([r.code, r.stderr], [1, `Error response from daemon: container ${id} is not running\n`]);
    const m = await hull(['exec', 'no-such-container-here', 'true']);
    assert.deepEqual([m.code, m.stderr], [1, 'Error response from daemon: No such container: no-such-container-here\n']);
    await ok(['container', 'exec', c, 'true']);
  });
});

void describe('attach', { skip }, () => {
  void test('gets the output that follows and exits with the container\'s code', async () => {
    const c = uniq('attach');
    await runDetached(c, [IMG, 'sh', '-c', 'sleep 2; echo hello; echo oops >&2; exit 4']);
    const r = await hull(['attach', c]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [4, 'hello\n', 'oops\n']);
    const again = await hull(['attach', c]);
    assert.deepEqual([again.code, again.stderr], [1, 'You cannot attach to a stopped container, start it first\n']);
  });

  void test("stdin goes to a container with OpenStdin (-i)", async () => {
    const c = uniq('attach-in');
    await runDetached(c, ['-i', IMG, 'sh', '-c', 'read line; echo "got $line"; exit 2']);
    const r = await hull(['attach', c], 'typed\n');
    assert.deepEqual([r.code, r.stdout], [2, 'got typed\n']);
  });
});

void describe('top', { skip }, () => {
  void test("lists the container's processes with Docker's default columns", async () => {
    const c = uniq('top');
    await runDetached(c, [IMG, 'sh', '-c', 'sleep 1001 & sleep 1002']);
    await until('both sleeps', async () => /sleep 1001/.test(await ok(['top', c])) || undefined);
    const outText = await ok(['top', c]);
    const lines = outText.trimEnd().split('\n');
    assert.match(lines[0]!, /^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
    // sh execs its last command: the init is `sleep 1002`, its child `sleep 1001`.
    assert.equal(lines.length, 3, outText);
    assert.ok(lines.some((l) => /sleep 1001$/.test(l)));
    assert.ok(lines.some((l) => /sleep 1002$/.test(l)));
    const pid = await inspect(c, '{{.State.Pid}}');
    assert.ok(lines.some((l) => l.split(/ +/)[1] === pid), 'the init pid as the host sees it');
    // ps options pass through.
    const custom = await ok(['container', 'top', c, '-o', 'pid,comm']);
    assert.match(custom.split('\n')[0]!, /^PID +COMMAND$/);
    assert.equal(custom.trimEnd().split('\n').length, 3);
    await ok(['stop', '-t', '0', c]);
    const stopped = await hull(['top', c]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /^Error response from daemon: container [0-9a-f]{64} is not running\n$/);
  });
});

void describe('stats', { skip }, () => {
  void test('--no-stream: the memory limit, PIDS, and the table Docker prints', async () => {
    const c = uniq('stats');
    const id = await runDetached(c, ['--memory', '64m', IMG, 'sh', '-c', 'sleep 1000 & sleep 1000']);
    const outText = await ok(['stats', '--no-stream', c]);
    const [header, row] = outText.trimEnd().split('\n');
    assert.match(header!, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
    assert.ok(row!.startsWith(`${id.slice(0, 12)}   ${c}`), row);
    assert.match(row!, / \/ 64MiB /);
    assert.match(row!, /\d+\.\d\d% /);
    assert.match(row!, / 0B \/ 0B /, 'only loopback in its network namespace');
    const pids = Number(row!.trim().split(/ +/).pop());
    assert.ok(pids >= 2, row);
    const f = await ok(['stats', '--no-stream', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.PIDs}}', c]);
    assert.equal(f, `${id} ${c} ${pids}\n`);
    // Without names: every running container, ours among them.
    assert.match(await ok(['stats', '--no-stream', '--format', '{{.Name}}']), new RegExp(`^${c}$`, 'm'));
  });

  void test('CPU % of a busy container is measured', async () => {
    const c = uniq('stats-cpu');
    await runDetached(c, ['--cpus', '0.5', IMG, 'sh', '-c', 'while :; do :; done']);
    const cpu = await ok(['stats', '--no-stream', '--format', '{{.CPUPerc}}', c]);
    const v = Number(cpu.trim().replace('%', ''));
    // A quota of half a CPU: Docker's formula shows at most about 50% (of one CPU); less when
    // the host is busy with other work.
    assert.ok(v > 1 && v < 60, cpu);
    await ok(['rm', '-f', c]);
  });

  void test('a missing container: the daemon\'s error', async () => {
    const r = await hull(['stats', '--no-stream', 'no-such-stats']);
    assert.deepEqual([r.code, r.stderr], [1, 'Error response from daemon: No such container: no-such-stats\n']);
  });
});

void describe('pause and unpause', { skip }, () => {
  void test('pause freezes every process; unpause resumes them', async () => {
    const c = uniq('pause');
    await runDetached(c, [IMG, 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done']);
    const pid = Number(await inspect(c, '{{.State.Pid}}'));
    const counter = (): number => Number(readFileSync(`/proc/${pid}/root/tmp/n`, 'utf8'));
    await until('the counter', () => (existsSync(`/proc/${pid}/root/tmp/n`) && counter() > 0) || undefined);
    assert.equal(await ok(['pause', c]), `${c}\n`);
    assert.equal(await inspect(c, '{{.State.Status}} {{.State.Paused}} {{.State.Running}}'), 'paused true true');
    assert.match(await ok(['ps', '--filter', `name=${c}`, '--format', '{{.Status}}']), /^Up .* \(Paused\)\n$/);
    const frozen = counter();
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(counter(), frozen, 'the counter stands still while paused');

    const again = await hull(['pause', c]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^Error response from daemon: Container [0-9a-f]{64} is already paused\n$/);
    const ex = await hull(['exec', c, 'true']);
    assert.deepEqual([ex.code, ex.stderr], [1, `Error response from daemon: Container ${c} is paused, unpause the container before exec\n`]);

    assert.equal(await ok(['unpause', c]), `${c}\n`);
    assert.equal(await inspect(c, '{{.State.Status}} {{.State.Paused}}'), 'running false');
    await until('the counter to move again', () => counter() > frozen + 3 || undefined);
    const notPaused = await hull(['container', 'unpause', c]);
    assert.equal(notPaused.code, 1);
    assert.match(notPaused.stderr, /is not paused/);

    // A paused container still stops.
    await ok(['pause', c]);
    await ok(['stop', '-t', '1', c]);
    assert.equal(await inspect(c, '{{.State.Status}}'), 'exited');
  });
});

void describe('rename', { skip }, () => {
  void test("renames, and refuses taken, invalid and unchanged names with Docker's errors", async () => {
    const a = uniq('ren-a');
    const b = uniq('ren-b');
    const idA = (await ok(['create', '--name', a, IMG, 'true'])).trim();
    const idB = (await ok(['create', '--name', b, IMG, 'true'])).trim();
    const a2 = `${a}-new`;
    assert.equal(await ok(['rename', a, a2]), '');
    assert.equal(await inspect(idA, '{{.Name}}'), `/${a2}`);
    assert.equal((await hull(['inspect', a])).code, 1);

    const taken = await hull(['rename', a2, b]);
    assert.equal(taken.code, 1);
    assert.equal(
      taken.stderr,
      `Error response from daemon: Conflict. The container name "/${b}" is already in use by container "${idB}". You have to remove (or rename) that container to be able to reuse that name.\nError: failed to rename container named ${a2}\n`,
    );
    const same = await hull(['rename', a2, a2]);
    assert.match(same.stderr, /Renaming a container with the same name as its current name/);
    const invalid = await hull(['container', 'rename', a2, 'bad name']);
    assert.match(invalid.stderr, /Invalid container name \(bad name\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed/);
    const missing = await hull(['rename', 'no-such-ren', 'x']);
    assert.equal(missing.stderr, 'Error response from daemon: No such container: no-such-ren\nError: failed to rename container named no-such-ren\n');
    // The freed name can be taken again.
    await ok(['create', '--name', a, IMG, 'true']);
  });
});

void describe('update', { skip }, () => {
  void test('--memory, --cpus, --pids-limit reach the running container\'s cgroups and are kept', async () => {
    const c = uniq('upd');
    await runDetached(c, ['--memory', '64m', IMG, 'sleep', '1000']);
    const pid = Number(await inspect(c, '{{.State.Pid}}'));
    const mem = cgroupDir(pid, 'memory');
    assert.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 << 20));
    assert.equal(await ok(['update', '--memory', '96m', '--cpus', '0.5', '--pids-limit', '50', '--restart', 'on-failure:2', c]), `${c}\n`);
    assert.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(96 << 20));
    assert.equal(readFileSync(join(cgroupDir(pid, 'cpu'), 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    assert.equal(readFileSync(join(cgroupDir(pid, 'pids'), 'pids.max'), 'utf8').trim(), '50');
    assert.equal(await inspect(c, '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}'), `${96 << 20} 500000000 50 on-failure`);

    // Above the swap limit set at run (2 × 64m): Docker's conflict.
    const conflict = await hull(['update', '--memory', '200m', c]);
    assert.equal(conflict.code, 1);
    assert.equal(conflict.stderr, 'Error response from daemon: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n');
    const none = await hull(['update', c]);
    assert.deepEqual([none.code, none.stderr], [1, 'you must provide one or more flags when using this command\n']);

    // A stopped container: stored, applied at the next start.
    await ok(['stop', '-t', '0', c]);
    await ok(['container', 'update', '--memory', '80m', c]);
    await ok(['start', c]);
    const pid2 = Number(await inspect(c, '{{.State.Pid}}'));
    assert.equal(readFileSync(join(cgroupDir(pid2, 'memory'), 'memory.limit_in_bytes'), 'utf8').trim(), String(80 << 20));
    await ok(['rm', '-f', c]);
  });
});

void describe('port', { skip }, () => {
  void test('no published ports: nothing, or Docker\'s error for a named port', async () => {
    const c = uniq('port');
    await ok(['create', '--name', c, IMG, 'true']);
    assert.deepEqual(await hull(['port', c]), { code: 0, stdout: '', stderr: '' });
    const r = await hull(['port', c, '80']);
    assert.deepEqual([r.code, r.stderr], [1, `Error: No public port '80/tcp' published for ${c}\n`]);
  });
});

void describe('container prune', { skip }, () => {
  void test('removes stopped containers only, with Docker\'s output', async () => {
    const running = uniq('prune-run');
    await runDetached(running, [IMG, 'sleep', '1000']);
    const exited = uniq('prune-exited');
    await ok(['run', '--name', exited, IMG, 'sh', '-c', 'head -c 5000 /dev/zero > /big']);
    const created = uniq('prune-created');
    await ok(['create', '--name', created, '--label', 'keep=1', IMG, 'true']);
    const idExited = await inspect(exited, '{{.Id}}');
    const idCreated = await inspect(created, '{{.Id}}');

    // Filters: the labelled one stays.
    const first = await ok(['container', 'prune', '-f', '--filter', 'label!=keep']);
    const deleted = first.split('\n').slice(1).filter((l) => /^[0-9a-f]{64}$/.test(l));
    assert.ok(first.startsWith('Deleted Containers:\n'), first);
    assert.ok(deleted.includes(idExited));
    assert.ok(!deleted.includes(idCreated));
    assert.match(first, /\n\nTotal reclaimed space: \d+(\.\d+)?kB\n$/, 'the exited one wrote 5 kB');
    assert.equal((await hull(['inspect', exited])).code, 1);

    const second = await ok(['container', 'prune', '-f']);
    assert.ok(second.includes(`${idCreated}\n`));
    assert.equal(await inspect(running, '{{.State.Status}}'), 'running');
    assert.equal(await ok(['container', 'prune', '-f']), 'Total reclaimed space: 0B\n');

    const refused = await hull(['container', 'prune'], 'n\n');
    assert.equal(refused.stdout, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
  });
});
