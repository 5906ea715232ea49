/** Listings and inspect output: Docker's default tables, or the user's --format. */
import { compileFormat, formatRows, renderTable } from './format.js';
import { out } from './context.js';

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
