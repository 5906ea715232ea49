/**
 * Timing and reporting for benchmarks. Benchmarks report medians, not means: a single run
 * disturbed by writeback or a page-cache eviction should not move the headline number, and
 * min/max next to it show how noisy the runs were.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { median, spread } from '../../src/util/samples.js';

// Medians and PSS live in src/ (hull compare uses them too).
export { median, spread, type Spread } from '../../src/util/samples.js';
export { rollup, sumRollups, type Rollup } from '../../src/util/pss.js';

export interface Timed<T> {
  /** Wall-clock milliseconds, monotonic clock. */
  ms: number;
  value: T;
}

/** Runs `fn` once and measures its wall-clock time. */
export async function timeIt<T>(fn: () => Promise<T> | T): Promise<Timed<T>> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** USER_HZ: /proc reports CPU times in these ticks (100 on every Linux architecture Node runs on). */
const CLOCK_TICKS = 100;

/** Fields of /proc/<pid>/stat after the command name, which may itself contain spaces and parens. */
function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been reaped:
 * the difference around a child's run is that child's CPU time, whatever else loads the
 * machine. Wall time on a shared machine depends on the neighbours; CPU time much less.
 */
export function reapedChildrenCpu(): number {
  const f = statFields('self');
  // cutime and cstime are fields 16 and 17 of stat(5), 14 and 15 after the name.
  return (Number(f[13]) + Number(f[14])) / CLOCK_TICKS;
}

/** CPU seconds (user + system) a running process has used so far, e.g. a daemon doing a peer's work. */
export function processCpu(pid: number): number {
  const f = statFields(pid);
  // utime and stime are fields 14 and 15 of stat(5).
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/** `a / b` of two medians; NaN when either side has no samples. */
export function ratio(a: readonly number[], b: readonly number[]): number {
  const mb = median(b);
  return mb > 0 ? median(a) / mb : Number.NaN;
}

export interface Series {
  name: string;
  /** Milliseconds per run. */
  samples: number[];
  /** CPU seconds per run, when known: adds a `cpu` column (median). */
  cpu?: number[];
  /** Shown after the numbers, e.g. why a tool has no samples. */
  note?: string;
}

export interface TableOptions {
  title?: string;
  /** Each series' median is also shown relative to this series' median (`x<name>` column). */
  baseline?: string;
  /** Bytes moved per run: adds a MB/s column computed from the median. */
  bytesPerRun?: number;
  /** Pairs [a, b] printed below the table as `a / b: 0.42x`. */
  ratios?: [string, string][];
  /** Where the text goes; stdout by default. Returns the text either way. */
  write?: (text: string) => void;
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)}s` : '-';
}

function times(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a';
}

/** The header and rows as aligned lines: names left-aligned, numbers right-aligned, the free-text note last and unpadded. */
export function alignedLines(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : i === cells.length - 1 ? c : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Formats `series` as an aligned table (median, min, max, spread, ratios) and prints it. */
export function printTable(series: readonly Series[], opts: TableOptions = {}): string {
  const base = opts.baseline === undefined ? undefined : series.find((s) => s.name === opts.baseline);
  const header = ['tool', 'runs', 'median', 'min', 'max', 'spread'];
  if (opts.bytesPerRun !== undefined) header.push('MB/s');
  const withCpu = series.some((s) => s.cpu !== undefined && s.cpu.length > 0);
  if (withCpu) header.push('cpu');
  if (base) header.push(`x${base.name}`);
  header.push('');
  const rows = series.map((s) => {
    const m = median(s.samples);
    const sp = spread(s.samples);
    const row = [
      s.name,
      String(s.samples.length),
      seconds(m),
      seconds(sp.min),
      seconds(sp.max),
      Number.isFinite(sp.relative) ? `${(sp.relative * 100).toFixed(0)}%` : '-',
    ];
    if (opts.bytesPerRun !== undefined) row.push(m > 0 ? (opts.bytesPerRun / 1e6 / (m / 1000)).toFixed(0) : '-');
    if (withCpu) row.push(s.cpu && s.cpu.length > 0 ? `${median(s.cpu).toFixed(2)}s` : '-');
    if (base) row.push(times(ratio(s.samples, base.samples)));
    row.push(s.note ?? '');
    return row;
  });
  const out: string[] = [];
  if (opts.title) out.push(opts.title);
  out.push(...alignedLines(header, rows));
  for (const [a, b] of opts.ratios ?? []) {
    const sa = series.find((s) => s.name === a);
    const sb = series.find((s) => s.name === b);
    out.push(`${a} / ${b}: ${sa && sb ? times(ratio(sa.samples, sb.samples)) : 'n/a'}`);
  }
  const text = `${out.join('\n')}\n`;
  (opts.write ?? ((t: string) => process.stdout.write(t)))(text);
  return text;
}

/**
 * Undo steps run newest first, on success, failure or Ctrl-C alike: a benchmark must never
 * leave a registry, a daemon or temp dirs behind.
 */
export function cleanupStack(log: (msg: string) => void): { cleanups: (() => Promise<void>)[]; cleanup: () => Promise<void> } {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => log(`cleanup: ${(e as Error).message}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return { cleanups, cleanup };
}
