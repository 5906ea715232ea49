import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultHostConfig } from './container-create.js';
import { matchesPrune, mergeUpdate, parsePruneFilters, parsePsOutput, updateResources, validatePsArgs } from './container-ops.js';
import type { Container } from './containers.js';

const PS = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         100       1  0 10:01 ?        00:00:00 sleep 1000
root         101     100  0 10:01 ?        00:00:00 sh -c echo  hi
`;

void describe('top', () => {
  void it("keeps the container's rows and joins the command's words", () => {
    const top = parsePsOutput(PS, [100, 101]);
    assert.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(top.Processes, [
      ['root', '100', '1', '0', '10:01', '?', '00:00:00', 'sleep 1000'],
      ['root', '101', '100', '0', '10:01', '?', '00:00:00', 'sh -c echo hi'],
    ]);
  });

  void it('thread lines follow a wanted process; no PID column is an error', () => {
    const top = parsePsOutput('USER PID TID CMD\nroot 100 - sleep\nroot - 100 -\nroot 7 - x\nroot - 7 -\n', [100]);
    assert.equal(top.Processes.length, 2);
    assert.throws(() => parsePsOutput('USER CMD\nroot x\n', [1]), /Couldn't find PID field/);
  });

  void it('refuses renaming the PID column', () => {
    assert.throws(() => validatePsArgs('-o user= PID'), /specifying "user=PID" is not allowed/);
    validatePsArgs('-o pid= PID');
  });
});

void describe('update', () => {
  const h = { ...defaultHostConfig(), Memory: 100 << 20, MemorySwap: 200 << 20 };

  void it("changes what is given and checks Docker's rules", () => {
    const next = mergeUpdate(h, { Memory: 150 << 20 }, 2);
    assert.equal(next.Memory, 150 << 20);
    assert.equal(next.MemorySwap, 200 << 20);
    assert.throws(() => mergeUpdate(h, { Memory: 300 << 20 }, 2), /update the memoryswap at the same time/);
    assert.equal(mergeUpdate(h, { Memory: 300 << 20, MemorySwap: -1 }, 2).MemorySwap, -1);
    assert.throws(() => mergeUpdate(h, { Memory: 1 << 20 }, 2), /Minimum memory limit allowed is 6MB/);
    assert.throws(() => mergeUpdate(h, { MemorySwap: 50 << 20 }, 2), /Minimum memoryswap limit/);
    assert.throws(() => mergeUpdate(h, { NanoCpus: 3e9 }, 2), /Range of CPUs is from 0.01 to 2.00/);
    assert.throws(() => mergeUpdate({ ...h, CpuQuota: 50000 }, { NanoCpus: 1e9 }, 2), /Nano CPUs cannot be updated as CPU Quota/);
    assert.throws(() => mergeUpdate({ ...h, AutoRemove: true }, { RestartPolicy: { Name: 'always', MaximumRetryCount: 0 } }, 2), /AutoRemove/);
  });

  void it('gives runc only what changed', () => {
    const next = mergeUpdate(h, { NanoCpus: 5e8, PidsLimit: 0 }, 2);
    assert.deepEqual(updateResources(next, { NanoCpus: 5e8, PidsLimit: 0 }), { cpu: { quota: 50000, period: 100000 }, pids: { limit: -1 } });
    assert.deepEqual(updateResources(next, { Memory: 1 }), { memory: { limit: 100 << 20, swap: 200 << 20 } });
  });
});

void describe('prune filters', () => {
  const c = { createdAt: '2024-01-01T00:00:00Z', doc: { Config: { Labels: { a: '1' } } } } as unknown as Container;

  void it('until, label, label!=', () => {
    const parse = (f: string[]) => parsePruneFilters(f, (v) => Date.parse(v));
    assert.equal(matchesPrune(c, parse(['until=2024-06-01T00:00:00Z'])), true);
    assert.equal(matchesPrune(c, parse(['until=2023-06-01T00:00:00Z'])), false);
    assert.equal(matchesPrune(c, parse(['label=a'])), true);
    assert.equal(matchesPrune(c, parse(['label=a=2'])), false);
    assert.equal(matchesPrune(c, parse(['label!=a=2'])), true);
    assert.equal(matchesPrune(c, parse(['label!=a'])), false);
    assert.throws(() => parse(['status=exited']), /invalid filter 'status'/);
  });
});
