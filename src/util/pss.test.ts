import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { memAvailableKiB, processTree, rollup, sumRollups } from './pss.js';
import { median, spread } from './samples.js';

test('processTree finds a child and a grandchild; their Pss sums; a gone process counts as nothing', async () => {
  // sh -c 'sleep …; :' keeps sh as the parent of sleep (no exec of the last command).
  const child = spawn('sh', ['-c', 'sleep 30; :'], { stdio: 'ignore' });
  try {
    let tree: number[] = [];
    for (let i = 0; i < 100 && tree.length < 3; i++) {
      tree = processTree(process.pid);
      if (tree.length < 3) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(tree[0], process.pid);
    assert.ok(tree.includes(child.pid!), 'the child');
    assert.ok(tree.length >= 3, `the grandchild too: ${tree.join(',')}`);
    const self = await rollup(process.pid);
    assert.ok(self && self.pss > 0 && self.rss >= self.pss);
    const sum = await sumRollups([...tree, 2 ** 22 + 1]);
    assert.equal(sum.processes, tree.length, 'the pid that does not exist is skipped');
    assert.ok(sum.pss > self.pss);
  } finally {
    child.kill('SIGKILL');
  }
  assert.ok(memAvailableKiB() > 0);
});

test('median and spread', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.deepEqual(spread([1, 2, 5]), { min: 1, max: 5, relative: 2 });
});
