import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyStats, parseBlkioV1, parseIoStatV2, parseKeyValues, parseMemTotal, parseNetDev, parseProcCgroup, parseSystemCpu, summarize, withPrevious, type StatsJSON } from './stats.js';

void describe('cgroup membership', () => {
  void it('reads v1 controllers per hierarchy, co-mounted ones included, and the unified line', () => {
    const m = parseProcCgroup('12:cpu,cpuacct:/hull/abc\n4:memory:/caller/hull/abc\n1:name=systemd:/x\n0::/hull/abc\n');
    assert.deepEqual(m.v1.get('cpu'), { hierarchy: 'cpu,cpuacct', path: '/hull/abc' });
    assert.deepEqual(m.v1.get('cpuacct'), { hierarchy: 'cpu,cpuacct', path: '/hull/abc' });
    assert.deepEqual(m.v1.get('memory'), { hierarchy: 'memory', path: '/caller/hull/abc' });
    assert.equal(m.unified, '/hull/abc');
  });

  void it('a pure v2 host has only the unified line', () => {
    const m = parseProcCgroup('0::/system.slice/hull/abc\n');
    assert.equal(m.v1.size, 0);
    assert.equal(m.unified, '/system.slice/hull/abc');
  });
});

void describe('cgroup file parsers', () => {
  void it('key/value files', () => {
    assert.deepEqual(parseKeyValues('cache 4096\ntotal_inactive_file 100\nbad x\n'), { cache: 4096, total_inactive_file: 100 });
  });

  void it('v1 blkio drops the Total line', () => {
    assert.deepEqual(parseBlkioV1('8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n'), [
      { major: 8, minor: 0, op: 'Read', value: 4096 },
      { major: 8, minor: 0, op: 'Write', value: 512 },
      { major: 8, minor: 0, op: 'Total', value: 4608 },
    ]);
  });

  void it('v2 io.stat becomes read/write entries', () => {
    const { bytes } = parseIoStatV2('259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n');
    assert.deepEqual(bytes, [
      { major: 259, minor: 0, op: 'read', value: 10 },
      { major: 259, minor: 0, op: 'write', value: 20 },
    ]);
  });

  void it('net/dev without loopback', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
`;
    assert.deepEqual(parseNetDev(text), {
      eth0: { rx_bytes: 2000, rx_packets: 20, rx_errors: 1, rx_dropped: 2, tx_bytes: 3000, tx_packets: 30, tx_errors: 3, tx_dropped: 4 },
    });
  });

  void it('system CPU time is the first seven /proc/stat fields in nanoseconds', () => {
    assert.equal(parseSystemCpu('cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1\n'), 28 * 1e7);
    assert.equal(parseMemTotal('MemTotal:       16384 kB\nMemFree: 1 kB\n'), 16384 * 1024);
  });
});

function sample(total: number, system: number, mem: Partial<StatsJSON['memory_stats']> = {}): StatsJSON {
  const s = emptyStats('a'.repeat(64), 'x');
  s.cpu_stats.cpu_usage.total_usage = total;
  s.cpu_stats.system_cpu_usage = system;
  s.cpu_stats.online_cpus = 2;
  s.memory_stats = mem;
  return s;
}

void describe("Docker CLI's arithmetic", () => {
  void it('CPU % = container delta / system delta × online CPUs × 100', () => {
    const v = summarize(withPrevious(sample(3e8, 2e9), sample(1e8, 1e9)));
    assert.equal(v.cpuPercent, (2e8 / 1e9) * 2 * 100);
    assert.equal(summarize(sample(3e8, 2e9)).cpuPercent, 15 * 2, 'without a previous sample the deltas run from zero');
  });

  void it('memory excludes inactive file pages (v1 total_inactive_file, else v2 inactive_file)', () => {
    const v1 = summarize(sample(0, 0, { usage: 1000, limit: 4000, stats: { total_inactive_file: 200, inactive_file: 900 } }));
    assert.equal(v1.memory, 800);
    assert.equal(v1.memoryPercent, 20);
    assert.equal(summarize(sample(0, 0, { usage: 1000, limit: 2000, stats: { inactive_file: 400 } })).memory, 600);
    assert.equal(summarize(sample(0, 0, { usage: 1000, limit: 0, stats: {} })).memoryPercent, 0);
  });

  void it('block I/O by the first letter of the op, network summed over interfaces', () => {
    const s = sample(0, 0);
    s.blkio_stats.io_service_bytes_recursive = [
      { major: 8, minor: 0, op: 'Read', value: 10 },
      { major: 8, minor: 0, op: 'write', value: 5 },
      { major: 8, minor: 0, op: 'Total', value: 15 },
    ];
    const n = { rx_bytes: 1, rx_packets: 0, rx_errors: 0, rx_dropped: 0, tx_bytes: 2, tx_packets: 0, tx_errors: 0, tx_dropped: 0 };
    s.networks = { eth0: n, eth1: n };
    const v = summarize(s);
    assert.deepEqual([v.blockRead, v.blockWrite, v.networkRx, v.networkTx], [10, 5, 2, 4]);
  });
});
