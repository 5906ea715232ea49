import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import type { OciSeccomp } from './oci-types.js';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-profile.js';
import { loadSeccompFile, parseSeccompProfile, seccompForContainer, seccompProfileFor } from './seccomp.js';

function allowed(s: OciSeccomp | undefined, name: string): boolean {
  return (s?.syscalls ?? []).some((r) => r.action === 'SCMP_ACT_ALLOW' && r.names.includes(name) && !r.args);
}

function rulesFor(s: OciSeccomp | undefined, name: string) {
  return (s?.syscalls ?? []).filter((r) => r.names.includes(name));
}

const amd64 = { arch: 'amd64', kernel: '6.1.0-18-amd64' };

void describe('seccompForContainer with the default profile', () => {
  const dflt = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { ...amd64, capabilities: DEFAULT_CAPABILITIES });
  const admin = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { ...amd64, capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'] });

  void it('is an allowlist failing with EPERM', () => {
    assert.equal(dflt?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(dflt?.defaultErrnoRet, 1);
    assert.ok(allowed(dflt, 'read') && allowed(dflt, 'execve'));
  });

  void it('amd64 → x86_64 with the x86 and x32 sub-architectures', () => {
    assert.deepEqual(dflt?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const arm = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { arch: 'arm64', kernel: '6.1', capabilities: [] });
    assert.deepEqual(arm?.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  void it('leaves out the sub-architectures the kernel does not execute, never the native one', () => {
    const noX32 = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { ...amd64, capabilities: DEFAULT_CAPABILITIES, kernelAbis: new Set(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']) });
    assert.deepEqual(noX32?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    const nativeOnly = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { ...amd64, capabilities: DEFAULT_CAPABILITIES, kernelAbis: new Set() });
    assert.deepEqual(nativeOnly?.architectures, ['SCMP_ARCH_X86_64']);
    assert.deepEqual(noX32?.syscalls, dflt?.syscalls, 'the rules are the same');
    const listed = parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'], syscalls: [] }), 'test');
    assert.deepEqual(seccompForContainer(listed, { ...amd64, capabilities: [], kernelAbis: new Set(['SCMP_ARCH_X86_64']) })?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'], "a profile's own flat list is kept as written");
  });

  void it('arch conditions: arch_prctl on amd64, not the ARM-only calls', () => {
    assert.ok(allowed(dflt, 'arch_prctl'));
    assert.ok(allowed(dflt, 'modify_ldt'));
    assert.ok(!allowed(dflt, 'set_tls'));
    assert.ok(!allowed(dflt, 's390_runtime_instr'));
  });

  void it('CAP_SYS_ADMIN unlocks mount, unshare, setns, clone with any flags', () => {
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'sethostname']) {
      assert.ok(!allowed(dflt, name), `${name} allowed without CAP_SYS_ADMIN`);
      assert.ok(allowed(admin, name), `${name} not allowed with CAP_SYS_ADMIN`);
    }
    assert.ok(allowed(admin, 'clone'));
    assert.ok(!allowed(dflt, 'clone'));
  });

  void it('without CAP_SYS_ADMIN, clone only without namespace flags and clone3 fails with ENOSYS', () => {
    const clone = rulesFor(dflt, 'clone');
    assert.equal(clone.length, 1);
    assert.deepEqual(clone[0]?.args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
    assert.deepEqual(
      rulesFor(dflt, 'clone3').map((r) => [r.action, r.errnoRet]),
      [['SCMP_ACT_ERRNO', 38]],
    );
    // With it, the excluded rules disappear rather than narrowing the allowed clone.
    assert.ok(rulesFor(admin, 'clone').every((r) => !r.args));
    assert.ok(rulesFor(admin, 'clone3').every((r) => r.action === 'SCMP_ACT_ALLOW'));
  });

  void it('socket: every family but AF_VSOCK (40)', () => {
    const socket = rulesFor(dflt, 'socket');
    assert.deepEqual(
      socket.map((r) => r.args?.[0]),
      [
        { index: 0, value: 38, op: 'SCMP_CMP_LT' },
        { index: 0, value: 39, op: 'SCMP_CMP_EQ' },
        { index: 0, value: 40, op: 'SCMP_CMP_GT' },
      ],
    );
  });

  void it('personality: only the listed values', () => {
    assert.deepEqual(
      rulesFor(dflt, 'personality').map((r) => r.args?.[0]?.value),
      [0, 8, 131072, 131080, 4294967295],
    );
  });

  void it('other capabilities unlock their calls', () => {
    const caps = [...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE', 'CAP_SYS_TIME', 'CAP_SYS_MODULE'];
    const s = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { ...amd64, capabilities: caps });
    for (const name of ['kcmp', 'settimeofday', 'init_module']) {
      assert.ok(!allowed(dflt, name));
      assert.ok(allowed(s, name));
    }
  });

  void it('minKernel: ptrace needs 4.8 even without CAP_SYS_PTRACE', () => {
    assert.ok(allowed(dflt, 'ptrace'));
    const old = seccompForContainer(DEFAULT_SECCOMP_PROFILE, { arch: 'amd64', kernel: '4.4.0', capabilities: DEFAULT_CAPABILITIES });
    assert.ok(!allowed(old, 'ptrace'));
  });

  void it('leaves no profile-only fields in the OCI object', () => {
    for (const r of dflt?.syscalls ?? []) {
      assert.deepEqual(Object.keys(r).filter((k) => !['names', 'action', 'errnoRet', 'args'].includes(k)), []);
    }
    assert.ok(!('archMap' in (dflt ?? {})));
  });
});

void describe('seccomp profile loading', () => {
  void it('an empty profile means no filter', () => {
    assert.equal(seccompForContainer(parseSeccompProfile('{}'), { capabilities: [] }), undefined);
  });

  void it('accepts name and flat architectures', () => {
    const p = parseSeccompProfile(
      JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ name: 'mkdir', action: 'SCMP_ACT_ERRNO' }] }),
    );
    assert.deepEqual(seccompForContainer(p, { ...amd64, capabilities: [] }), {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }],
    });
  });

  void it('refuses bad JSON, unknown actions and operators, contradictions', () => {
    const bad = (text: string, re: RegExp) =>
      assert.throws(() => parseSeccompProfile(text, 'p.json'), (e) => isHullError(e, 'INVALID_ARGUMENT') && re.test(e.message));
    bad('{', /invalid seccomp profile p\.json: decoding failed/);
    bad('[]', /not a JSON object/);
    bad('{"defaultAction":"SCMP_ACT_NOPE"}', /unknown defaultAction "SCMP_ACT_NOPE"/);
    bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"ALLOW"}]}', /syscalls\[0\]: unknown action "ALLOW"/);
    bad(
      '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"EQ"}]}]}',
      /unknown operator "EQ"/,
    );
    bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}', /both 'name' and 'names'/);
    bad(
      '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}',
      /both 'architectures' and 'archMap'/,
    );
    bad('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"new"}}]}', /not a kernel version/);
  });

  void it('loads files, and maps the security option values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hull-seccomp-'));
    try {
      const file = join(dir, 'p.json');
      await writeFile(file, '{"defaultAction":"SCMP_ACT_LOG"}');
      assert.equal((await loadSeccompFile(file)).defaultAction, 'SCMP_ACT_LOG');
      assert.equal((await seccompProfileFor(file))?.defaultAction, 'SCMP_ACT_LOG');
      await assert.rejects(loadSeccompFile(join(dir, 'missing.json')), /opening seccomp profile .*missing\.json.* failed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(await seccompProfileFor(undefined), DEFAULT_SECCOMP_PROFILE);
    assert.equal(await seccompProfileFor('builtin'), DEFAULT_SECCOMP_PROFILE);
    assert.equal(await seccompProfileFor('unconfined'), undefined);
    assert.equal((await seccompProfileFor('{"defaultAction":"SCMP_ACT_ALLOW"}'))?.defaultAction, 'SCMP_ACT_ALLOW');
  });

  void it('the generated default is a valid profile', () => {
    assert.deepEqual(parseSeccompProfile(JSON.stringify(DEFAULT_SECCOMP_PROFILE)), DEFAULT_SECCOMP_PROFILE);
  });
});
