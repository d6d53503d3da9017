// Medians with their spread, percentiles, and ratios that always read "lower is better".
import type { Metric } from './types.js';

export function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile, p in [0, 1]: always one of the samples, never an interpolation. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  const rank = Math.max(1, Math.ceil(p * s.length));
  return s[Math.min(rank, s.length) - 1]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(xs: readonly number[]): Summary {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * Cost of `value` relative to `reference`: time ÷ time, or for throughput the inverse, so every
 * ratio reads the same way: 1 = as good as the reference, 2 = twice the cost, 0.5 = half.
 */
export function costRatio(value: number, reference: number, better: Metric['better']): number {
  return better === 'lower' ? value / reference : reference / value;
}

/** The best of several medians for a metric. */
export function best<T extends { median: number }>(rows: readonly T[], better: Metric['better']): T | null {
  let winner: T | null = null;
  for (const row of rows) {
    if (!Number.isFinite(row.median)) continue;
    if (!winner || (better === 'lower' ? row.median < winner.median : row.median > winner.median)) winner = row;
  }
  return winner;
}
