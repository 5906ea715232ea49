import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execThroughHelper, filterCachePath, filterOf, loadThroughHelper, lookUp, pathOf, planFilter, type CommandLookup } from './seccomp-filter.js';
import { DEFAULT_CAPABILITIES, allCapabilities, capabilityMask } from './spec/capabilities.js';
import type { OciProcess, OciSeccomp, OciSpec } from './spec/oci-types.js';

const SECCOMP: OciSeccomp = {
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
  syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
};

function spec(caps: readonly string[] = DEFAULT_CAPABILITIES): OciSpec {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh', '-c', 'true'],
      env: ['PATH=/bin'],
      cwd: '/',
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [] },
    },
    root: { path: 'rootfs', readonly: false },
    mounts: [],
    linux: { namespaces: [], devices: [], resources: { devices: [] }, cgroupsPath: 'x', seccomp: structuredClone(SECCOMP) },
  };
}

const work = mkdtempSync(join(tmpdir(), 'hull-filter-unit-'));
after(() => rmSync(work, { recursive: true, force: true }));

void describe('loading a precompiled filter through the helper', () => {
  void it('takes linux.seccomp out, puts the helper first with the bounding set, and says so in annotations', () => {
    const s = spec();
    loadThroughHelper(s, '/b/seccomp.bpf');
    assert.equal(s.linux.seccomp, undefined);
    assert.deepEqual(s.process.args, ['/proc/self/fd/3', 'a80425fb', '--', 'sh', '-c', 'true']);
    assert.deepEqual(filterOf(s), { filter: '/b/seccomp.bpf', bounding: 0xa80425fbn });
  });

  void it('gives the helper CAP_SYS_ADMIN and CAP_SETPCAP in every set, once, the container keeping its bounding set', () => {
    const s = spec(['CAP_CHOWN', 'CAP_SETPCAP']);
    loadThroughHelper(s, '/f');
    const c = s.process.capabilities;
    for (const set of [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient ?? []]) {
      assert.equal(set.filter((x) => x === 'CAP_SYS_ADMIN').length, 1);
      assert.equal(set.filter((x) => x === 'CAP_SETPCAP').length, 1);
    }
    assert.equal(filterOf(s)?.bounding, capabilityMask(['CAP_CHOWN', 'CAP_SETPCAP']));
    // --cap-drop ALL: the helper needs CAP_SETPCAP for its own drops, and the command ends with none.
    const none = spec([]);
    loadThroughHelper(none, '/f');
    assert.equal(none.process.args[1], '0');
  });

  void it('a spec without the annotations has no precompiled filter', () => {
    assert.equal(filterOf(spec()), undefined);
  });

  void it("an exec runs the helper with the container's bounding set, or its own with --privileged", () => {
    const proc = (): OciProcess => ({ ...spec().process, args: ['ls'] });
    const plain = proc();
    execThroughHelper(plain, { bounding: 0x1n }, false);
    assert.deepEqual(plain.args, ['/proc/self/fd/3', '1', '--', 'ls']);
    const privileged = proc();
    privileged.capabilities = { bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'], effective: [], permitted: [], inheritable: [] };
    execThroughHelper(privileged, { bounding: 0x1n }, true);
    assert.equal(privileged.args[1], capabilityMask(['CAP_CHOWN', 'CAP_SYS_ADMIN']).toString(16));
  });
});

void describe('PATH as runc reads it', () => {
  void it("is the last PATH entry, '' when there is none", () => {
    assert.equal(pathOf(['A=1', 'PATH=/a', 'PATH=/b']), '/b');
    assert.equal(pathOf(['A=1']), '');
  });
});

void describe('the filter cache', () => {
  const runtime = join(work, 'runc');
  writeFileSync(runtime, 'one');

  void it('keys on the profile as runc gets it and on the runtime binary', () => {
    const cache = join(work, 'keys');
    const a = filterCachePath(cache, runtime, SECCOMP);
    assert.equal(filterCachePath(cache, runtime, structuredClone(SECCOMP)), a);
    assert.notEqual(filterCachePath(cache, runtime, { ...SECCOMP, architectures: ['SCMP_ARCH_X86_64'] }), a);
    writeFileSync(runtime, 'a new build');
    assert.notEqual(filterCachePath(cache, runtime, SECCOMP), a);
  });

  void it('captures on a miss, then links the cached program into the bundle', () => {
    const cache = join(work, 'cache');
    const first = planFilter(cache, work, runtime, SECCOMP);
    assert.equal(first?.kind, 'capture');
    assert.ok(existsSync(cache), 'the cache directory is made for the capture');
    if (first?.kind !== 'capture') return;
    writeFileSync(first.cachePath, Buffer.alloc(16));
    const second = planFilter(cache, work, runtime, SECCOMP);
    assert.deepEqual(second, { kind: 'precompiled', filter: join(work, 'seccomp.bpf') });
    assert.equal(statSync(join(work, 'seccomp.bpf')).ino, statSync(first.cachePath).ino);
    // Again for a restart: the bundle's old link is replaced.
    assert.equal(planFilter(cache, work, runtime, SECCOMP)?.kind, 'precompiled');
  });

  void it('copies the program when the cache is on another filesystem than the bundle', (t) => {
    if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(work).dev) return t.skip('needs /dev/shm on a filesystem of its own');
    const cache = mkdtempSync('/dev/shm/hull-filter-cache-');
    try {
      const bundle = join(work, 'exdev');
      mkdirSync(bundle);
      const plan = planFilter(cache, bundle, runtime, SECCOMP);
      assert.equal(plan?.kind, 'capture');
      if (plan?.kind !== 'capture') return;
      writeFileSync(plan.cachePath, Buffer.alloc(24, 7));
      assert.deepEqual(planFilter(cache, bundle, runtime, SECCOMP), { kind: 'precompiled', filter: join(bundle, 'seccomp.bpf') });
      assert.deepEqual(readFileSync(join(bundle, 'seccomp.bpf')), Buffer.alloc(24, 7));
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  void it('leaves flags and notify listeners to runc', () => {
    assert.equal(planFilter(join(work, 'c2'), work, runtime, { ...SECCOMP, flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }), undefined);
    assert.equal(planFilter(join(work, 'c2'), work, runtime, { ...SECCOMP, listenerPath: '/run/x.sock' }), undefined);
  });
});

void describe("Go's exec.LookPath, as the monitor and exec run it (native/seccomp/lookpath.c)", () => {
  // In this process's own mount namespace: the look-up joins a container's the same way.
  const dir = join(work, 'lookpath');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(dir, 'bin', 'data'), '', { mode: 0o644 });
  symlinkSync(join(dir, 'bin', 'tool'), join(dir, 'sub', 'link'));
  const all = capabilityMask(allCapabilities());
  const look = (cwd: string, file: string, path: string, as: Partial<CommandLookup> = {}): { status: number; message: string } | null =>
    lookUp(process.pid, { cwd, file, pathEnv: path, uid: 0, gid: 0, groups: [], caps: all, ...as });

  void it('finds a command in PATH, through a symlink, and by a relative path against cwd', () => {
    assert.equal(look('/', 'tool', `/nowhere:${dir}/bin`), null);
    assert.equal(look('/', `${dir}/sub/link`, ''), null);
    assert.equal(look(dir, 'bin/tool', ''), null);
  });

  void it("fails with Go's words and Docker's exit status", () => {
    assert.deepEqual(look('/', 'nope', `${dir}/bin`), { status: 127, message: 'exec: "nope": executable file not found in $PATH' });
    assert.deepEqual(look('/', 'tool', ''), { status: 127, message: 'exec: "tool": executable file not found in $PATH' });
    assert.deepEqual(look('/', `${dir}/nope`, ''), { status: 127, message: `exec: "${dir}/nope": stat ${dir}/nope: no such file or directory` });
    assert.deepEqual(look('/', `${dir}/bin`, ''), { status: 126, message: `exec: "${dir}/bin": permission denied` });
    assert.deepEqual(look('/', `${dir}/bin/data`, ''), { status: 126, message: `exec: "${dir}/bin/data": permission denied` });
    // Not a PATH hit either: a file that is not executable is skipped.
    assert.equal(look('/', 'data', `${dir}/bin`)?.status, 127);
  });

  void it("looks up with the process's user and capabilities, as runc's init does", () => {
    chmodSync(work, 0o755);
    // Searchable by its owner (1000) only.
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    writeFileSync(join(closed, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    chownSync(closed, 1000, 1000);
    const tool = join(closed, 'tool');
    const denied = { status: 126, message: `exec: "${tool}": stat ${tool}: permission denied` };
    assert.equal(look('/', tool, ''), null);
    assert.equal(look('/', tool, '', { uid: 1000, gid: 1000, caps: 0n }), null);
    assert.deepEqual(look('/', tool, '', { uid: 2000, gid: 2000, caps: 0n }), denied);
    // Root without CAP_DAC_OVERRIDE (Docker's default set has no CAP_DAC_READ_SEARCH).
    assert.deepEqual(look('/', tool, '', { caps: capabilityMask(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_DAC_OVERRIDE')) }), denied);
    // runc's init looks up with the process's effective set, Docker's default one for `-u` too.
    assert.equal(look('/', tool, '', { uid: 2000, gid: 2000, caps: capabilityMask(DEFAULT_CAPABILITIES) }), null);
    assert.equal(look('/', 'tool', `/nowhere:${closed}`, { uid: 2000, gid: 2000, caps: 0n })?.status, 127);
    // Supplementary groups count.
    const group = join(dir, 'group');
    mkdirSync(group, { mode: 0o710 });
    writeFileSync(join(group, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    chownSync(group, 0, 4242);
    chmodSync(group, 0o710);
    assert.equal(look('/', join(group, 'tool'), '', { uid: 2000, gid: 2000, groups: [4242], caps: 0n }), null);
    assert.equal(look('/', join(group, 'tool'), '', { uid: 2000, gid: 2000, caps: 0n })?.status, 126);
  });

  void it('a working directory that is not there leaves the verdict to runc', () => {
    assert.equal(look('/no/such/dir', 'nope', ''), null);
  });

  void it('an empty PATH field means the working directory, which Go 1.19 refuses (ErrDot)', () => {
    assert.deepEqual(look(`${dir}/bin`, 'tool', '/nowhere:'), { status: 126, message: 'exec: "tool": cannot run executable found relative to current directory' });
  });
});
