/**
 * The native client and the warm workers (native/client/hull-client.c, src/cli/server/): the
 * same commands through the client and through plain node give the same output and exit codes
 * (125/126/127 included); stdin, a pty, and signals reach the container; the client falls back
 * to node when no server runs (and starts one), refuses a server of an older build, and serves
 * concurrent commands. Each test file runs its own supervisor on a private socket.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync, utimesSync } from 'node:fs';
import Database from 'better-sqlite3';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { removeHullTree } from '../helpers/leftovers.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { containerTestSkip, HULL_BIN, hullCommand, until } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { buildOciLayout, busyboxImage } from '../helpers/images.js';
import { runOnPty } from '../helpers/pty.js';

const execFileP = promisify(execFile);
const skip = containerTestSkip(['runc', 'skopeo', 'python3']);
const IMG = 'busybox:latest';

let work: string;
let root: string;
let sock: string;
let traceFile: string;

/** Environment for the client: a private socket and a trace of how each command ran. */
function clientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, HULL_CLI_SOCKET: sock, HULL_CLIENT_TRACE: traceFile, HULL_SERVER_IDLE_SECONDS: '120', ...extra };
}

function traces(): string[] {
  try {
    return readFileSync(traceFile, 'utf8').trim().split('\n');
  } catch {
    return [];
  }
}

/** Runs hull via the client (or node), returning output, status and the trace line it left. */
function run(args: string[], opts: { viaClient: boolean; input?: string; env?: Record<string, string> }): Promise<HullResult & { how: string }> {
  const before = traces().length;
  const [file, argv] = hullCommand(['--root', root, ...args], opts.viaClient);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: clientEnv(opts.env), timeout: 60_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const how = opts.viaClient ? (traces()[before] ?? 'none') : 'node';
      resolve({ code: code ?? -(signal ? 1 : 0), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), how });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Runs `attempt` (which runs one client command and checks its behaviour) until that command
 * was served by a warm worker rather than node: the pool refills in the background, so a
 * command may find it empty. Returns the last attempt's result.
 */
async function onWorker<T>(attempt: () => Promise<T>): Promise<T> {
  const end = Date.now() + 90_000;
  for (;;) {
    const before = traces().length;
    const result = await attempt();
    const how = traces()[before] ?? 'none';
    if (how.startsWith('worker ')) return result;
    if (Date.now() > end) throw new Error(`no command was served by a worker in 90 s (last: ${how})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function workerReady(): Promise<void> {
  await onWorker(() => run(['--version'], { viaClient: true }));
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-clitest-'));
  root = join(work, 'root');
  sock = join(work, 'cli.sock');
  traceFile = join(work, 'trace');
  const layout = join(work, 'layout');
  await buildOciLayout(layout, busyboxImage({ refName: 'latest' }));
  const archive = join(work, 'busybox.tar');
  await execFileP('skopeo', ['copy', '--quiet', `oci:${layout}`, `oci-archive:${archive}:busybox:latest`]);
  const r = await run(['load', '-i', archive], { viaClient: false });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  if (skip) return;
  // The supervisor leaves when its socket is gone (checked every few seconds) or idle; make it go now.
  const pid = supervisorPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    // It removes its socket files as it goes: let it finish before the directory goes.
    await until('the supervisor to exit', () => supervisorPid() === undefined || undefined, 30_000);
  }
  await removeHullTree(work);
});

/** The supervisor serving our private socket (or `socket`), found by its command line. */
function supervisorPid(socket = sock): number | undefined {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('supervisor.js')) && cmd.includes(socket)) return Number(p);
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

/** The process is gone, or a zombie its parent (the supervisor) has not reaped yet. */
function processEnded(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** `hull ARGS` through the client and through node: same stdout, stderr and status; the client's run was served by a worker. */
async function same(args: string[], input?: string): Promise<HullResult> {
  const viaClient = await onWorker(() => run(args, { viaClient: true, ...(input !== undefined ? { input } : {}) }));
  const viaNode = await run(args, { viaClient: false, ...(input !== undefined ? { input } : {}) });
  assert.match(viaClient.how, /^worker \d+$/, `not served by a worker: ${viaClient.how}`);
  assert.equal(viaClient.code, viaNode.code, `status: client ${viaClient.code}, node ${viaNode.code}\n${viaClient.stderr}`);
  assert.equal(viaClient.stdout, viaNode.stdout);
  assert.equal(viaClient.stderr, viaNode.stderr);
  return viaClient;
}

void describe('hull through the native client', { skip }, () => {
  test('no server yet: the command runs on node and starts the supervisor for the next one', async () => {
    const first = await run(['--version'], { viaClient: true });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, '0.1.0\n');
    assert.equal(first.how, 'node-no-server 0');
    await workerReady();
    assert.ok(supervisorPid(), 'a supervisor serves the socket');
  });

  test('HULL_NO_SERVER=1 always runs node', async () => {
    await workerReady();
    const r = await run(['--version'], { viaClient: true, env: { HULL_NO_SERVER: '1' } });
    assert.equal(r.code, 0);
    assert.equal(r.how, 'node-disabled 0');
  });

  test('output and exit codes are the same as plain node: 0, 1, 3, 125, 126, 127', async () => {
    assert.equal((await same(['--version'])).code, 0);
    assert.equal((await same(['nosuch'])).code, 1); // docker: "'nosuch' is not a docker command", exit 1
    assert.equal((await same(['run', '--rm', 'nosuch-image:1', 'true'])).code, 125);
    const r = await same(['run', '--rm', IMG, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal((await same(['run', '--rm', IMG, '/etc'])).code, 126);
    assert.equal((await same(['run', '--rm', IMG, 'no-such-command'])).code, 127);
  });

  test('the environment and working directory are the caller\'s', async () => {
    const dir = await mkdtemp(join(work, 'cwd-'));
    await writeFile(join(dir, 'env.list'), 'FROM_FILE=yes\n');
    const [file, argv] = hullCommand(['--root', root, 'run', '--rm', '--env-file', 'env.list', '-e', 'CALLER', IMG, 'sh', '-c', 'echo $FROM_FILE $CALLER'], true);
    await onWorker(async () => {
      const { stdout } = await execFileP(file, argv, { cwd: dir, env: clientEnv({ CALLER: 'mine' }) });
      assert.equal(stdout, 'yes mine\n');
    });
  });

  test('stdin is piped to the container', async () => {
    const r = await same(['run', '-i', '--rm', IMG, 'wc', '-l'], 'a\nb\nc\n');
    assert.equal(r.stdout, '3\n');
  });

  test('when the client exits, its worker no longer holds the stdio (a reader gets EOF at once); HULL_TRACE=1 still reaches stderr', async () => {
    // `run --rm` leaves work for after the answer (the monitor's runtime delete, the removed
    // directories): the worker outlives its client, and must not keep the client's pipes open.
    const [file, argv] = hullCommand(['--root', root, 'run', '--rm', IMG, 'echo', 'hi'], true);
    await onWorker(
      () =>
        new Promise<void>((resolve, reject) => {
          const before = traces().length;
          const child = spawn(file, argv, { env: clientEnv({ HULL_TRACE: '1' }), timeout: 60_000 });
          const out: Buffer[] = [];
          const err: Buffer[] = [];
          child.stdout.on('data', (d: Buffer) => out.push(d));
          child.stderr.on('data', (d: Buffer) => err.push(d));
          child.on('error', reject);
          let held: string[] = [];
          child.on('exit', () => {
            const how = traces()[before] ?? '';
            if (!how.startsWith('worker ')) return;
            const pid = how.split(' ')[1]!;
            for (const fd of [0, 1, 2]) {
              try {
                const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
                if (target !== '/dev/null') held.push(`fd ${fd} -> ${target}`);
              } catch {
                // the worker is gone: it holds nothing
              }
            }
          });
          child.on('close', (code) => {
            try {
              assert.equal(code, 0, Buffer.concat(err).toString());
              assert.equal(Buffer.concat(out).toString(), 'hi\n');
              assert.match(Buffer.concat(err).toString(), /^hull trace \(pid \d+/m);
              assert.deepEqual(held, [], 'the worker still held the client\'s stdio after the client exited');
              held = [];
              resolve();
            } catch (e) {
              reject(e instanceof Error ? e : new Error(String(e)));
            }
          });
          child.stdin.end();
        }),
    );
  });

  test('a worker ends only after its after-reply work: once it is gone, a `run --rm` container\'s root, files and namespace are too', async () => {
    // Each round is one `run --rm` served by a worker; its pid is in the client's trace line.
    const r = await onWorker(() => run(['run', '--rm', IMG, 'hostname'], { viaClient: true }));
    assert.equal(r.code, 0, r.stderr);
    // Docker's default hostname: the id's first 12 characters.
    const short = r.stdout.trim();
    assert.match(short, /^[0-9a-f]{12}$/);
    const pid = Number(r.how.split(' ')[1]);
    await until('the worker to end', () => processEnded(pid) || undefined, 30_000);
    // No wait from here on: whatever of this container is still there, the worker left behind
    // (only its own: an earlier command's worker may still be at work).
    const removed = join(root, 'tmp', 'removed');
    const entries = existsSync(removed) ? readdirSync(removed) : [];
    assert.deepEqual(entries.filter((e) => e.startsWith(`${pid}-${short}`)), [], 'the removed container\'s directories are deleted');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
    assert.deepEqual(mounts.filter((m) => m.startsWith(`${root}/`) && m.includes(short)), [], 'its root is not left mounted');
    const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
    assert.deepEqual(netns.filter((n) => n.startsWith(`hull-${short}`)), [], 'the network namespace is removed');
  });

  test('a worker checkpoints its writes into hull.db before it ends and leaves the WAL for the next command', async () => {
    let name = '';
    const created = await onWorker(() => run(['create', '--name', (name = `handover-${process.pid}-${Date.now()}`), IMG, 'true'], { viaClient: true }));
    assert.equal(created.code, 0, created.stderr);
    const pid = Number(created.how.split(' ')[1]);
    await until('the worker to end', () => !existsSync(`/proc/${pid}`) || undefined, 30_000);
    // Durable as a close would leave it: the row is in the database file itself, not only in the WAL.
    const copy = await mkdtemp(join(work, 'db-copy-'));
    copyFileSync(join(root, 'hull.db'), join(copy, 'hull.db'));
    const db = new Database(join(copy, 'hull.db'), { readonly: true });
    try {
      assert.ok(db.prepare('SELECT id FROM containers WHERE name = ?').get(name), 'the row was not checkpointed');
    } finally {
      db.close();
    }
    assert.ok(existsSync(join(root, 'hull.db-wal')), 'the WAL was deleted (the next command would recreate it, with two fsyncs)');
    // The next process (node here, so the WAL is recovered by a fresh connection) sees and removes it.
    const listed = await run(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}}'], { viaClient: false });
    assert.equal(listed.stdout, `${name}\n`, listed.stderr);
    assert.equal((await run(['rm', name], { viaClient: true })).code, 0);
  });

  test('an idle worker holds a spare network namespace (an fd, no mount) that a run takes as its own; a killed worker\'s spare is gone with it', async () => {
    await workerReady();
    const hostNet = readlinkSync('/proc/self/ns/net');
    /** Each idle worker of our supervisor → the network namespaces its fds hold. */
    const spares = (): Map<number, string[]> => {
      const sup = supervisorPid();
      const out = new Map<number, string[]>();
      for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          if (!readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('worker.js')) continue;
          if (Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) !== sup) continue;
          const nets = readdirSync(`/proc/${p}/fd`).map((fd) => readlinkSync(`/proc/${p}/fd/${fd}`)).filter((t) => t.startsWith('net:['));
          out.set(Number(p), nets);
        } catch {
          // exited meanwhile
        }
      }
      return out;
    };
    // A namespace's bind mount (an `ip netns` entry, say) shows its `net:[inode]` here.
    const nsMounts = (): string => readFileSync('/proc/self/mountinfo', 'utf8');
    /** Every process holding namespace `n`: as an open fd or as its own network namespace. */
    const holders = (n: string): number[] =>
      readdirSync('/proc')
        .filter((x) => /^\d+$/.test(x))
        .filter((p) => {
          try {
            if (readlinkSync(`/proc/${p}/ns/net`) === n) return true;
            return readdirSync(`/proc/${p}/fd`).some((fd) => {
              try {
                return readlinkSync(`/proc/${p}/fd/${fd}`) === n;
              } catch {
                return false;
              }
            });
          } catch {
            return false;
          }
        })
        .map(Number);
    // Idle workers announce themselves only once their spare is made.
    const held = await until('an idle worker with its spare', () => {
      const all = [...spares().values()].flat();
      return all.length > 0 ? all : undefined;
    }, 60_000);
    for (const n of held) {
      assert.notEqual(n, hostNet);
      assert.ok(!nsMounts().includes(n), `a spare ${n} is mounted somewhere`);
    }
    // The container's namespace is the spare the worker that ran it held (not a new one). A run
    // served by a worker that was not idle yet when we looked is tried again.
    const r = await until('a run served by a worker whose spare was seen', async () => {
      const idle = spares();
      const res = await run(['run', '--rm', IMG, 'readlink', '/proc/self/ns/net'], { viaClient: true });
      const served = Number(/^worker (\d+)$/.exec(res.how)?.[1]);
      const spare = idle.get(served);
      return spare && spare.length > 0 ? { ...res, spare } : undefined;
    }, 90_000);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([r.stdout.trim()], r.spare, 'the container\'s namespace is not its worker\'s spare');
    // A worker killed while idle frees its spare: the worker's fd is its only reference (no
    // process has it as its namespace, nothing mounts it), and that goes with the process. (Its
    // inode number cannot be looked for afterwards: the kernel gives it to the next namespace.)
    const [victim, nets] = await until('an idle worker with its spare', () => [...spares()].find(([, n]) => n.length > 0), 60_000);
    for (const n of nets) {
      assert.deepEqual(holders(n), [victim], `${n} is held by more than its worker`);
      assert.ok(!nsMounts().includes(n), `${n} is mounted`);
    }
    process.kill(victim, 'SIGKILL');
    await until('the killed worker to be gone', () => !existsSync(`/proc/${victim}`) || undefined, 30_000);
  });

  test('run -it on a pty: the terminal, its size and the exit status come through', async () => {
    const [file, argv] = hullCommand(['--root', root, 'run', '-it', '--rm', IMG, 'sh'], true);
    // The pty driver passes its own environment on: the private socket must be in it.
    Object.assign(process.env, { HULL_CLI_SOCKET: sock, HULL_CLIENT_TRACE: traceFile });
    await onWorker(async () => {
      const r = await runOnPty([file, argv], [{ expect: '# ', send: 'tty; stty size\n' }, { expect: '101', send: 'exit 5\n' }]);
      assert.equal(r.status, 5, r.out);
      assert.match(r.out, /\/dev\/pts\/0\r\n/);
      assert.match(r.out, /33 101\r\n/);
    });
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    test(`${sig} to the client reaches the container`, async () => {
      const [file, argv] = hullCommand(['--root', root, 'run', '--rm', IMG, 'sh', '-c', `trap 'echo got; exit 7' ${sig.slice(3)}; echo ready; while :; do sleep 0.1; done`], true);
      await onWorker(async () => {
        const child = spawn(file, argv, { env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        await until('the container to trap signals', () => out.includes('ready') || undefined, 30_000);
        child.kill(sig);
        assert.equal(await done, 7, out);
        assert.equal(out, 'ready\ngot\n');
      });
    });
  }

  test('SIGTSTP stops the client and its worker; SIGCONT resumes both and the command completes', async () => {
    const [file, argv] = hullCommand(['--root', root, 'run', '--rm', IMG, 'sh', '-c', 'echo ready; sleep 1; echo finished'], true);
    const state = (pid: number): string => {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    };
    await onWorker(async () => {
      const before = traces().length;
      // The kernel discards SIGTSTP sent to an orphaned process group (one with no parent in
      // another group of its session), as the test's own group is when CI runs in the
      // background. The client gets a group of its own whose parent, this test, is outside it.
      const child = spawn('python3', ['-c', 'import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])', file, ...argv], { env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        await until('the container to start', () => out.includes('ready') || undefined, 30_000);
        const how = traces()[before] ?? '';
        child.kill('SIGTSTP');
        await until('the client to stop', () => state(child.pid!) === 'T' || undefined);
        if (how.startsWith('worker ')) await until('the worker to stop', () => state(Number(how.split(' ')[1])) === 'T' || undefined);
      } finally {
        // Never leave a stopped client (and its worker) behind for the next tests.
        child.kill('SIGCONT');
      }
      assert.equal(await done, 0);
      assert.equal(out, 'ready\nfinished\n');
    });
  });

  test('a command killed by a signal it does not handle: the client dies of the same signal', async () => {
    const name = `sig-${process.pid}`;
    const started = await run(['run', '-d', '--name', name, IMG, 'sleep', '60'], { viaClient: false });
    assert.equal(started.code, 0, started.stderr);
    try {
      const [file, argv] = hullCommand(['--root', root, 'logs', '-f', name], true);
      await onWorker(async () => {
        const before = traces().length;
        const child = spawn(file, argv, { env: clientEnv(), stdio: 'ignore' });
        const done = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
        await until('the client to decide how to run', () => traces().length > before || undefined, 30_000);
        // Give node (the fallback) time to start: a signal before that kills it the same way anyway.
        await new Promise((r) => setTimeout(r, 300));
        child.kill('SIGHUP');
        assert.equal(await done, 'SIGHUP');
      });
    } finally {
      await run(['rm', '-f', name], { viaClient: false });
    }
  });

  test('a supervisor of an older build never serves: the command runs on node, a new supervisor takes over', async () => {
    await workerReady();
    const old = supervisorPid();
    const main = HULL_BIN;
    const st = statSync(main);
    // A rebuild rewrites main.js: a new mtime is a new build id.
    utimesSync(main, st.atime, new Date(st.mtimeMs + 1000));
    const r = await run(['--version'], { viaClient: true });
    assert.equal(r.code, 0);
    assert.equal(r.how, 'node-stale-server 0');
    await workerReady();
    assert.notEqual(supervisorPid(), old);
  });

  test('no worker ready: the client is handed to the loading worker rather than running node', async () => {
    // A pool of one, and waiting for a loading worker whatever it has left to load: every
    // command after the first finds only the replacement the previous one started, still loading.
    const socket = join(work, 'one.sock');
    const env = { HULL_CLI_SOCKET: socket, HULL_SERVER_WORKERS: '1', HULL_SERVER_COLD_FRACTION: '1' };
    const ready = (): true | undefined => {
      try {
        return readFileSync(`${socket}.ready`, 'utf8').trim() === '1' || undefined;
      } catch {
        return undefined;
      }
    };
    try {
      assert.equal((await run(['--version'], { viaClient: true, env })).how, 'node-no-server 0');
      await until('the pool of one to be ready', ready, 60_000);
      for (let i = 0; i < 3; i++) {
        const r = await run(['--version'], { viaClient: true, env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, '0.1.0\n');
        assert.match(r.how, /^worker \d+$/, `command ${i + 1} was not served by a worker`);
      }
    } finally {
      const pid = supervisorPid(socket);
      if (pid) process.kill(pid, 'SIGTERM');
      await until('that supervisor to exit', () => supervisorPid(socket) === undefined || undefined, 30_000);
    }
  });

  test('concurrent commands each get a worker or run on node; none waits or fails', async () => {
    const end = Date.now() + 90_000;
    for (let served = false; !served; ) {
      if (Date.now() > end) assert.fail('no batch had a command served by a worker in 90 s');
      const before = traces().length;
      const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => run(['run', '--rm', IMG, 'echo', `n${i}`], { viaClient: true })));
      rs.forEach((r, i) => {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `n${i}\n`);
      });
      // One trace line per command, in no particular order.
      const hows = traces().slice(before);
      assert.equal(hows.length, 6, hows.join(','));
      for (const h of hows) assert.match(h, /^(worker \d+|node-no-worker 0)$/);
      assert.equal(new Set(hows.filter((h) => h.startsWith('worker '))).size, hows.filter((h) => h.startsWith('worker ')).length, 'a worker served twice');
      served = hows.some((h) => h.startsWith('worker '));
    }
  });
});

