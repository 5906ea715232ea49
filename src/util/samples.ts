/**
 * Medians and spreads of measured samples. Medians, not means: one run disturbed by writeback
 * or a neighbour's build should not move the headline number; min and max next to it show how
 * noisy the runs were. Used by `hull compare` and the benchmarks.
 */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Spread {
  min: number;
  max: number;
  /** (max - min) / median: how far apart the runs were, relative to the headline number. */
  relative: number;
}

export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) return { min: Number.NaN, max: Number.NaN, relative: Number.NaN };
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  const m = median(xs);
  return { min, max, relative: m > 0 ? (max - min) / m : 0 };
}
