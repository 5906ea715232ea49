import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../../util/errors.js';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
import { MASKED_PATHS, READONLY_PATHS } from './defaults.js';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-profile.js';
import { seccompForContainer } from './seccomp.js';
import { buildSpec, cgroupsPathFor } from './spec.js';
import type { SpecInput } from './spec.js';

function input(extra: Partial<SpecInput> = {}): SpecInput {
  return {
    rootfs: '/var/lib/hull/containers/abc/rootfs',
    process: { args: ['sh'], env: ['PATH=/bin'], user: { uid: 0, gid: 0, additionalGids: [0] } },
    hostname: 'abc',
    capabilities: DEFAULT_CAPABILITIES,
    seccomp: seccompForContainer(DEFAULT_SECCOMP_PROFILE, { capabilities: DEFAULT_CAPABILITIES }),
    cgroupsPath: cgroupsPathFor('abc'),
    network: 'none',
    ...extra,
  };
}

const dests = (s: ReturnType<typeof buildSpec>) => s.mounts.map((m) => m.destination);

void describe('buildSpec defaults', () => {
  const spec = buildSpec(input());

  void it('process: capabilities in three sets, none inheritable, no rlimits or extras', () => {
    assert.equal(spec.ociVersion, '1.0.2');
    assert.deepEqual(spec.process.capabilities.bounding, DEFAULT_CAPABILITIES);
    assert.deepEqual(spec.process.capabilities.effective, DEFAULT_CAPABILITIES);
    assert.deepEqual(spec.process.capabilities.permitted, DEFAULT_CAPABILITIES);
    assert.deepEqual(spec.process.capabilities.inheritable, []);
    assert.equal(spec.process.cwd, '/');
    assert.equal(spec.process.terminal, false);
    for (const k of ['rlimits', 'noNewPrivileges', 'oomScoreAdj', 'apparmorProfile'] as const) assert.ok(!(k in spec.process), k);
  });

  void it("masked and read-only paths, Docker's mounts, seccomp", () => {
    assert.deepEqual(spec.linux.maskedPaths, MASKED_PATHS);
    assert.ok(spec.linux.maskedPaths?.includes('/proc/kcore'));
    assert.deepEqual(spec.linux.readonlyPaths, READONLY_PATHS);
    assert.deepEqual(dests(spec), ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
    const shm = spec.mounts.find((m) => m.destination === '/dev/shm');
    assert.deepEqual(shm?.options, ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864']);
    assert.ok(spec.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
    assert.ok(spec.linux.seccomp);
  });

  void it('namespaces: a new, empty network namespace for none; joined by path; absent for host', () => {
    assert.deepEqual(spec.linux.namespaces, [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }]);
    const joined = buildSpec(input({ network: { path: '/run/netns/x' } }));
    assert.deepEqual(joined.linux.namespaces[1], { type: 'network', path: '/run/netns/x' });
    assert.ok(!buildSpec(input({ network: 'host' })).linux.namespaces.some((n) => n.type === 'network'));
  });

  void it('devices: the standard nodes, deny-all then the standard allows', () => {
    assert.deepEqual(
      spec.linux.devices.map((d) => d.path),
      ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'],
    );
    const rules = spec.linux.resources.devices;
    assert.deepEqual(rules[0], { allow: false, access: 'rwm' });
    assert.ok(rules.some((r) => r.allow && r.type === 'c' && r.major === 136 && r.minor === undefined && r.access === 'rwm'));
    assert.ok(rules.some((r) => r.allow && r.type === 'c' && r.major === 10 && r.minor === 200));
    assert.ok(rules.some((r) => r.allow && r.type === 'b' && r.major === undefined && r.access === 'm'));
    assert.equal(spec.linux.cgroupsPath, 'hull/abc');
  });
});

void describe('buildSpec options', () => {
  void it('privileged: no seccomp, no masked/read-only paths, host devices, /sys writable', () => {
    const spec = buildSpec(input({ privileged: true }));
    assert.equal(spec.linux.seccomp, undefined);
    assert.equal(spec.linux.maskedPaths, undefined);
    assert.equal(spec.linux.readonlyPaths, undefined);
    assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.ok(spec.linux.devices.length >= 6);
    assert.ok(!spec.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
  });

  void it('resources: --cpus 1.5 → 150000/100000, memory, swap, shares, pids', () => {
    const spec = buildSpec(
      input({ resources: { memory: 64 * 1024 * 1024, memorySwap: 128 * 1024 * 1024, nanoCpus: 1.5e9, cpuShares: 512, pidsLimit: 50 } }),
    );
    assert.deepEqual(spec.linux.resources.memory, { limit: 67108864, swap: 134217728 });
    assert.deepEqual(spec.linux.resources.cpu, { shares: 512, quota: 150000, period: 100000 });
    assert.deepEqual(spec.linux.resources.pids, { limit: 50 });
    assert.deepEqual(buildSpec(input({ resources: { pidsLimit: 0 } })).linux.resources.pids, { limit: -1 });
    assert.deepEqual(buildSpec(input({ resources: { nanoCpus: 0.5e9 } })).linux.resources.cpu, { quota: 50000, period: 100000 });
    assert.throws(() => buildSpec(input({ resources: { nanoCpus: 1e9, cpuQuota: 1000 } })), /Conflicting options/);
    assert.equal(buildSpec(input()).linux.resources.memory, undefined);
  });

  void it('rlimits, no-new-privileges, OOM score only when asked', () => {
    const spec = buildSpec(input({ rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }], noNewPrivileges: true, oomScoreAdj: 500 }));
    assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }]);
    assert.equal(spec.process.noNewPrivileges, true);
    assert.equal(spec.process.oomScoreAdj, 500);
  });

  void it('etc files bound (read-only with a read-only rootfs); user mounts after their parents, overriding defaults', () => {
    const spec = buildSpec(
      input({
        readonlyRootfs: true,
        etcFiles: { hosts: '/h/hosts', hostname: '/h/hostname', resolvConf: '/h/resolv.conf' },
        mounts: [
          { destination: '/data/sub', type: 'bind', source: '/srv/sub', options: ['rbind'] },
          { destination: '/data', type: 'bind', source: '/srv', options: ['rbind'] },
          { destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
          { destination: '/etc/hosts', type: 'bind', source: '/mine', options: ['rbind', 'ro'] },
        ],
      }),
    );
    assert.equal(spec.root.readonly, true);
    assert.deepEqual(dests(spec), [
      '/proc',
      '/dev',
      '/dev/pts',
      '/sys',
      '/sys/fs/cgroup',
      '/dev/mqueue',
      '/data',
      '/etc/resolv.conf',
      '/etc/hostname',
      '/data/sub',
      '/dev/shm',
      '/etc/hosts',
    ]);
    assert.deepEqual(spec.mounts.find((m) => m.destination === '/etc/hostname'), {
      destination: '/etc/hostname',
      type: 'bind',
      source: '/h/hostname',
      options: ['rbind', 'rprivate', 'ro'],
    });
    assert.equal(spec.mounts.find((m) => m.destination === '/etc/hosts')?.source, '/mine');
  });

  void it('a user /dev replaces every default under /dev', () => {
    const spec = buildSpec(input({ mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }] }));
    assert.deepEqual(dests(spec), ['/proc', '/sys', '/sys/fs/cgroup', '/dev']);
  });

  void it('--device adds the node and its rule; a custom node replaces a default one', () => {
    const spec = buildSpec(input({ devices: [{ PathOnHost: '/dev/zero', PathInContainer: '/dev/null', CgroupPermissions: 'r' }] }));
    const nulls = spec.linux.devices.filter((d) => d.path === '/dev/null');
    assert.equal(nulls.length, 1);
    assert.deepEqual([nulls[0]?.major, nulls[0]?.minor], [1, 5]);
    assert.deepEqual(spec.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 1, minor: 5, access: 'r' });
  });

  void it('sysctls pass through, but net.* cannot change the host network namespace', () => {
    assert.deepEqual(buildSpec(input({ sysctls: { 'net.ipv4.ip_forward': '1' } })).linux.sysctl, { 'net.ipv4.ip_forward': '1' });
    assert.throws(
      () => buildSpec(input({ network: 'host', sysctls: { 'net.ipv4.ip_forward': '1' } })),
      (e) => isHullError(e, 'INVALID_ARGUMENT'),
    );
  });

  void it('serialises to plain JSON (no undefined holes)', () => {
    const text = JSON.stringify(buildSpec(input()));
    assert.ok(!text.includes(':null'));
    assert.deepEqual(JSON.parse(text), buildSpec(input()));
  });
});
