/**
 * Request timing for benchmarks and profiling: with HULL_API_TRACE=FILE, `hull serve` appends
 * one JSON line per request to FILE when its handler is done: method, path, status, and the
 * start and end as Unix milliseconds (fractional, so other processes' clocks line up with it).
 * Off (and free) otherwise.
 */
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface TraceLine {
  method: string;
  path: string;
  status: number;
  start: number;
  end: number;
}

/** Unix time in milliseconds with sub-millisecond precision. */
export function unixMs(): number {
  return performance.timeOrigin + performance.now();
}

export type Tracer = (line: TraceLine) => void;

export function tracerFromEnv(env: NodeJS.ProcessEnv = process.env): Tracer | undefined {
  const file = env.HULL_API_TRACE;
  if (!file) return undefined;
  return (line) => {
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // a trace must never break a request
    }
  };
}
