/**
 * Sizes and durations printed and parsed exactly as Docker does (github.com/docker/go-units),
 * so scripts that scrape `docker images` / `docker ps` output or pass `--memory 512m` behave the same.
 */
import { HullError } from './errors.js';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function scale(size: number, base: number, units: readonly string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i] ?? 'B'];
}

/** Adds one to a string of decimal digits; `999` becomes `1000`. */
function incrementDigits(digits: string): string {
  const d = digits.split('').map(Number);
  let i = d.length - 1;
  while (i >= 0 && d[i] === 9) d[i--] = 0;
  if (i < 0) return `1${d.join('')}`;
  d[i] = (d[i] ?? 0) + 1;
  return d.join('');
}

/**
 * Go's `%.<precision>g`. JavaScript's toPrecision differs in three ways that show in Docker's
 * output: Go drops trailing zeros ("1kB", not "1.00kB"), rounds exact halves to even
 * (1.125 → "1.12"), and writes at least two exponent digits ("1e+04").
 */
export function formatGoG(value: number, precision: number): string {
  if (value === 0) return '0';
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
  const sign = value < 0 ? '-' : '';
  // 100 significant digits is enough to hold any double in the ranges we print exactly,
  // which is what lets us tell a true tie from a value just above or below it.
  const [mantissa = '', expPart = '0'] = Math.abs(value).toExponential(99).split('e');
  const digits = mantissa.replace('.', '');
  let exp = Number(expPart);
  let kept = digits.slice(0, precision);
  const rest = digits.slice(precision);
  const first = rest[0] ?? '0';
  const beyondHalf = /[1-9]/.test(rest.slice(1));
  const lastKeptOdd = Number(kept[kept.length - 1] ?? '0') % 2 === 1;
  if (first > '5' || (first === '5' && (beyondHalf || lastKeptOdd))) {
    kept = incrementDigits(kept);
    if (kept.length > precision) {
      kept = kept.slice(0, precision);
      exp++;
    }
  }
  const significant = kept.replace(/0+$/, '') || '0';
  if (exp < -4 || exp >= precision) {
    const frac = significant.slice(1);
    const e = `${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
    return `${sign}${significant[0] ?? '0'}${frac ? `.${frac}` : ''}e${e}`;
  }
  if (exp >= 0) {
    const intPart = significant.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = significant.slice(exp + 1);
    return `${sign}${intPart}${frac ? `.${frac}` : ''}`;
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${significant}`;
}

/**
 * go-units HumanSizeWithPrecision: decimal units (kB = 1000). `docker images` and `docker ps -s`
 * print with precision 3 ("4.26MB"), hence the default; go-units' own HumanSize is precision 4
 * (`docker system df`).
 */
export function humanSize(bytes: number, precision = 3): string {
  const [size, unit] = scale(bytes, 1000, DECIMAL_UNITS);
  return `${formatGoG(size, precision)}${unit}`;
}

/** go-units BytesSize: binary units (KiB = 1024), 4 significant digits, as in `docker info`'s "Total Memory". */
export function bytesSize(bytes: number): string {
  const [size, unit] = scale(bytes, 1024, BINARY_UNITS);
  return `${formatGoG(size, 4)}${unit}`;
}

const BINARY_MULTIPLIERS: Record<string, number> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

// strconv.ParseFloat's decimal syntax. Inf and NaN cannot reach it (the number part must end in
// a digit or dot); Go's hex floats and digit underscores are left out as nobody sizes memory so.
const GO_FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * go-units RAMInBytes, used by `--memory`, `--shm-size` and friends: a number with an optional
 * binary-multiple suffix k/m/g/t/p, optionally followed by `b` or `ib`, case-insensitive, one
 * optional space ("512m", "1.5 GiB", "100"). Fractions are truncated to whole bytes.
 */
export function parseBytes(input: string): number {
  const sep = Math.max(...[...'0123456789. '].map((c) => input.lastIndexOf(c)));
  if (sep === -1) throw new HullError('INVALID_ARGUMENT', `invalid size: '${input}'`);
  const num = input[sep] === ' ' ? input.slice(0, sep) : input.slice(0, sep + 1);
  let suffix = input.slice(sep + 1);
  if (!GO_FLOAT_RE.test(num)) {
    throw new HullError('INVALID_ARGUMENT', `invalid size: '${input}': strconv.ParseFloat: parsing "${num}": invalid syntax`);
  }
  let size = Number(num);
  if (size < 0) throw new HullError('INVALID_ARGUMENT', `invalid size: '${input}'`);
  if (suffix === '') return Math.trunc(size);

  const badSuffix = (): HullError => new HullError('INVALID_ARGUMENT', `invalid suffix: '${suffix}'`);
  if (suffix.length > 3) throw badSuffix();
  suffix = suffix.toLowerCase();
  if (suffix[0] === 'b') {
    if (suffix.length > 1) throw badSuffix();
    return Math.trunc(size);
  }
  const multiplier = BINARY_MULTIPLIERS[suffix[0] ?? ''];
  if (multiplier === undefined) throw badSuffix();
  size *= multiplier;
  if ((suffix.length === 2 && suffix[1] !== 'b') || (suffix.length === 3 && suffix.slice(1) !== 'ib')) {
    throw badSuffix();
  }
  return Math.trunc(size);
}

/**
 * go-units HumanDuration, as in `docker ps`' "Up 2 hours". Thresholds and truncation follow Go:
 * seconds and minutes truncate, hours round, days/weeks/months/years derive from rounded hours
 * (years from truncated hours).
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** Docker's "CREATED" column: `humanDuration(now - then) + " ago"`. */
export function timeAgo(then: Date | number, now: Date | number = Date.now()): string {
  return `${humanDuration(Number(now) - Number(then))} ago`;
}
