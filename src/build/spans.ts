/**
 * Where a build's time goes: named spans, summed per name. Off unless HULL_BUILD_TRACE names a
 * file; then each build appends one JSON line `{"total":ms,"spans":{name:ms,…},"counts":{…}}`
 * (bench/build.ts reads it to break a cached rebuild down). Cheap enough to leave the calls in.
 */
import { appendFileSync } from 'node:fs';

export class Spans {
  private readonly ms = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private readonly started = performance.now();

  constructor(readonly file: string | undefined = process.env.HULL_BUILD_TRACE || undefined) {}

  private add(name: string, t0: number): void {
    if (!this.file) return;
    this.ms.set(name, (this.ms.get(name) ?? 0) + performance.now() - t0);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  sync<T>(name: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(name, t0);
    }
  }

  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(name, t0);
    }
  }

  /** Appends this build's line to the trace file (when tracing). */
  flush(): void {
    if (!this.file) return;
    const round = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 100) / 100]));
    const line = { total: Math.round((performance.now() - this.started) * 100) / 100, spans: round(this.ms), counts: Object.fromEntries(this.counts) };
    appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }
}
