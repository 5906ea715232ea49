import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from './errors.js';
import { bytesSize, formatGoG, humanDuration, humanSize, parseBytes, timeAgo } from './units.js';

const KB = 1000;
const MB = 1000 * KB;
const GB = 1000 * MB;
const TB = 1000 * GB;
const PB = 1000 * TB;
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const PiB = 1024 * TiB;

void describe('formatGoG (Go %.Ng)', () => {
  void it('drops trailing zeros, rounds exact halves to even, uses two-digit exponents', () => {
    const cases: [number, number, string][] = [
      [1, 4, '1'],
      [1.024, 4, '1.024'],
      [1.048576, 4, '1.049'],
      [1.125, 3, '1.12'], // exact half: Go rounds to even, JavaScript's toPrecision would say 1.13
      [1.375, 3, '1.38'],
      [999.999, 3, '1e+03'],
      [10000, 4, '1e+04'],
      [123456, 3, '1.23e+05'],
      [100, 3, '100'],
      [0.0001234, 3, '0.000123'],
      [0.00001234, 3, '1.23e-05'],
      [0, 3, '0'],
      [-2.5, 3, '-2.5'],
    ];
    for (const [v, p, want] of cases) assert.equal(formatGoG(v, p), want, `${v} %.${p}g`);
  });
});

void describe('humanSize (go-units HumanSizeWithPrecision)', () => {
  void it('matches docker images / docker ps SIZE (precision 3)', () => {
    assert.equal(humanSize(0), '0B');
    assert.equal(humanSize(999), '999B');
    assert.equal(humanSize(1000), '1kB');
    assert.equal(humanSize(1234), '1.23kB');
    assert.equal(humanSize(4_261_000), '4.26MB');
    assert.equal(humanSize(4_255_000), '4.25MB'); // 4.255 is just below the half in binary
    assert.equal(humanSize(1_125_000), '1.12MB'); // an exact half rounds to even, as in Go
    assert.equal(humanSize(1.2 * GB), '1.2GB');
    assert.equal(humanSize(77_800_000), '77.8MB');
    assert.equal(humanSize(999_999), '1e+03kB'); // Docker's real, odd output
  });

  void it('matches go-units HumanSize with precision 4', () => {
    assert.equal(humanSize(1000, 4), '1kB');
    assert.equal(humanSize(1024, 4), '1.024kB');
    assert.equal(humanSize(1_000_000, 4), '1MB');
    assert.equal(humanSize(1_048_576, 4), '1.049MB');
    assert.equal(humanSize(2 * MB, 4), '2MB');
    assert.equal(humanSize(3.42 * GB, 4), '3.42GB');
    assert.equal(humanSize(5.372 * TB, 4), '5.372TB');
    assert.equal(humanSize(2.22 * PB, 4), '2.22PB');
    assert.equal(humanSize(10_000_000_000_000 * PB, 4), '1e+04YB');
  });
});

void describe('bytesSize (go-units BytesSize)', () => {
  void it('uses binary units with 4 significant digits', () => {
    assert.equal(bytesSize(0), '0B');
    assert.equal(bytesSize(1023), '1023B');
    assert.equal(bytesSize(1024), '1KiB');
    assert.equal(bytesSize(1024 * 1024), '1MiB');
    assert.equal(bytesSize(1_048_576), '1MiB');
    assert.equal(bytesSize(2 * MiB), '2MiB');
    assert.equal(bytesSize(3.42 * GiB), '3.42GiB');
    assert.equal(bytesSize(5.372 * TiB), '5.372TiB');
    assert.equal(bytesSize(2.22 * PiB), '2.22PiB');
    assert.equal(bytesSize(7_950_000_000), '7.404GiB');
  });
});

void describe('parseBytes (go-units RAMInBytes)', () => {
  void it('accepts what Docker accepts', () => {
    const cases: [string, number][] = [
      ['32', 32],
      ['32b', 32],
      ['32B', 32],
      ['32k', 32 * KiB],
      ['32K', 32 * KiB],
      ['32kb', 32 * KiB],
      ['32Kb', 32 * KiB],
      ['32Kib', 32 * KiB],
      ['32KIB', 32 * KiB],
      ['512m', 512 * MiB],
      ['32Mb', 32 * MiB],
      ['32Gb', 32 * GiB],
      ['1.5g', 1.5 * GiB],
      ['32Tb', 32 * TiB],
      ['32Pb', 32 * PiB],
      ['32PB', 32 * PiB],
      ['32P', 32 * PiB],
      ['32.3', 32],
      ['32.3 mb', Math.trunc(32.3 * MiB)],
      ['0.3MB', Math.trunc(0.3 * MiB)],
    ];
    for (const [input, want] of cases) assert.equal(parseBytes(input), want, input);
  });

  void it('refuses what Docker refuses, with its messages', () => {
    const cases: [string, RegExp][] = [
      ['', /^invalid size: ''$/],
      ['hello', /^invalid size: 'hello'$/],
      ['-32', /^invalid size: '-32'$/],
      [' 32 ', /^invalid size: ' 32 ': strconv.ParseFloat: parsing " 32": invalid syntax$/],
      ['32m b', /invalid syntax/],
      ['32bm', /^invalid suffix: 'bm'$/],
      ['32x', /^invalid suffix: 'x'$/],
      ['32mib2', /invalid syntax/],
      ['32kbb', /^invalid suffix: 'kbb'$/],
      ['32kibi', /^invalid suffix: 'kibi'$/],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseBytes(input),
        (e: unknown) => isHullError(e, 'INVALID_ARGUMENT') && message.test(e.message),
        input,
      );
    }
  });
});

void describe('humanDuration (go-units HumanDuration)', () => {
  const s = 1000;
  const min = 60 * s;
  const hour = 60 * min;
  const day = 24 * hour;
  const week = 7 * day;
  const month = 30 * day;
  const year = 365 * day;

  void it('follows Go thresholds and rounding', () => {
    const cases: [number, string][] = [
      [-5 * s, 'Less than a second'],
      [450, 'Less than a second'],
      [1 * s, '1 second'],
      [45 * s, '45 seconds'],
      [59 * s, '59 seconds'],
      [60 * s, 'About a minute'],
      [119 * s, 'About a minute'],
      [3 * min, '3 minutes'],
      [35 * min + 40 * s, '35 minutes'],
      [59 * min + 59 * s, '59 minutes'],
      [1 * hour, 'About an hour'],
      [1 * hour + 29 * min, 'About an hour'],
      [1 * hour + 30 * min, '2 hours'], // hours round
      [3 * hour, '3 hours'],
      [3 * hour + 59 * min, '4 hours'],
      [24 * hour, '24 hours'],
      [day + 12 * hour, '36 hours'],
      [2 * day, '2 days'],
      [7 * day, '7 days'],
      [13 * day + 5 * hour, '13 days'],
      [2 * week, '2 weeks'],
      [2 * week + 4 * day, '2 weeks'],
      [3 * week, '3 weeks'],
      [month, '4 weeks'],
      [month + 2 * week, '6 weeks'],
      [2 * month, '2 months'],
      [2 * month + 2 * week, '2 months'],
      [3 * month + 1 * week, '3 months'],
      [13 * month, '13 months'],
      [24 * month, '24 months'],
      [24 * month + 2 * week, '2 years'],
      [3 * year + 2 * month, '3 years'],
    ];
    for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
  });

  void it('prints Docker\'s CREATED column', () => {
    const now = Date.parse('2024-06-01T12:00:00Z');
    assert.equal(timeAgo(now - 2 * hour, now), '2 hours ago');
    assert.equal(timeAgo(new Date(now - 90 * s), new Date(now)), 'About a minute ago');
    assert.equal(timeAgo(now - 300, now), 'Less than a second ago');
    assert.equal(timeAgo(now - 3 * day, now), '3 days ago');
    assert.equal(timeAgo(now - 2 * week, now), '2 weeks ago');
    assert.equal(timeAgo(now - 3 * month, now), '3 months ago');
    assert.equal(timeAgo(now - 2 * year - month, now), '2 years ago');
  });
});
