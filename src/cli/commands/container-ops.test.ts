import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyStats } from '../../container/stats.js';
import { parseFilterTime, parseGoDuration } from '../../util/time-args.js';
import { goFixed2, parseCpus, statsRow, toUpdateRequest } from './container-ops.js';

void describe('stats row', () => {
  void it("renders as Docker's formatter: binary memory, decimal I/O, two-decimal percentages", () => {
    const s = emptyStats('0123456789abcdef'.repeat(4), 'web');
    s.memory_stats = { usage: 3 * 1024 * 1024, limit: 64 * 1024 * 1024, stats: { total_inactive_file: 1024 * 1024 } };
    s.blkio_stats.io_service_bytes_recursive = [{ major: 8, minor: 0, op: 'Read', value: 1_234_567 }];
    s.pids_stats = { current: 3 };
    assert.deepEqual(statsRow('web', s, false), {
      Container: 'web',
      ID: '0123456789ab',
      Name: 'web',
      CPUPerc: '0.00%',
      MemUsage: '2MiB / 64MiB',
      MemPerc: '3.12%',
      NetIO: '0B / 0B',
      BlockIO: '1.23MB / 0B',
      PIDs: '3',
    });
    assert.equal(statsRow('web', s, true).ID!.length, 64);
  });

  void it('percentages round half to even as Go does', () => {
    assert.deepEqual([3.125, 0.125, 1.005, 99.995, 0, 12.5, 0.004].map(goFixed2), ['3.12', '0.12', '1.00', '100.00', '0.00', '12.50', '0.00']);
  });
});

void describe('update flags', () => {
  void it('parse as Docker does', () => {
    assert.equal(parseCpus('1.5'), 1_500_000_000);
    assert.equal(parseCpus('.25'), 250_000_000);
    assert.throws(() => parseCpus('abc'), /failed to parse abc as a rational number/);
    assert.deepEqual(toUpdateRequest({ memory: '64m', memorySwap: '-1', pidsLimit: '-1', restart: 'on-failure:3' }), {
      Memory: 64 * 1024 * 1024,
      MemorySwap: -1,
      PidsLimit: -1,
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
    });
    assert.throws(() => toUpdateRequest({ cpuShares: 'x' }), /invalid argument "x" for "--cpu-shares"/);
  });
});

void describe('filter times', () => {
  void it('Go durations, Unix seconds, RFC 3339', () => {
    assert.equal(parseGoDuration('1h30m'), 90 * 60_000);
    assert.equal(parseGoDuration('10x'), undefined);
    assert.equal(parseFilterTime('10m', 1_000_000_000), 1_000_000_000 - 600_000);
    assert.equal(parseFilterTime('1700000000'), 1_700_000_000_000);
    assert.equal(parseFilterTime('2024-01-01T00:00:00Z'), Date.parse('2024-01-01T00:00:00Z'));
    assert.throws(() => parseFilterTime('yesterday'), /failed to parse value as time or duration/);
  });
});
