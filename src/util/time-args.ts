/** Time arguments as the docker CLI reads them (`--since`, `--until`, `until=` filters). */
import { HullError } from './errors.js';

/** Go's time.ParseDuration, for `until=10m`. */
export function parseGoDuration(v: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  if (v === '' || v === '0') return v === '0' ? 0 : undefined;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === v.length && pos > 0 ? total : undefined;
}

/** Docker's filter timestamps: Unix seconds, RFC 3339 (or a date), or a duration back from now. */
export function parseFilterTime(v: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = parseGoDuration(v);
  if (d !== undefined) return now - d;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new HullError('INVALID_ARGUMENT', `failed to parse value as time or duration: "${v}"`);
  return t;
}
