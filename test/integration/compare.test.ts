/**
 * `hull compare` end to end: the real `hull` binary runs a busybox image as a container (runc)
 * and as a VM (QEMU, TCG here: HULL_VM_ACCEL=tcg skips the KVM probe's wait). Runs are few
 * (--runs 2): a TCG boot takes seconds on shared cores. Checks are on consistency, never on
 * timing: VM numbers vary with the load of the machine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { hullCommand, runHull, until } from '../helpers/hull.js';
import type { HullResult } from '../helpers/hull.js';
import { loadBusybox } from '../helpers/images.js';
import { vmLeftovers } from '../helpers/leftovers.js';
import { removeVmWork, vmTestSkip } from '../helpers/vm.js';
import { findKernel } from '../../src/vm/guest-image.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { CompareResult } from '../../src/engine/compare.js';


const skip = vmTestSkip(['runc']);
const ENV = { HULL_VM_ACCEL: 'tcg' };
let work: string;
let root: string;

function hull(args: string[]): Promise<HullResult> {
  return runHull(args, { root, env: ENV, timeoutMs: 600_000 });
}

async function nothingLeft(): Promise<void> {
  const ps = await hull(['ps', '-aq']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.equal(ps.stdout.trim(), '', 'hull ps -a lists instances compare started');
  await until('no QEMU, virtiofsd or mount left', () => vmLeftovers(root).length === 0 || undefined, 30_000).catch(() => assert.deepEqual(vmLeftovers(root), []));
}

describe('hull compare', { skip, concurrency: 1 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hcmp-'));
    root = join(work, 'root');
    await loadBusybox(root, work);
  });

  after(async () => {
    if (work) await removeVmWork(root, work, ENV);
  });

  test('both modes measured: JSON valid against the schema, numbers consistent, SVG chart parses', async () => {
    const chart = join(work, 'chart.svg');
    const r = await hull(['compare', '--runs', '2', '--format', 'json', '--chart', chart, 'busybox', 'sh', '-c', 'echo hello; exit 3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /compare: container run 1\/2/, 'progress on stderr');
    assert.match(r.stderr, /compare: vm run 2\/2/);
    const result = JSON.parse(r.stdout) as CompareResult;

    const schema = JSON.parse(readFileSync(join(packageRoot(), 'docs', 'compare.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    assert.ok(validate(result), JSON.stringify(validate.errors));

    assert.deepEqual(result.modes.map((m) => m.mode), ['container', 'vm']);
    const [ctr, vm] = result.modes as [CompareResult['modes'][0], CompareResult['modes'][0]];
    assert.equal(result.host.kernel, release());
    assert.equal(ctr.kernel, release(), 'a container sees the host kernel');
    assert.equal(vm.kernel, findKernel().version, 'a VM sees its own kernel');
    assert.notEqual(vm.kernel, ctr.kernel);
    assert.equal(ctr.accelerator, 'native');
    assert.equal(vm.accelerator, 'tcg');
    for (const m of result.modes) {
      assert.deepEqual(m.exitCodes, [3, 3], `${m.mode}: the workload's exit status, every run`);
      assert.equal(m.exitMs.samples.length, 2);
      assert.equal(m.firstOutputMs?.samples.length, 2, `${m.mode}: the first output was seen each run`);
      assert.ok(m.firstOutputMs.median <= m.exitMs.median, `${m.mode}: output before exit`);
      assert.ok(m.exitMs.min <= m.exitMs.median && m.exitMs.median <= m.exitMs.max);
      assert.ok(m.idle.pssBytes > 0 && m.idle.processes > 0, `${m.mode}: idle memory measured`);
      assert.equal(m.density, Math.floor(result.host.memAvailableBytes / m.idle.pssBytes));
      assert.ok(m.density > 0);
      assert.equal(m.disk.totalBytes, m.disk.imageBytes + m.disk.kernelBytes + m.disk.initramfsBytes);
      assert.ok(m.disk.imageBytes > 0);
    }
    assert.equal(vm.disk.imageBytes, ctr.disk.imageBytes, 'the same image both ways');
    assert.equal(ctr.disk.kernelBytes + ctr.disk.initramfsBytes, 0);
    assert.equal(vm.disk.kernelBytes, readFileSync(findKernel().path).length);
    assert.ok(vm.disk.initramfsBytes > 0);
    // A VM holds a whole guest (QEMU, its RAM, virtiofsd): always more than a container's processes.
    assert.ok(vm.idle.pssBytes > ctr.idle.pssBytes, `VM idle ${vm.idle.pssBytes} B vs container ${ctr.idle.pssBytes} B`);
    assert.ok(vm.idle.processes >= 3, 'monitor, QEMU and virtiofsd counted');

    const svg = await readFile(chart, 'utf8');
    assert.equal(XMLValidator.validate(svg), true, 'the chart is well-formed XML');
    const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as { svg: { '@_xmlns': string; rect: unknown[]; text: unknown[] } };
    assert.equal(doc.svg['@_xmlns'], 'http://www.w3.org/2000/svg');
    assert.equal(doc.svg.rect.length, 1 + 5 * 2, 'a background and one bar per mode in each of 5 panels');
    await nothingLeft();
  });

  test('the table names both modes; bad flags and a missing image are refused before anything runs', async () => {
    const r = await hull(['compare', '--runs', '1', 'busybox', 'true']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^MODE\s+DISK\s+FIRST OUTPUT\s+EXIT\s+EXIT CODE\s+IDLE MEMORY\s+DENSITY\s+KERNEL\s+ACCEL$/);
    assert.match(lines[1]!, /^container\s/);
    assert.match(lines[2]!, /^vm\s/);
    assert.match(r.stdout, /no output/, 'true prints nothing: no first-output time');

    const bad: [string[], RegExp][] = [
      [['--runs', '0', 'busybox'], /invalid argument "0" for "--runs" flag/],
      [['--runs', 'x', 'busybox'], /invalid argument "x" for "--runs" flag/],
      [['--format', 'yaml', 'busybox'], /invalid argument "yaml" for "--format" flag/],
      [['--chart', join(work, 'c.gif'), 'busybox'], /the chart is an SVG or PNG file/],
      [['no-such-image-here'], /No such image: no-such-image-here/],
    ];
    for (const [args, message] of bad) {
      const b = await hull(['compare', ...args]);
      assert.equal(b.code, 125, `${args.join(' ')}: ${b.stderr}`);
      assert.match(b.stderr, message);
    }
    await nothingLeft();
  });

  test('Ctrl-C while a VM runs stops and removes every instance compare started', async () => {
    // The container part (a run and the idle instance) comes first; SIGINT once QEMU is up.
    const [file, argv] = hullCommand(['--root', root, 'compare', '--runs', '1', 'busybox', 'sleep', '2']);
    const child = spawn(file, argv, { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await until('a QEMU of compare running', () => vmLeftovers(root).some((l) => l.includes('qemu-system')) || undefined, 300_000);
    assert.match(stderr, /compare: container idle instance/);
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /SIGINT: stopping and removing every instance it started/);
    await nothingLeft();
  });
});
