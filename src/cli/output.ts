/** Listings and inspect output: Docker's default tables, or the user's --format. */
import { compileFormat, formatRows, renderTable } from './format.js';
import type { Engine } from '../engine/engine.js';
import { out, printJson, withEngine } from './context.js';

export interface Column {
  key: string;
  header: string;
}

/** Print rows as the default table, or through `--format` (table/json/template). */
export function printRows(rows: Record<string, string>[], columns: Column[], format: string | undefined): void {
  if (!format || format === 'table') {
    process.stdout.write(renderTable(rows, columns));
    return;
  }
  const titles = Object.fromEntries(columns.map((c) => [c.key, c.header]));
  process.stdout.write(formatRows(format, rows, titles));
}

/** `inspect --format`: the template applied to each object, one line each. */
export function formatEach(values: unknown[], format: string): void {
  const f = compileFormat(format);
  for (const v of values) out(f(v));
}

/**
 * `inspect` of any object kind, as the docker CLI prints it: the objects found as one JSON array (or
 * the template once per object), an error line per name not found, and exit status 1 if any was.
 * `lookup` answers undefined for a name that matches nothing.
 */
export async function inspectNames(
  names: readonly string[],
  lookup: (engine: Engine, name: string) => unknown,
  notFound: (name: string) => string,
  format: string | undefined,
): Promise<void> {
  const found: unknown[] = [];
  const missing: string[] = [];
  await withEngine((engine) => {
    for (const n of names) {
      const v = lookup(engine, n);
      if (v === undefined) missing.push(notFound(n));
      else found.push(v);
    }
  });
  if (format) formatEach(found, format);
  else printJson(found);
  for (const m of missing) process.stderr.write(`${m}\n`);
  if (missing.length > 0) process.exitCode = 1;
}
