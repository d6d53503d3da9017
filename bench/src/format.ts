// Numbers as people read them, shared by the table and the chart.
import type { Metric } from './types.js';

const grouped = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** About three significant digits, without scientific notation. */
export function fmtValue(x: number, unit: Metric['unit']): string {
  if (!Number.isFinite(x)) return '–';
  if (unit === 'appends/s') return grouped(x);
  if (x < 1) return x.toFixed(3);
  if (x < 10) return x.toFixed(2);
  if (x < 100) return x.toFixed(1);
  return grouped(x);
}

export function fmtRatio(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '–';
  if (x < 10) return `${x.toFixed(2)}×`;
  if (x < 100) return `${x.toFixed(1)}×`;
  return `${grouped(x)}×`;
}

export function unitText(m: Metric): string {
  return `${m.unit}, ${m.better} is better`;
}
