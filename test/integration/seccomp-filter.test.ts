/**
 * Precompiled seccomp filters (src/container/seccomp-filter.ts), end to end on the real runc
 * and the real CLI: the first container of a profile is started by runc as before ("slow":
 * config.json carries `linux.seccomp`) and its filter is captured into <root>/seccomp; later
 * ones start hull-seccomp-exec ("fast"). Every check runs a case both ways and wants the same
 * result, byte for byte, as well as Docker's values.
 *
 * A slow run is the first run of a profile in a root: emptying <root>/seccomp before it is the
 * same as a fresh root (the cache is all a root keeps of earlier filters), and far cheaper than
 * loading the image again for every case. A run whose start fails captures nothing, so a
 * successful container of the same profile primes the cache before its fast run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_SECCOMP_PROFILE } from '../../src/container/spec/seccomp-profile.js';
import type { OciSpec } from '../../src/container/spec/oci-types.js';
import { assertOk, containerTestSkip, hullCommand, removeContainersAndNetworks, runCollecting, runHull, uniqueName, until } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { busyboxArchives } from '../helpers/images.js';
import type { LayerSpec } from '../helpers/images.js';
import { removeHullTree } from '../helpers/leftovers.js';

const execFileP = promisify(execFile);

const skip = containerTestSkip(['runc', 'skopeo', 'gcc']);

const IMG = 'busybox:latest';
const STATUS = ['grep', '-E', '^(Cap|NoNewPrivs|Seccomp)', '/proc/self/status'];
const FILTER_ANNOTATION = 'org.hull.seccomp.filter';
const DEFAULT_CAPS = '00000000a80425fb';
const NO_CAPS = '0000000000000000';
/** Docker's default set plus CAP_SYS_ADMIN (21). */
const SYS_ADMIN_CAPS = '00000000a82425fb';

/**
 * The image's extras: `unshare`; an executable /x (for `./x`); absolute and relative symlinks to
 * a file that exists on the host only (the look-up must stay inside the container's root).
 */
const EXTRAS: LayerSpec = [
  { path: 'bin/unshare', type: 'symlink', linkname: 'busybox' },
  { path: 'x', type: 'file', content: '#!/bin/sh\necho x-ran\n', mode: 0o755 },
  { path: 'bin/hostnode', type: 'symlink', linkname: process.execPath },
  { path: 'bin/upnode', type: 'symlink', linkname: `../../../../../..${process.execPath}` },
];

/**
 * `probe dump PID`: the first seccomp filter of PID (PTRACE_SECCOMP_GET_FILTER, index 0) as raw
 * sock_filter structs on stdout. `probe add_key`: add_key(2)'s outcome, a call Docker's profile
 * refuses (EPERM) although nothing else would.
 */
const PROBE_C = String.raw`#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static int dump(pid_t pid) {
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) { perror("PTRACE_SEIZE"); return 1; }
  if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) { perror("PTRACE_INTERRUPT"); return 1; }
  int st;
  if (waitpid(pid, &st, __WALL) != pid) { perror("waitpid"); return 1; }
  long n = ptrace(0x420c, pid, 0, NULL);
  struct sock_filter *insns = n > 0 ? calloc((size_t)n, sizeof *insns) : NULL;
  long got = insns ? ptrace(0x420c, pid, 0, insns) : -1;
  int e = errno;
  ptrace(PTRACE_DETACH, pid, 0, 0);
  if (got != n || n <= 0) { fprintf(stderr, "PTRACE_SECCOMP_GET_FILTER: %ld: %s\n", n, strerror(e)); return 1; }
  fwrite(insns, sizeof *insns, (size_t)n, stdout);
  return 0;
}
int main(int c, char **v) {
  if (c == 3 && !strcmp(v[1], "dump")) return dump(atoi(v[2]));
  if (c == 2 && !strcmp(v[1], "add_key")) {
    long r = syscall(SYS_add_key, "user", "hull-test", "v", 1, -2 /* KEY_SPEC_PROCESS_KEYRING */);
    printf("%s\n", r < 0 ? strerror(errno) : "ok");
    return 0;
  }
  return 2;
}
`;

let work: string;
let archive: string;
let probe: string;
let toolDir: string;
/** The probe in a directory only root may search (0700 root), and in one only uid 1000 may (0700 1000). */
let rootOnlyDir: string;
let userOnlyDir: string;
let rootSeq = 0;
const roots: string[] = [];

function hull(root: string, args: string[]): Promise<HullResult> {
  return runHull(args, { root, timeoutMs: 60_000 });
}

async function ok(root: string, args: string[]): Promise<string> {
  return assertOk(args, await hull(root, args)).stdout;
}

/** A new state root with the image loaded: no filter cached yet. */
async function freshRoot(): Promise<string> {
  const root = join(work, `root-${++rootSeq}`);
  roots.push(root);
  await ok(root, ['load', '-i', archive]);
  return root;
}

function cached(root: string): string[] {
  const dir = join(root, 'seccomp');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bpf')).map((f) => join(dir, f)) : [];
}

async function configOf(root: string, name: string): Promise<OciSpec> {
  const id = (await ok(root, ['inspect', '-f', '{{.Id}}', name])).trim();
  return JSON.parse(readFileSync(join(root, 'containers', id, 'config.json'), 'utf8')) as OciSpec;
}

/** runc compiled and loaded the filter itself. */
function assertSlow(c: OciSpec, what: string): void {
  assert.ok(c.linux.seccomp, `${what}: config.json has linux.seccomp`);
  assert.equal(c.annotations?.[FILTER_ANNOTATION], undefined, `${what}: no filter annotation`);
  assert.notEqual(c.process.args[0], '/proc/self/fd/3', `${what}: no helper`);
}

/** hull's helper loads the precompiled filter. */
function assertFast(c: OciSpec, what: string, cmd: string[]): void {
  assert.equal(c.linux.seccomp, undefined, `${what}: config.json without linux.seccomp`);
  assert.ok(c.annotations?.[FILTER_ANNOTATION], `${what}: filter annotation`);
  assert.ok(c.annotations?.['org.hull.seccomp.bounding'], `${what}: bounding annotation`);
  assert.deepEqual(c.process.args, ['/proc/self/fd/3', c.annotations['org.hull.seccomp.bounding'], '--', ...cmd], what);
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const)
    for (const cap of ['CAP_SYS_ADMIN', 'CAP_SETPCAP']) assert.ok(c.process.capabilities[set]?.includes(cap), `${what}: ${cap} in ${set}`);
}

/** No filter at all (privileged, unconfined): neither runc's nor the helper. */
function assertUnfiltered(c: OciSpec, what: string): void {
  assert.equal(c.linux.seccomp, undefined, `${what}: no linux.seccomp`);
  assert.equal(c.annotations?.[FILTER_ANNOTATION], undefined, `${what}: no annotation`);
  assert.notEqual(c.process.args[0], '/proc/self/fd/3', `${what}: no helper`);
}

interface Run {
  r: HullResult;
  c: OciSpec;
  name: string;
}

async function runNamed(root: string, flags: string[], cmd: string[]): Promise<Run> {
  const name = uniqueName('sf');
  const r = await hull(root, ['run', '--name', name, ...flags, IMG, ...cmd]);
  return { r, c: await configOf(root, name), name };
}

/**
 * The case as the first container of its profile (slow), then as a later one (fast). With
 * `unfiltered` both must have no filter at all. `primeFlags`: a container with these flags
 * fills the cache when the slow run did not (its start failed).
 */
async function slowAndFast(root: string, flags: string[], cmd: string[], o: { primeFlags?: string[]; unfiltered?: boolean } = {}): Promise<{ slow: Run; fast: Run }> {
  const what = `run ${[...flags, ...cmd].join(' ')}`;
  await rm(join(root, 'seccomp'), { recursive: true, force: true });
  const slow = await runNamed(root, flags, cmd);
  if (o.unfiltered) assertUnfiltered(slow.c, `${what} (1st)`);
  else assertSlow(slow.c, `${what} (1st)`);
  if (!o.unfiltered && cached(root).length === 0) await ok(root, ['run', '--rm', ...(o.primeFlags ?? flags), IMG, 'true']);
  const fast = await runNamed(root, flags, cmd);
  if (o.unfiltered) {
    assertUnfiltered(fast.c, `${what} (2nd)`);
    assert.deepEqual(cached(root), [], `${what}: nothing cached`);
  } else assertFast(fast.c, `${what} (2nd)`, cmd);
  return { slow, fast };
}

function statusFields(out: string): Record<string, string> {
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
}

function hostCapBnd(): string {
  return statusFields(readFileSync('/proc/self/status', 'utf8'))['CapBnd']!;
}

async function dumpFilter(pid: number): Promise<Buffer> {
  const { stdout } = await execFileP(probe, ['dump', String(pid)], { encoding: 'buffer', timeout: 10_000 });
  return stdout;
}

async function pidOf(root: string, name: string): Promise<number> {
  return Number((await ok(root, ['inspect', '-f', '{{.State.Pid}}', name])).trim());
}

/** flags, command, the exit status, and its output (0) or the end of runc's message (failure). */
type LookUpCase = [string[], string[], number, string];

/**
 * Each case slow then fast: what differs from runc's outcome or from the expected one, and a
 * failed start that did not leave the container `created`. All cases run, so one failure shows
 * every mismatch.
 */
async function lookUpMismatches(root: string, cases: LookUpCase[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const [flags, cmd, code, text] of cases) {
    const what = `run ${[...flags, ...cmd].join(' ')}`;
    const { slow, fast } = await slowAndFast(root, flags, cmd, { primeFlags: [] });
    const show = (r: HullResult): string => JSON.stringify([r.code, r.stdout, r.stderr]);
    if (show(fast.r) !== show(slow.r)) wrong.push(`${what}: runc ${show(slow.r)}, helper ${show(fast.r)}`);
    for (const [how, run] of [['runc', slow], ['helper', fast]] as const) {
      const state = (await ok(root, ['inspect', '-f', '{{.State.Status}}', run.name])).trim();
      if (run.r.code !== code) wrong.push(`${what} (${how}): exit ${run.r.code}, not ${code}`);
      else if (code === 0 ? run.r.stdout.trim() !== text : !run.r.stderr.includes(`runc create failed: unable to start container process: ${text}`))
        wrong.push(`${what} (${how}): ${show(run.r)} lacks ${JSON.stringify(text)}`);
      if (code !== 0 && state !== 'created') wrong.push(`${what} (${how}): ${state}, not created`);
    }
  }
  return wrong;
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'hull-seccomp-filter-'));
  archive = (await busyboxArchives(work, { extraLayers: [EXTRAS] })).ociArchive;
  probe = join(work, 'probe');
  await writeFile(`${probe}.c`, PROBE_C);
  await execFileP('gcc', ['-static', '-O2', '-o', probe, `${probe}.c`], { timeout: 120_000 });
  toolDir = join(work, 'tools');
  await mkdir(toolDir);
  await writeFile(join(toolDir, 'tool'), '#!/bin/sh\necho tool-ran "$@"\n', { mode: 0o755 });
  rootOnlyDir = join(work, 'root-only');
  userOnlyDir = join(work, 'user-only');
  for (const [dir, uid] of [[rootOnlyDir, 0], [userOnlyDir, 1000]] as const) {
    await mkdir(dir, { mode: 0o700 });
    await copyFile(probe, join(dir, 'probe'));
    await chown(dir, uid, uid);
  }
});

after(async () => {
  if (skip) return;
  try {
    for (const root of roots) await removeContainersAndNetworks((args) => ok(root, args));
  } finally {
    await removeHullTree(work);
  }
});

void describe('one root: the first container captures, the second loads the capture', { skip }, () => {
  let root: string;
  const slowName = uniqueName('slow');
  const fastName = uniqueName('fast');
  const statusOf = async (name: string, flags: string[] = []): Promise<string> => ok(root, ['exec', ...flags, name, ...STATUS]);

  before(async () => {
    root = await freshRoot();
  });

  test('fast path engages: runc filters the first container, the helper the second', async () => {
    assert.deepEqual(cached(root), []);
    await ok(root, ['run', '-d', '--name', slowName, '-v', `${probe}:/probe:ro`, '-v', `${rootOnlyDir}:/secret:ro`, IMG, 'sleep', '100']);
    const first = await configOf(root, slowName);
    assertSlow(first, 'container #1');
    assert.equal(first.annotations?.['org.hull.seccomp.bounding'], undefined);
    assert.equal(cached(root).length, 1, 'container #1 filled the cache with one filter');
    await ok(root, ['run', '-d', '--name', fastName, '-v', `${probe}:/probe:ro`, '-v', `${rootOnlyDir}:/secret:ro`, IMG, 'sleep', '100']);
    const second = await configOf(root, fastName);
    assertFast(second, 'container #2', ['sleep', '100']);
    assert.equal(second.annotations?.['org.hull.seccomp.bounding'], 'a80425fb');
    assert.equal(cached(root).length, 1);
  });

  // runc's program is not the same at every start (its ENOSYS stub checks the architectures in
  // Go's map order): the fast path must load exactly the one captured from container #1.
  test('the filter is byte for byte the one runc loads, and the cache holds it', async () => {
    const slow = await dumpFilter(await pidOf(root, slowName));
    const fast = await dumpFilter(await pidOf(root, fastName));
    assert.ok(slow.length > 0 && slow.length % 8 === 0, `a sock_filter array: ${slow.length} bytes`);
    assert.ok(slow.equals(fast), `runc's filter (${slow.length} B) and the helper's (${fast.length} B) differ`);
    assert.ok(slow.equals(readFileSync(cached(root)[0]!)), 'the cache file is runc’s filter');
  });

  test('exec into a fast-path container: the same process as into a slow one, filtered', async () => {
    const host = hostCapBnd();
    const cases: [string[], Record<string, string>][] = [
      [[], { CapEff: DEFAULT_CAPS, CapPrm: DEFAULT_CAPS, CapBnd: DEFAULT_CAPS, CapInh: NO_CAPS, CapAmb: NO_CAPS }],
      [['-u', '1000'], { CapEff: NO_CAPS, CapPrm: NO_CAPS, CapBnd: DEFAULT_CAPS, CapAmb: NO_CAPS }],
      [['--privileged'], { CapBnd: host, CapEff: host, CapAmb: NO_CAPS }],
    ];
    for (const [flags, want] of cases) {
      const fast = await statusOf(fastName, flags);
      assert.equal(fast, await statusOf(slowName, flags), `exec ${flags.join(' ')}: as on the slow path`);
      assert.deepEqual({ ...statusFields(fast), ...want, Seccomp: '2', Seccomp_filters: '1' }, statusFields(fast), `exec ${flags.join(' ')}`);
    }
    const fds = await ok(root, ['exec', fastName, 'ls', '/proc/self/fd']);
    assert.equal(fds, await ok(root, ['exec', slowName, 'ls', '/proc/self/fd']));
    assert.deepEqual(fds.trim().split('\n'), ['0', '1', '2', '3'], 'no fd of the helper left');
    // -d: the process runs on its own; what it wrote tells its status.
    await ok(root, ['exec', '-d', fastName, 'sh', '-c', "grep '^Seccomp' /proc/self/status > /tmp/d.tmp && mv /tmp/d.tmp /tmp/detached"]);
    const detached = await until('the detached exec to write', async () => (await hull(root, ['exec', fastName, 'cat', '/tmp/detached'])).stdout || undefined, 20_000);
    assert.deepEqual(statusFields(detached), { Seccomp: '2', Seccomp_filters: '1' });
    // A missing command: runc's words, Docker's status, on both paths.
    const missing = (cmd: string): string => `OCI runtime exec failed: exec failed: unable to start container process: exec: "${cmd}": executable file not found in $PATH: unknown`;
    for (const name of [fastName, slowName])
      for (const [args, cmd] of [[['nope'], 'nope'], [['-d', 'nope'], 'nope'], [['-e', 'PATH=/nowhere', 'sh'], 'sh']] as const) {
        const [flags, command] = [args.slice(0, -1), args.at(-1)!];
        const r = await hull(root, ['exec', ...flags, name, command]);
        assert.deepEqual([r.code, r.stderr.trim()], [127, missing(cmd)], `exec ${args.join(' ')} into ${name}`);
      }
    // The filter is enforced on what exec starts, --privileged too: a call that only the filter refuses.
    for (const flags of [[], ['--privileged']]) assert.equal((await ok(root, ['exec', ...flags, fastName, '/probe', 'add_key'])).trim(), 'Operation not permitted');
  });

  // See 'command look-up with the process’s user and capabilities'.
  test('exec -u 1000 of a command in a root-only directory, as runc', async () => {
    const [slow, fast] = [await hull(root, ['exec', '-u', '1000', slowName, '/secret/probe', 'add_key']), await hull(root, ['exec', '-u', '1000', fastName, '/secret/probe', 'add_key'])];
    assert.deepEqual([slow.code, slow.stdout], [0, 'Operation not permitted\n'], slow.stderr);
    assert.deepEqual([fast.code, fast.stdout, fast.stderr], [slow.code, slow.stdout, slow.stderr]);
  });

  // runc changes to the working directory before it looks the command up: the engine's look-up
  // (first) must leave a missing -w to runc, whose words name the directory, not the command.
  test('exec -w of a missing directory with a relative command: runc’s chdir error', async () => {
    const args = ['-w', '/nonexistent'];
    const slow = await hull(root, ['exec', ...args, slowName, './x']);
    assert.match(slow.stderr, /chdir to cwd \("\/nonexistent"\) set in config.json failed: no such file or directory/);
    const fast = await hull(root, ['exec', ...args, fastName, './x']);
    assert.deepEqual([fast.code, fast.stderr], [slow.code, slow.stderr]);
  });

  test('restart of a fast-path container loads the filter again', async () => {
    const before = await pidOf(root, fastName);
    await ok(root, ['restart', '-t', '1', fastName]);
    const pid = await pidOf(root, fastName);
    assert.notEqual(pid, before);
    assertFast(await configOf(root, fastName), 'restarted', ['sleep', '100']);
    const status = statusFields(readFileSync(`/proc/${pid}/status`, 'utf8'));
    assert.deepEqual([status['Seccomp'], status['Seccomp_filters'], status['CapEff']], ['2', '1', DEFAULT_CAPS]);
    assert.ok((await dumpFilter(pid)).equals(readFileSync(cached(root)[0]!)), 'the restarted container has the cached filter');
    assert.match(await statusOf(fastName), /Seccomp:\s+2/);
  });
});

void describe('one root, every case twice: the fast path is indistinguishable from runc', { skip }, () => {
  let root: string;
  before(async () => {
    root = await freshRoot();
  });

  test('/proc/self/status: Docker’s values, identical on both paths', async () => {
    const host = hostCapBnd();
    const filtered = { Seccomp: '2', Seccomp_filters: '1', CapInh: NO_CAPS, CapAmb: NO_CAPS };
    const cases: [string[], Record<string, string>, boolean?][] = [
      [[], { ...filtered, CapEff: DEFAULT_CAPS, CapPrm: DEFAULT_CAPS, CapBnd: DEFAULT_CAPS, NoNewPrivs: '0' }],
      [['-u', '1000'], { ...filtered, CapEff: NO_CAPS, CapPrm: NO_CAPS, CapBnd: DEFAULT_CAPS }],
      [['--cap-add', 'SYS_ADMIN'], { ...filtered, CapEff: SYS_ADMIN_CAPS, CapPrm: SYS_ADMIN_CAPS, CapBnd: SYS_ADMIN_CAPS }],
      [['--cap-add', 'SYS_ADMIN', '-u', '1000'], { ...filtered, CapEff: NO_CAPS, CapPrm: NO_CAPS, CapBnd: SYS_ADMIN_CAPS }],
      [['--cap-drop', 'ALL'], { ...filtered, CapEff: NO_CAPS, CapPrm: NO_CAPS, CapBnd: NO_CAPS }],
      [['--cap-add', 'ALL'], { ...filtered, CapEff: host, CapPrm: host, CapBnd: host }],
      [['--security-opt', 'no-new-privileges'], { ...filtered, NoNewPrivs: '1', CapEff: DEFAULT_CAPS, CapBnd: DEFAULT_CAPS }],
      [['--privileged'], { Seccomp: '0', Seccomp_filters: '0', CapBnd: host, CapEff: host }, true],
      [['--security-opt', 'seccomp=unconfined'], { Seccomp: '0', Seccomp_filters: '0', CapEff: DEFAULT_CAPS }, true],
    ];
    for (const [flags, want, unfiltered] of cases) {
      const { slow, fast } = await slowAndFast(root, flags, STATUS, { unfiltered: unfiltered ?? false });
      assertOk(flags, slow.r);
      assertOk(flags, fast.r);
      assert.equal(fast.r.stdout, slow.r.stdout, `run ${flags.join(' ')}: the same status both ways`);
      const got = statusFields(fast.r.stdout);
      assert.deepEqual({ ...got, ...want }, got, `run ${flags.join(' ')}`);
    }
  });

  test('the filter is enforced and no fd leaks into the container', async () => {
    const mount = ['-v', `${probe}:/probe:ro`];
    const { slow, fast } = await slowAndFast(root, mount, ['/probe', 'add_key']);
    assert.equal(slow.r.stdout.trim(), 'Operation not permitted');
    assert.equal(fast.r.stdout.trim(), 'Operation not permitted', 'add_key refused by the filter');
    // Without the filter the same call passes: the refusal above is the filter's.
    assert.notEqual((await ok(root, ['run', '--rm', ...mount, '--security-opt', 'seccomp=unconfined', IMG, '/probe', 'add_key'])).trim(), 'Operation not permitted');
    const unshare = await slowAndFast(root, [], ['unshare', '-m', 'true']);
    for (const run of [unshare.slow, unshare.fast]) {
      assert.notEqual(run.r.code, 0);
      assert.match(run.r.stderr, /Operation not permitted/);
    }
    const plain = await hull(root, ['run', '--rm', IMG, 'true']);
    assert.equal(plain.code, 0, plain.stderr);
    const fds = await slowAndFast(root, [], ['ls', '/proc/self/fd']);
    assert.equal(fds.fast.r.stdout, fds.slow.r.stdout);
    assert.deepEqual(fds.fast.r.stdout.trim().split('\n'), ['0', '1', '2', '3']);
  });

  test('first starts in parallel capture one filter, atomically; later ones all load it', async () => {
    await rm(join(root, 'seccomp'), { recursive: true, force: true });
    for (const fast of [false, true]) {
      const names = Array.from({ length: 4 }, () => uniqueName('par'));
      const runs = await Promise.all(names.map((n) => hull(root, ['run', '-d', '--name', n, IMG, 'sleep', '100'])));
      runs.forEach((r) => assert.equal(r.code, 0, r.stderr));
      assert.equal(cached(root).length, 1, 'one filter in the cache');
      const filter = readFileSync(cached(root)[0]!);
      // Only the fast ones must hold the cached program: runc's own varies between runs (the
      // order of its ENOSYS stub's architecture checks), so the slow ones may hold another.
      for (const n of names) {
        const got = await dumpFilter(await pidOf(root, n));
        assert.equal(got.length, filter.length, `${n}: a filter of the cached size`);
        if (!fast) continue;
        assertFast(await configOf(root, n), n, ['sleep', '100']);
        assert.ok(got.equals(filter), `${n} has the cached filter`);
      }
      await ok(root, ['rm', '-f', ...names]);
    }
    assert.deepEqual(readdirSync(join(root, 'seccomp')).filter((f) => !f.endsWith('.bpf')), [], 'no temporary file left');
  });

  test('command look-up: runc’s message and status, or the command, both ways', async () => {
    const notFound = (cmd: string): string => `exec: "${cmd}": executable file not found in $PATH`;
    const cases: LookUpCase[] = [
      [[], ['nope'], 127, notFound('nope')],
      [[], ['/nope'], 127, 'exec: "/nope": stat /nope: no such file or directory'],
      [[], ['/etc'], 126, 'exec: "/etc": permission denied'],
      [['-w', '/'], ['./x'], 0, 'x-ran'],
      [['-w', '/tmp'], ['./x'], 127, 'exec: "./x": stat ./x: no such file or directory'],
      [[], ['sh', '-c', 'echo via-symlink'], 0, 'via-symlink'],
      [[], ['env', 'true'], 0, ''], // /usr/bin/env -> /bin/busybox: an absolute symlink
      [['-v', `${toolDir}:/opt/bin:ro`], ['/opt/bin/tool', 'a'], 0, 'tool-ran a'],
      [['-e', 'PATH=/nowhere'], ['sh'], 127, notFound('sh')],
      [['-e', 'PATH='], ['sh'], 127, notFound('sh')],
      [[], [''], 127, notFound('')],
      [['-w', '/', '-e', 'PATH=:/bin'], ['x'], 125, 'exec: "x": cannot run executable found relative to current directory'],
      // Symlinks to a file of the host's: resolved inside the container's root, so not there.
      [[], ['hostnode'], 127, notFound('hostnode')],
      [[], ['upnode'], 127, notFound('upnode')],
      [[], ['/bin/hostnode'], 127, 'exec: "/bin/hostnode": stat /bin/hostnode: no such file or directory'],
    ];
    assert.deepEqual(await lookUpMismatches(root, cases), []);
  });

  // runc looks the command up and execs it with the capabilities the spec gives the process
  // (CAP_DAC_OVERRIDE: a root-only directory is searchable by any user): the helper, started by
  // runc as a user that is not root, must keep them for its look-up and execve; and the
  // monitor's look-up must refuse what runc refuses (no CAP_DAC_OVERRIDE), failing the create.
  test('command look-up with the process’s user and capabilities, as runc', async () => {
    const rootOnly = ['-v', `${rootOnlyDir}:/secret:ro`];
    const cases: LookUpCase[] = [
      [[...rootOnly, '-u', '1000'], ['/secret/probe', 'add_key'], 0, 'Operation not permitted'],
      [[...rootOnly, '-u', '1000', '-e', 'PATH=/secret:/bin'], ['probe', 'add_key'], 0, 'Operation not permitted'],
      [['-v', `${userOnlyDir}:/mine:ro`, '--cap-drop', 'DAC_OVERRIDE'], ['/mine/probe', 'add_key'], 126, 'exec: "/mine/probe": stat /mine/probe: permission denied'],
    ];
    assert.deepEqual(await lookUpMismatches(root, cases), []);
  });

  // A monitor prespawned by a warm worker (`hull` is the native client) reads its arguments
  // NUL-separated up to an empty one: an empty PATH or command must not end them early
  // ("hull-monitor: unknown or incomplete option"). Several tries: one that finds no monitor
  // ready spawns one, which would pass anyway.
  test('empty PATH or command through the native client’s warm worker, as runc', async () => {
    const env = { HULL_CLI_SOCKET: join(work, 'cli.sock'), HULL_SERVER_IDLE_SECONDS: '5' };
    await ok(root, ['run', '--rm', IMG, 'true']); // the cache is there: the fast path
    for (const args of [['-e', 'PATH=', IMG, 'sh'], [IMG, '']]) {
      const want = await hull(root, ['run', '--rm', ...args]);
      assert.equal(want.code, 127, want.stderr);
      for (let i = 0; i < 4; i++) {
        const [file, argv] = hullCommand(['--root', root, 'run', '--rm', ...args], true);
        const got = await runCollecting(file, argv, { env, timeoutMs: 60_000 });
        assert.deepEqual([got.code, got.stderr], [want.code, want.stderr], `run ${args.join(' ')} via the client, try ${i + 1}`);
      }
    }
  });

  // /proc/<main pid>/root is the main process's chroot when it made one; runc exec starts the
  // process at the container's root, so exec's look-up must too.
  test('exec looks the command up in the container’s root, not in a chroot of its main process', async () => {
    const jail = 'mkdir -p /jail/bin && cp /bin/busybox /jail/bin/ && ln -s busybox /jail/bin/sleep && exec busybox chroot /jail /bin/sleep 100';
    const { slow, fast } = await slowAndFast(root, ['-d'], ['sh', '-c', jail]);
    const results: HullResult[] = [];
    for (const run of [slow, fast]) {
      const pid = await pidOf(root, run.name);
      await until(`${run.name} to chroot`, () => readlinkSync(`/proc/${pid}/root`) === '/jail' || undefined, 20_000);
      results.push(await hull(root, ['exec', run.name, 'cat', '/etc/passwd']));
    }
    assert.equal(results[0]!.code, 0, results[0]!.stderr);
    assert.deepEqual([results[1]!.code, results[1]!.stdout, results[1]!.stderr], [results[0]!.code, results[0]!.stdout, results[0]!.stderr]);
  });

  test('a profile with flags is loaded by runc every time, never precompiled', async () => {
    const file = join(work, 'flags-profile.json');
    await writeFile(file, JSON.stringify({ ...DEFAULT_SECCOMP_PROFILE, flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }));
    await rm(join(root, 'seccomp'), { recursive: true, force: true });
    const runs: HullResult[] = [];
    for (const n of ['1st', '2nd']) {
      const run = await runNamed(root, ['--security-opt', `seccomp=${file}`], STATUS);
      assertSlow(run.c, `flags profile, ${n} run`);
      assert.deepEqual(run.c.linux.seccomp?.flags, ['SECCOMP_FILTER_FLAG_SPEC_ALLOW']);
      assert.deepEqual(cached(root), [], 'nothing captured');
      runs.push(run.r);
    }
    // runc 1.1 refuses every flag; a later one loads the filter with it.
    for (const r of runs) {
      if (r.code === 0) assert.match(r.stdout, /Seccomp:\s+2/);
      else assert.match(r.stderr, /runc create failed: seccomp flags are not yet supported by runc/);
    }
    assert.deepEqual([runs[1]!.code, runs[1]!.stdout, runs[1]!.stderr], [runs[0]!.code, runs[0]!.stdout, runs[0]!.stderr]);
  });
});
