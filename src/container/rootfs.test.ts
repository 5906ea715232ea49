/**
 * The container's overlay mount on the real kernel (needs root): `volatile` for `--rm`
 * containers, and a volatile work directory that mounts again after a clean unmount.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isMounted, mountRootfs, unmountRootfs } from './rootfs.js';

const skip = process.getuid?.() === 0 ? false : 'needs root (overlay mounts)';

/** Whether /proc/self/mountinfo lists the mount as volatile (`volatile`; `fsync=volatile` since 6.x). */
function isVolatile(target: string): boolean {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);
  assert.ok(line, `${target} is not mounted`);
  const superOptions = line.split(' - ')[1]!.split(' ')[2]!.split(',');
  return superOptions.includes('volatile') || superOptions.includes('fsync=volatile');
}

void describe('mountRootfs', { skip }, () => {
  let dir: string;
  let n = 0;
  const layout = async (): Promise<{ lower: string; upper: string; work: string; target: string }> => {
    const base = join(dir, String(++n));
    const lower = join(base, 'lower');
    await mkdir(lower, { recursive: true });
    await writeFile(join(lower, 'image-file'), 'from the image\n');
    return { lower, upper: join(base, 'upper'), work: join(base, 'work'), target: join(base, 'rootfs') };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hull-rootfs-'));
  });
  after(async () => {
    for (let i = 1; i <= n; i++) unmountRootfs(join(dir, String(i), 'rootfs'));
    await rm(dir, { recursive: true, force: true });
  });

  void it('mounts durable by default and volatile when asked', async () => {
    const a = await layout();
    await mountRootfs([a.lower], a.upper, a.work, a.target);
    assert.ok(!isVolatile(a.target));
    const b = await layout();
    await mountRootfs([b.lower], b.upper, b.work, b.target, { volatile: true });
    assert.ok(isVolatile(b.target));
    // An ordinary overlay all the same: the lower shows through, writes land in the upper.
    assert.equal(await readFile(join(b.target, 'image-file'), 'utf8'), 'from the image\n');
    await writeFile(join(b.target, 'new'), 'written\n');
    assert.equal(await readFile(join(b.upper, 'new'), 'utf8'), 'written\n');
    unmountRootfs(a.target);
    unmountRootfs(b.target);
    assert.ok(!isMounted(a.target) && !isMounted(b.target));
  });

  void it('mounts a volatile work directory again after a clean unmount, keeping the upper', async () => {
    const l = await layout();
    await mountRootfs([l.lower], l.upper, l.work, l.target, { volatile: true });
    await writeFile(join(l.target, 'kept'), 'still here\n');
    unmountRootfs(l.target);
    // The kernel leaves this marker and would refuse the next mount (EINVAL) without our cleanup.
    assert.ok(existsSync(join(l.work, 'work', 'incompat', 'volatile')));
    await mountRootfs([l.lower], l.upper, l.work, l.target, { volatile: true });
    assert.equal(await readFile(join(l.target, 'kept'), 'utf8'), 'still here\n');
    unmountRootfs(l.target);
    await mountRootfs([l.lower], l.upper, l.work, l.target);
    assert.ok(!isVolatile(l.target));
    assert.equal(await readFile(join(l.target, 'kept'), 'utf8'), 'still here\n');
  });
});
