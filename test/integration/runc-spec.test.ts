/**
 * The generated OCI spec under the real runtime: a busybox rootfs, config.json from buildSpec,
 * `runc run` in the foreground, and the container reporting what it sees (capabilities, seccomp,
 * masked and read-only /proc, cgroup limits, ids). No network: the container gets a new, empty
 * network namespace (`--network none`).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { DEFAULT_CAPABILITIES, allCapabilities, capabilityMask, resolveCapabilities } from '../../src/container/spec/capabilities.js';
import type { CapabilityOptions } from '../../src/container/spec/capabilities.js';
import { DEFAULT_SECCOMP_PROFILE } from '../../src/container/spec/seccomp-profile.js';
import { seccompForContainer } from '../../src/container/spec/seccomp.js';
import { buildSpec, cgroupsPathFor } from '../../src/container/spec/spec.js';
import type { ResourceLimits } from '../../src/container/spec/spec.js';
import type { ResolvedUser } from '../../src/container/spec/user.js';
import { resolveUser } from '../../src/container/spec/user.js';

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const RUNC = which('runc');
const BUSYBOX = which('busybox');
const APPLETS = ['sh', 'cat', 'grep', 'id', 'unshare', 'wc', 'head', 'echo', 'true'];

interface RunOptions {
  user?: string;
  caps?: CapabilityOptions;
  /** Default: hull's default profile resolved for the container's capabilities. */
  seccomp?: 'default' | 'unconfined';
  resources?: ResourceLimits;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  user: ResolvedUser;
  caps: string[];
  /** `key=value` lines of stdout. */
  values: Map<string, string>;
}

/** A bundle with its own busybox rootfs, run with `runc run` under a private state root, always deleted. */
async function runContainer(script: string, opts: RunOptions = {}): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'hull-runc-'));
  const id = `hull-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const state = join(dir, 'state');
  try {
    const rootfs = join(dir, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) await mkdir(join(rootfs, d), { recursive: true });
    await copyFile(BUSYBOX as string, join(rootfs, 'bin/busybox'));
    for (const a of APPLETS) await symlink('busybox', join(rootfs, 'bin', a));
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
    await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nwheel:x:10:app\napp:x:1000:\nstaff:x:50:app\n');

    const user = await resolveUser(rootfs, opts.user, ['4000']);
    const caps = resolveCapabilities(opts.caps ?? {});
    const spec = buildSpec({
      rootfs,
      process: { args: ['sh', '-c', script], env: ['PATH=/bin', `HOME=${user.home}`], user },
      hostname: 'spec-test',
      capabilities: caps,
      privileged: opts.caps?.privileged ?? false,
      seccomp: opts.seccomp === 'unconfined' ? undefined : seccompForContainer(DEFAULT_SECCOMP_PROFILE, { capabilities: caps }),
      resources: opts.resources ?? {},
      cgroupsPath: cgroupsPathFor(id),
      network: 'none',
    });
    await writeFile(join(dir, 'config.json'), JSON.stringify(spec, null, 2));

    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        RUNC as string,
        ['--root', state, 'run', '--bundle', dir, id],
        { timeout: 60_000, encoding: 'utf8' },
        (err, out, errOut) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: out, stderr: errOut }),
      );
      child.stdin?.end();
    });
    const values = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
    return { code, stdout, stderr, user, caps, values };
  } finally {
    await new Promise<void>((resolve) => execFile(RUNC as string, ['--root', state, 'delete', '-f', id], () => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * runc leaves the `hull` parent cgroup (relative paths land under the test's own cgroup in each
 * hierarchy). Remove it when empty so the cgroup the tests ran in can itself be removed later;
 * rmdir refuses a cgroup that still has children, so containers of concurrent runs are safe.
 */
async function removeEmptyCgroupParents(): Promise<void> {
  const own = new Map<string, string>();
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, controllers = '', path = ''] = m;
    own.set(controllers, path);
    for (const c of controllers.split(',')) own.set(c, path);
  }
  const unifiedOnly = own.get('');
  if (own.size === 1 && unifiedOnly !== undefined) {
    await rmdir(join('/sys/fs/cgroup', unifiedOnly, 'hull')).catch(() => undefined);
    return;
  }
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [])) {
    const path = own.get(hierarchy === 'unified' ? '' : hierarchy === 'systemd' ? 'name=systemd' : hierarchy);
    if (path !== undefined) await rmdir(join('/sys/fs/cgroup', hierarchy, path, 'hull')).catch(() => undefined);
  }
}

function skipWithoutRunc(t: TestContext): boolean {
  if (RUNC && BUSYBOX) return false;
  t.skip(RUNC ? 'busybox is not installed (Debian busybox-static)' : 'runc is not installed');
  return true;
}

function value(r: RunResult, key: string): string {
  const v = r.values.get(key);
  assert.ok(v !== undefined, `no ${key}= in output:\n${r.stdout}\n${r.stderr}`);
  return v;
}

const PROBE = `
echo "capeff=$(grep CapEff /proc/self/status)"
echo "seccomp=$(grep '^Seccomp:' /proc/self/status)"
unshare -U true 2>/tmp/err; echo "unshareU=rc=$? $(cat /tmp/err)"
unshare -m true 2>/tmp/err; echo "unshareM=rc=$? $(cat /tmp/err)"
echo "kcoreBytes=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)"
echo "timerListBytes=$(head -c 16 /proc/timer_list 2>/dev/null | wc -c)"
echo "maskMounts=$(grep -cE ' /proc/(kcore|keys|timer_list) ' /proc/mounts)"
(echo spec-test > /proc/sys/kernel/hostname) 2>/tmp/err; echo "procSysWrite=rc=$? $(cat /tmp/err)"
echo "procSysMount=$(grep ' /proc/sys ' /proc/mounts)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
`;

void describe('buildSpec under runc', () => {
  after(removeEmptyCgroupParents);

  void it("default container: Docker's capabilities and seccomp, masked and read-only /proc, cgroup limits", async (t) => {
    if (skipWithoutRunc(t)) return;
    const r = await runContainer(
      `${PROBE}
echo "memLimit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
echo "pidsMax=$(cat /sys/fs/cgroup/pids/pids.max)"
echo "cfsQuota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
echo "cfsPeriod=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"`,
      { resources: { memory: 64 * 1024 * 1024, pidsLimit: 42, nanoCpus: 1.5e9 } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(value(r, 'capeff'), /00000000a80425fb/);
    assert.equal(value(r, 'seccomp'), 'Seccomp:\t2');
    // The default profile denies unshare without CAP_SYS_ADMIN: EPERM, not a missing applet.
    assert.match(value(r, 'unshareU'), /^rc=1 .*Operation not permitted/);
    assert.match(value(r, 'unshareM'), /^rc=1 .*Operation not permitted/);
    // Masked: reads nothing. (Kernels without CONFIG_PROC_KCORE have no /proc/kcore at all, and
    // runc skips it; /proc/timer_list exists on every kernel, so masking is always exercised.)
    assert.equal(value(r, 'kcoreBytes'), '0');
    assert.equal(value(r, 'timerListBytes'), '0');
    assert.ok(Number(value(r, 'maskMounts')) >= 2, r.stdout);
    assert.match(value(r, 'procSysWrite'), /^rc=1 .*Read-only file system/);
    assert.match(value(r, 'procSysMount'), /\bro\b/);
    assert.equal(value(r, 'memLimit'), String(64 * 1024 * 1024));
    assert.equal(value(r, 'pidsMax'), '42');
    assert.equal(value(r, 'cfsQuota'), '150000');
    assert.equal(value(r, 'cfsPeriod'), '100000');
    assert.equal(value(r, 'uid'), '0');
    assert.equal(value(r, 'gid'), '0');
  });

  void it('runs as the resolved user with its groups and --group-add', async (t) => {
    if (skipWithoutRunc(t)) return;
    const r = await runContainer(PROBE, { user: 'app' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.user, { uid: 1000, gid: 1000, additionalGids: [1000, 10, 50, 4000], home: '/home/app' });
    assert.equal(value(r, 'uid'), '1000');
    assert.equal(value(r, 'gid'), '1000');
    assert.deepEqual(value(r, 'groups').split(' ').map(Number).sort((a, b) => a - b), [10, 50, 1000, 4000]);
  });

  void it('CAP_SYS_ADMIN unlocks unshare in the default profile; unconfined also lets user namespaces through', async (t) => {
    if (skipWithoutRunc(t)) return;
    const confined = await runContainer(PROBE, { caps: { capAdd: ['SYS_ADMIN'] } });
    assert.equal(confined.code, 0, confined.stderr);
    assert.equal(value(confined, 'seccomp'), 'Seccomp:\t2');
    assert.equal(value(confined, 'unshareM'), 'rc=0');
    assert.equal(value(confined, 'unshareU'), 'rc=0');

    const unconfined = await runContainer(PROBE, { caps: { capAdd: ['SYS_ADMIN'] }, seccomp: 'unconfined' });
    assert.equal(unconfined.code, 0, unconfined.stderr);
    assert.equal(value(unconfined, 'seccomp'), 'Seccomp:\t0');
    assert.equal(value(unconfined, 'unshareU'), 'rc=0');
    assert.equal(value(unconfined, 'unshareM'), 'rc=0');
    const mask = capabilityMask([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']).toString(16).padStart(16, '0');
    assert.match(value(unconfined, 'capeff'), new RegExp(mask));
  });

  void it('privileged: every capability the engine holds, no seccomp, nothing masked', async (t) => {
    if (skipWithoutRunc(t)) return;
    const r = await runContainer(PROBE, { caps: { privileged: true } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.caps, allCapabilities());
    assert.match(value(r, 'capeff'), new RegExp(capabilityMask(allCapabilities()).toString(16).padStart(16, '0')));
    assert.equal(value(r, 'seccomp'), 'Seccomp:\t0');
    assert.equal(value(r, 'unshareU'), 'rc=0');
    assert.equal(value(r, 'unshareM'), 'rc=0');
    assert.equal(value(r, 'maskMounts'), '0');
    assert.equal(value(r, 'timerListBytes'), '16');
    assert.equal(value(r, 'procSysMount'), '');
  });
});
