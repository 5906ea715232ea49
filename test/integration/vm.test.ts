/**
 * `--isolation vm` end to end: the real `hull` binary boots a busybox image under real QEMU
 * (TCG on this host: HULL_VM_ACCEL=tcg skips the KVM probe's wait), with the image's overlay root
 * shared over virtio-fs. Boots are slow on shared cores, so each test packs several checks into
 * one VM. After every test no QEMU, virtiofsd or mount of this root is left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { assertOk, hullCommand, runHull, uniqueName as uniq, until } from '../helpers/hull.js';
import { makeVmWork, removeAllVms, removeVmWork, vmTestSkip } from '../helpers/vm.js';
import type { HullResult } from '../helpers/hull.js';
import { findKernel } from '../../src/vm/guest-image.js';
import { vmLeftovers } from '../helpers/leftovers.js';
import { tcpRead } from '../helpers/net.js';


const skip = vmTestSkip();

const netSkip = existsSync('/usr/lib/podman/netavark') && existsSync('/usr/lib/podman/aardvark-dns') ? false : 'netavark/aardvark-dns not installed';
const ENV: Record<string, string> = { HULL_VM_ACCEL: 'tcg' };
let work: string;
let root: string;

function hull(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<HullResult> {
  return runHull(args, { root, env: { ...ENV, ...opts.env }, timeoutMs: 240_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
}

async function ok(args: string[], opts: { input?: string } = {}): Promise<string> {
  return assertOk(args, await hull(args, opts)).stdout;
}

/** QEMU, virtiofsd or mounts of this test's root still on the host. */
function leftovers(): string[] {
  return vmLeftovers(root);
}

describe('hull run --isolation vm', { skip, concurrency: 1 }, () => {
  before(async () => {
    ({ work, root } = await makeVmWork('hull-vm-', ENV, 254));
  });

  afterEach(async () => {
    // A test that failed half-way leaves its VM behind: remove every container first, so one
    // failure never cascades into the following tests' leftover checks (rm -f must clean up too).
    assert.deepEqual(await removeAllVms(root, ENV), []);
  });

  after(async () => {
    if (work) await removeVmWork(root, work, ENV);
  });

  test('the workload runs on the guest kernel with the container process settings; status, logs, diff and cp work', async () => {
    const name = uniq('vm');
    const script = 'uname -r; echo "$FOO" "$HOME"; pwd; id -u; id -g; nproc; grep MemTotal /proc/meminfo; echo to-stderr >&2; echo data > /tmp/from-vm; exit 3';
    const r = await hull(['run', '--isolation', 'vm', '--name', name, '--cpus', '2', '--memory', '256m', '-e', 'FOO=bar', '-w', '/tmp', '-u', '1000:1000', 'busybox', 'sh', '-c', script]);
    assert.equal(r.code, 3, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.notEqual(lines[0], release(), 'uname -r must print the guest kernel, not the host one');
    assert.equal(lines[0], findKernel().version);
    assert.equal(lines[1], 'bar /home/app');
    assert.deepEqual(lines.slice(2, 6), ['/tmp', '1000', '1000', '2']);
    const memKiB = Number(/MemTotal:\s+(\d+)/.exec(lines[6] ?? '')?.[1]);
    assert.ok(memKiB > 150 * 1024 && memKiB <= 256 * 1024, `guest RAM ${memKiB} KiB for --memory 256m`);
    assert.match(r.stderr, /to-stderr/);

    const logs = await hull(['logs', name]);
    assert.match(logs.stdout, /^\/tmp$/m);
    assert.match(logs.stderr, /to-stderr/);
    assert.equal((await ok(['inspect', '-f', '{{.Isolation}} {{.State.Status}} {{.State.ExitCode}}', name])).trim(), 'vm exited 3');
    assert.match(await ok(['diff', name]), /^A \/tmp\/from-vm$/m);
    const copied = join(work, 'copied');
    await ok(['cp', `${name}:/tmp/from-vm`, copied]);
    assert.equal(readFileSync(copied, 'utf8'), 'data\n');
    await ok(['rm', name]);
  });

  test('stdin is piped to the workload and its end reaches it as EOF', async () => {
    const r = await hull(['run', '--rm', '-i', '--isolation', 'vm', 'busybox', 'sh', '-c', 'wc -l; echo done'], { input: 'a\nb\nc\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim()), ['3', 'done']);
  });

  test('stop sends SIGTERM to the workload, kill SIGKILL, rm -f removes a running VM; nothing is left each time', async () => {
    const name = uniq('vm');
    await ok(['run', '-d', '--isolation', 'vm', '--name', name, 'busybox', 'sleep', '600']);
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', name])).trim(), 'running');
    assert.match(await ok(['ps']), new RegExp(name));
    await ok(['stop', '-t', '60', name]);
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name])).trim(), 'exited 143');
    assert.deepEqual(leftovers(), []);
    await ok(['start', name]);
    await ok(['kill', name]);
    await until('the VM to exit after kill', async () => ((await ok(['inspect', '-f', '{{.State.Status}}', name])).trim() === 'exited' ? true : undefined), 30_000);
    assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', name])).trim(), '137');
    // rm -f of a running VM takes QEMU, virtiofsd, the mount and the runtime state with it.
    await ok(['start', name]);
    const id = (await ok(['inspect', '-f', '{{.Id}}', name])).trim();
    await ok(['rm', '-f', name]);
    assert.deepEqual(leftovers(), []);
    assert.ok(!existsSync(join(root, 'runtime', id)), 'the VM runtime directory is removed');
  });

  test('exec runs processes in a running VM (output, exit codes, -e/-u/-w, -i, -d, two at once, signals); top lists the guest\'s processes; stats and update --cpus act on the host processes; not in a stopped VM', async () => {
    const name = uniq('vm');
    await ok(['run', '-d', '--isolation', 'vm', '--memory', '256m', '--name', name, 'busybox', 'sleep', '600']);
    const r = await hull(['exec', name, 'sh', '-c', 'uname -r; echo to-err >&2; exit 7']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [7, `${findKernel().version}\n`, 'to-err\n']);
    const env = await hull(['exec', '-e', 'FOO=bar', '-u', '1000:1000', '-w', '/tmp', name, 'sh', '-c', 'echo "$FOO" "$HOME"; id -u; id -g; pwd']);
    assert.deepEqual([env.code, env.stdout], [0, 'bar /home/app\n1000\n1000\n/tmp\n'], env.stderr);
    const input = 'line\n'.repeat(5000);
    const piped = await hull(['exec', '-i', name, 'sh', '-c', 'wc -l; echo after-eof'], { input });
    assert.deepEqual([piped.code, piped.stdout.trim().split(/\s+/)], [0, ['5000', 'after-eof']], piped.stderr);
    assert.equal((await hull(['exec', name, 'sh', '-c', 'echo $$; kill -9 $$'])).code, 137, 'a signalled process is 128+N');
    // stdin a process does not read yet waits without blocking the guest's init: another exec
    // runs meanwhile (it is what lets the first one go on), and every byte arrives after.
    const blocked = hull(['exec', '-i', name, 'sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.2; done; wc -c'], { input: 'x'.repeat(2_000_000) });
    await until('the stdin-bound exec to start', async () => ((await ok(['top', name])).includes('while [ ! -e /tmp/go ]') ? true : undefined), 60_000);
    await ok(['exec', name, 'touch', '/tmp/go']);
    const unblocked = await blocked;
    assert.deepEqual([unblocked.code, unblocked.stdout.trim()], [0, '2000000'], unblocked.stderr);
    const missing = await hull(['exec', name, 'no-such-command']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown/);
    assert.equal((await hull(['exec', '-w', '/no/such/dir', name, 'true'])).code, 127);
    // -d returns at once; the process lives on in the guest.
    await ok(['exec', '-d', name, 'sh', '-c', 'sleep 1; echo detached > /tmp/d']);
    await until('the detached exec to write its file', async () => ((await hull(['exec', name, 'cat', '/tmp/d'])).stdout === 'detached\n' ? true : undefined), 60_000);
    // Two at once, each on its own channel; the slow one started first.
    const [slow, fast] = await Promise.all([hull(['exec', name, 'sh', '-c', 'sleep 2; echo slow']), hull(['exec', name, 'echo', 'fast'])]);
    assert.deepEqual([slow.code, slow.stdout, fast.code, fast.stdout], [0, 'slow\n', 0, 'fast\n']);
    // A signal to the exec's CLI reaches the process in the guest (runExec forwards it to the runtime).
    const [file, argv] = hullCommand(['--root', root, 'exec', name, 'sh', '-c', 'trap "echo got-term; exit 5" TERM; echo ready; while true; do sleep 1; done']);
    const child = spawn(file, argv, { env: { ...process.env, ...ENV } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until('the exec to be ready', () => (out.includes('ready') ? true : undefined), 60_000);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.deepEqual([code, out], [5, 'ready\ngot-term\n']);
    // The VM's own workload is untouched by all of it.
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', name])).trim(), 'running');

    // top: the guest's processes (its init, the workload, a detached exec), not QEMU.
    await ok(['exec', '-d', name, 'sleep', '321']);
    const top = await ok(['top', name]);
    assert.match(top.split('\n')[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.match(top, /^root\s+1\s+0\s.*\/init$/m);
    assert.match(top, /^root\s+\d+\s+1\s.*sleep 600$/m);
    assert.match(top, /\ssleep 321$/m);
    assert.doesNotMatch(top, /qemu/);
    const psOpts = await hull(['top', name, 'aux']);
    assert.equal(psOpts.code, 1);
    assert.match(psOpts.stderr, /ps options \("aux"\) are not supported/);
    // stats: what QEMU and virtiofsd cost the host, from their own cgroup.
    const stats = JSON.parse(await ok(['stats', '--no-stream', '--format', '{{json .}}', name])) as { MemUsage: string; PIDs: string };
    const mib = Number(/^([\d.]+)MiB/.exec(stats.MemUsage)?.[1]);
    assert.ok(mib > 20 && mib < 2048, `host memory of the VM: ${stats.MemUsage}`);
    assert.ok(Number(stats.PIDs) >= 2, `QEMU and virtiofsd threads: ${stats.PIDs}`);
    // update: CPU limits apply to the host processes; guest RAM cannot change while it runs.
    await ok(['update', '--cpus', '0.5', name]);
    const id = (await ok(['inspect', '-f', '{{.Id}}', name])).trim();
    const qemuPid = (await ok(['inspect', '-f', '{{.State.Pid}}', name])).trim();
    const cpuCgroup = /^\d+:[^:]*\bcpu\b[^:]*:(.*)$/m.exec(readFileSync(`/proc/${qemuPid}/cgroup`, 'utf8'))?.[1] ?? '';
    assert.ok(cpuCgroup.endsWith(id), `QEMU is in the VM's cgroup: ${cpuCgroup}`);
    const cpuDir = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct'].map((d) => join(d, cpuCgroup)).find((d) => existsSync(d));
    if (cpuDir) assert.equal(readFileSync(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
    const mem = await hull(['update', '--memory', '300m', name]);
    assert.equal(mem.code, 1);
    assert.match(mem.stderr, /a running VM's memory is its guest RAM, fixed when it boots/);
    assert.equal((await ok(['inspect', '-f', '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}', name])).trim(), `500000000 ${256 * 1024 * 1024}`);
    await ok(['stop', '-t', '1', name]);
    const stopped = await hull(['exec', name, 'true']);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /^Error response from daemon: container [0-9a-f]{64} is not running\n$/);
    await ok(['rm', name]);
  });

  test('a command the image lacks exits 127 with Docker\'s message', async () => {
    const r = await hull(['run', '--rm', '--isolation', 'vm', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
  });

  test('a VM that does not boot in time is a clear start error and leaves nothing behind', async () => {
    const name = uniq('vm');
    const r = await hull(['run', '--isolation', 'vm', '--name', name, 'busybox', 'true'], { env: { HULL_VM_BOOT_TIMEOUT: '1' } });
    assert.equal(r.code, 125, r.stderr);
    // Where the boot stopped (the guest init's last stage, or none), QEMU's age and the console.
    assert.match(r.stderr, /the VM did not boot within 1 s \((the guest init's last stage: [a-z ]+|the guest init never opened its control port), \d+ s after QEMU started\); console: .+; QEMU: /);
    await until('the failed VM to be cleaned up', () => leftovers().length === 0 || undefined, 30_000);
    assert.ok(!existsSync(join(root, 'runtime', (await ok(['inspect', '-f', '{{.Id}}', name])).trim())), 'the VM runtime directory is removed');
    await ok(['rm', '-f', name]);
  });

  test('--kernel boots the given kernel image, kept in the container (inspect); a bad one is refused at create', async () => {
    const kernel = join(work, 'my-vmlinuz');
    await copyFile(findKernel().path, kernel);
    const name = uniq('vm');
    await ok(['create', '--isolation', 'vm', '--kernel', kernel, '--name', name, 'busybox', 'uname', '-r']);
    assert.equal((await ok(['inspect', '-f', '{{.HostConfig.VmKernel}}', name])).trim(), kernel);
    assert.equal(await ok(['start', '-a', name]), `${findKernel().version}\n`);
    await ok(['rm', name]);
    await writeFile(join(work, 'not-a-kernel'), 'x'.repeat(4096));
    for (const [args, message] of [
      [['--kernel', join(work, 'missing')], /invalid --kernel .*missing: no such file or directory/],
      [['--kernel', join(work, 'not-a-kernel')], /invalid --kernel .*not-a-kernel: not a Linux kernel image \(bzImage\)/],
    ] as const) {
      const r = await hull(['create', '--isolation', 'vm', ...args, 'busybox', 'true']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, message);
    }
    const noVm = await hull(['create', '--kernel', kernel, 'busybox', 'true']);
    assert.equal(noVm.code, 125);
    assert.match(noVm.stderr, /--kernel needs --isolation vm/);
  });

  test('bad requests are refused before anything boots', async () => {
    const shared = await hull(['run', '--network', 'container:x', '--isolation', 'vm', 'busybox', 'true']);
    assert.equal(shared.code, 125);
    assert.match(shared.stderr, /conflicting options: --network container:\.\.\. and --isolation vm/);
    const iso = await hull(['run', '--isolation', 'hyperv', 'busybox', 'true']);
    assert.equal(iso.code, 125);
    assert.match(iso.stderr, /invalid isolation "hyperv"/);
  });

  test('a VM on a user network reaches a container by name and back, with its endpoint address; a published VM port answers on 127.0.0.1', { skip: netSkip }, async () => {
    const net = uniq('vmnet');
    const ctr = uniq('ctr');
    const vm = uniq('vm');
    const port = 40000 + (process.pid % 20000);
    await ok(['network', 'create', net]);
    const ids: string[] = [];
    try {
      ids.push((await ok(['run', '-d', '--name', ctr, '--network', net, 'busybox', 'sh', '-c', 'while true; do echo from-container | nc -l -p 5000; done'])).trim());
      const script = `ip -4 -o addr show eth0; cat /sys/class/net/eth0/address; until nc ${ctr} 5000 </dev/null >/tmp/got && [ -s /tmp/got ]; do sleep 1; done; cat /tmp/got; while true; do echo from-vm | nc -l -p 5000; done`;
      ids.push((await ok(['run', '-d', '--isolation', 'vm', '--name', vm, '--network', net, '-p', `127.0.0.1:${port}:5000`, 'busybox', 'sh', '-c', script])).trim());
      const logs = await until('the VM to reach the container by name', async () => {
        const out = (await ok(['logs', vm])).trim();
        return out.includes('from-container') ? out : undefined;
      }, 120_000);
      const ip = (await ok(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}} {{(index .NetworkSettings.Networks "${net}").MacAddress}}`, vm])).trim().split(' ');
      assert.match(logs, new RegExp(`inet ${ip[0]!.replace(/\./g, '\\.')}/`), 'the guest has the endpoint address');
      assert.match(logs, new RegExp(`^${ip[1]}$`, 'm'), 'the guest NIC has the endpoint MAC');
      assert.equal((await ok(['run', '--rm', '--network', net, 'busybox', 'nc', vm, '5000'])).trim(), 'from-vm');
      // The guest's `nc -l` loop is closed for a moment after each connection: refused then is no failure.
      const published = await until('the published port to answer', () => tcpRead('127.0.0.1', port, 10_000).catch(() => undefined), 60_000);
      assert.equal(published.trim(), 'from-vm');
    } finally {
      await hull(['rm', '-f', ctr, vm]);
      await ok(['network', 'rm', net]);
    }
    for (const id of ids) assert.equal(existsSync(`/run/netns/hull-${id}`), false, 'netns left behind');
  });
  test('volumes, binds (dir, file, :ro) and tmpfs reach the guest; a volume written by a VM is read by a container and back', async () => {
    const vol = uniq('vol');
    const host = await mkdtemp(join(work, 'bind-'));
    await writeFile(join(host, 'host.txt'), 'from-host\n');
    await ok(['run', '--rm', '-v', `${vol}:/data`, 'busybox', 'sh', '-c', 'echo from-container > /data/from-ctr']);
    const script = [
      'cat /data/from-ctr',
      'echo from-vm > /data/from-vm',
      'cat /bind/host.txt /etc/greeting',
      'echo vm-bind > /bind/from-vm',
      'echo x > /ro/denied && echo ro-writable || echo ro-refused',
      // Even root in the guest cannot get around :ro: the share itself is read-only on the host.
      'mount -o remount,rw /ro; echo x > /ro/denied2 && echo remount-writable || echo remount-refused',
      'grep " /scratch " /proc/mounts | cut -d" " -f3,4',
      'echo t > /scratch/t && cat /scratch/t',
    ].join('; ');
    const r = await hull(['run', '--rm', '--isolation', 'vm', '-v', `${vol}:/data`, '-v', `${vol}:/ro:ro`, '-v', `${host}:/bind`, '-v', `${join(host, 'host.txt')}:/etc/greeting:ro`, '--tmpfs', '/scratch:size=1m', 'busybox', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3), ['from-container', 'from-host', 'from-host']);
    assert.ok(lines.includes('ro-refused') && !lines.includes('ro-writable'), r.stdout);
    assert.ok(lines.includes('remount-refused') && !lines.includes('remount-writable'), r.stdout);
    assert.ok(lines.some((l) => /^tmpfs rw,.*size=1024k/.test(l)), r.stdout);
    assert.equal(lines.at(-1), 't');
    assert.equal(readFileSync(join(host, 'from-vm'), 'utf8'), 'vm-bind\n');
    assert.equal((await ok(['run', '--rm', '-v', `${vol}:/data`, 'busybox', 'cat', '/data/from-vm'])).trim(), 'from-vm');
    await ok(['volume', 'rm', vol]);
  });
  test('-t gives the workload a terminal in the guest with the caller\'s size; input reaches it', async () => {
    // script(1) gives hull a terminal of a known size, as a user's shell would.
    const [file, argv] = hullCommand(['--root', root, 'run', '--rm', '-it', '--isolation', 'vm', 'busybox', 'sh', '-c', 'tty; stty size; read line; echo "got $line"']);
    const quote = (a: string): string => `'${a.replace(/'/g, "'\\''")}'`;
    const cmd = `stty rows 33 cols 77; ${[file, ...argv].map(quote).join(' ')}`;
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env: { ...process.env, ...ENV }, timeout: 240_000 });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Typed once the workload is waiting for it: the size line shows it runs.
    await until('the workload to print its terminal size', () => (/\d+ \d+\r\n/.test(out) ? true : undefined), 200_000);
    child.stdin.write('typed\r');
    const [code] = (await once(child, 'exit')) as [number];
    const r = { stdout: out };
    assert.equal(code, 0, out);
    assert.match(r.stdout, /\/dev\/pts\/\d+\r\n33 77\r\n/);
    assert.match(r.stdout, /got typed\r\n/);
  });
});
