/**
 * Span tracer for hull's critical paths (start-up budget, issue 3). Off unless HULL_TRACE is
 * set; then every `span`/`mark` is kept and, when the process exits, a table goes to stderr
 * (HULL_TRACE=1) or is appended to a file (HULL_TRACE=/path). Each row: the phase, when it began
 * and how long it took, in ms from the command's origin. The origin is HULL_TRACE_T0 (epoch µs,
 * set by the native client as it starts, so the client→worker hand-over is visible) or else
 * this process's own start.
 *
 * Cheap when off: one env lookup per span, no allocation. The env is read per call, not once at
 * load: a warm worker imports this long before it receives the command's environment.
 */
import { appendFileSync, writeSync } from 'node:fs';
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';

interface Span {
  name: string;
  /** ms since the origin */
  start: number;
  /** undefined for a mark (a point in time) or a span still open at exit */
  ms?: number;
  /** this process's CPU (user + system) during the span, ms; children (runc, ip) not included */
  cpu?: number;
  depth: number;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let spans: Span[] | undefined;
let depth = 0;

function enabled(): boolean {
  const v = process.env.HULL_TRACE;
  return v !== undefined && v !== '' && v !== '0';
}

/** ms of the process's clock at the command's origin (see the header). */
function originMs(): number {
  const t0 = Number(process.env.HULL_TRACE_T0);
  // performance.now() counts from timeOrigin (epoch ms, fractional).
  return Number.isFinite(t0) && t0 > 0 ? t0 / 1000 - performance.timeOrigin : 0;
}

function now(): number {
  return performance.now() - origin!;
}

let origin: number | undefined;

/**
 * V8's garbage collections during the traced command, as rows of their own: a scavenge is 1-2 ms
 * of the main thread, invisible in the spans it lands in. Node delivers the entries
 * asynchronously, so one in the command's last synchronous stretch may be missing.
 */
const gcEntries: PerformanceEntry[] = [];
let gcObserver: PerformanceObserver | undefined;

function observeGc(): void {
  gcObserver = new PerformanceObserver((list) => {
    // Bounded like the spans (MAX_ROWS): `hull serve` may be traced for hours.
    for (const e of list.getEntries()) if (gcEntries.length < MAX_ROWS) gcEntries.push(e);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

function gcKind(e: PerformanceEntry): string {
  const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) return 'scavenge';
  if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) return 'mark-sweep';
  if (kind === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL) return 'incremental marking';
  return 'weak callbacks';
}

/** The GC rows, each placed among the others by its start (depth 0). */
function withGcRows(rows: Span[]): Span[] {
  gcObserver?.disconnect();
  const gcs = gcEntries.splice(0).map((e): Span => ({ name: `gc: ${gcKind(e)}`, start: e.startTime - origin!, ms: e.duration, depth: 0 }));
  if (gcs.length === 0) return rows;
  const out: Span[] = [];
  for (const r of rows) {
    while (gcs.length > 0 && gcs[0]!.start < r.start) out.push(gcs.shift()!);
    out.push(r);
  }
  return [...out, ...gcs];
}

function begin(): Span[] {
  if (!spans) {
    spans = [];
    origin = originMs();
    observeGc();
    process.once('exit', flushTrace);
    // The hand-over: from the client's start to this process's first traced phase.
    if (origin !== 0) spans.push({ name: 'client start -> first traced phase', start: 0, ms: now(), depth: 0 });
  }
  return spans;
}

/** Rows kept per process: a long-lived process (`hull serve`) traced for hours must not grow without bound. */
const MAX_ROWS = 10_000;

/** Time `fn` (sync or async) as phase `name`; nested spans are indented under it. */
export function span<T>(name: string, fn: () => T): T {
  if (!enabled()) return fn();
  const list = begin();
  if (list.length >= MAX_ROWS) return fn();
  const s: Span = { name, start: now(), depth: depth++ };
  list.push(s);
  const cpu0 = cpuNow();
  const end = (): void => {
    s.ms = now() - s.start;
    s.cpu = cpuNow() - cpu0;
    depth--;
  };
  let r: T;
  try {
    r = fn();
  } catch (e) {
    end();
    throw e;
  }
  if (r instanceof Promise) {
    return (r as Promise<unknown>).then(
      (v: unknown) => {
        end();
        return v;
      },
      (e: unknown) => {
        end();
        throw e;
      },
    ) as T;
  }
  end();
  return r;
}

/** The nesting depth a row started now would get; pass it to `record` later. */
export function traceDepth(): number {
  return depth;
}

/**
 * A phase another process timed (the container monitor reports its own): `startEpochMs` is
 * wall-clock ms since the epoch, `cpu` that process's CPU. `atDepth` (from `traceDepth()` when
 * the work began) keeps the row under its span when other async spans opened or closed since.
 */
export function record(name: string, startEpochMs: number, ms: number, cpu?: number, atDepth = depth): void {
  if (!enabled()) return;
  const list = begin();
  if (list.length >= MAX_ROWS) return;
  const start = startEpochMs - performance.timeOrigin - origin!;
  list.push({ name, start, ms, ...(cpu !== undefined && cpu >= 0 ? { cpu } : {}), depth: atDepth });
}

/** A point in time (e.g. "workload started"). */
export function mark(name: string): void {
  if (!enabled()) return;
  const list = begin();
  if (list.length < MAX_ROWS) list.push({ name, start: now(), depth });
}

/** The collected rows as text (also used by tests). */
export function formatTrace(rows: readonly Span[] = spans ?? []): string {
  const col = (v: number | undefined): string => (v === undefined ? '·' : v.toFixed(1)).padStart(8);
  const lines = rows.map((s) => `${s.start.toFixed(1).padStart(8)} ${col(s.ms)} ${col(s.cpu)}  ${'  '.repeat(s.depth)}${s.name}`);
  return `hull trace (pid ${process.pid}: ${process.argv.slice(2).join(' ')}; cpu: this process only, not runc or ip)\n   at ms    took  cpu ms  phase\n${lines.join('\n')}\n`;
}

/**
 * Writes the rows (once; later calls do nothing). Runs at exit; a warm CLI worker calls it
 * earlier, before it hands back its client's stdio (HULL_TRACE=1 writes to that stderr).
 */
export function flushTrace(): void {
  if (!spans || spans.length === 0) return;
  mark('exit');
  const text = formatTrace(withGcRows(spans));
  spans = [];
  const dest = process.env.HULL_TRACE ?? '1';
  try {
    if (dest.startsWith('/')) appendFileSync(dest, text);
    else writeSync(2, text);
  } catch {
    // tracing never breaks a command
  }
}
