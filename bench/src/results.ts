// From raw rounds to the scoreboard: medians, spread, and each contender's cost relative to the
// best Node contender and to the limit. This document is what latest.json holds.
import type { Machine } from './machine.js';
import type { CaseRun } from './runner.js';
import { best, costRatio, summarize } from './stats.js';
import type { CaseSpec, Family, Metric } from './types.js';

export interface Ref {
  readonly id: string;
  readonly label: string;
  readonly median: number;
}

export interface Row {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  /** One value per round, in round order: the raw samples. */
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Cost ÷ the best Node contender's (lower is better; throughput is inverted). */
  readonly vsNode: number | null;
  /** Cost ÷ the limit's (lower is better; 1 = as fast as the fastest C reference). */
  readonly vsLimit: number | null;
}

export interface MetricResult extends Metric {
  readonly limit: Ref | null;
  readonly bestNode: Ref | null;
  readonly rows: readonly Row[];
}

export interface ContenderResult {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  readonly skipped?: string;
  readonly notApplicable?: string;
  readonly error?: string;
  /** What the contender reported beyond the metric, the same in every round (plans, syscalls, …). */
  readonly facts?: Readonly<Record<string, unknown>>;
  /** The rest of it, per round in round order (p50s, dirty MiB at the start, …). */
  readonly details?: ReadonlyArray<Readonly<Record<string, unknown>>>;
}

export interface CaseResult extends Omit<CaseSpec, 'metrics'> {
  readonly seconds: number;
  readonly metrics: readonly MetricResult[];
  readonly contenders: readonly ContenderResult[];
}

export interface ResultDoc {
  readonly schema: 'fsync2-bench/1';
  readonly date: string;
  readonly preset: string;
  readonly rounds: number;
  readonly argv: readonly string[];
  readonly seconds: number;
  readonly machine: Machine;
  readonly contenders: Readonly<Record<string, unknown>>;
  /** Workloads or sizes that did not run, and why. */
  readonly skipped: ReadonlyArray<{ readonly workload: string; readonly reason: string }>;
  readonly cases: readonly CaseResult[];
}

// Keeps latest.json small: what every round reported alike is stored once.
function split(details: ReadonlyArray<Readonly<Record<string, unknown>>>): Pick<ContenderResult, 'facts' | 'details'> {
  if (details.length === 0) return {};
  const keys = new Set(details.flatMap((d) => Object.keys(d)));
  const facts: Record<string, unknown> = {};
  for (const key of keys) {
    const first = JSON.stringify(details[0]![key]);
    if (details.every((d) => key in d && JSON.stringify(d[key]) === first)) facts[key] = details[0]![key];
  }
  const rest = details.map((d) => Object.fromEntries(Object.entries(d).filter(([k]) => !(k in facts))));
  return {
    ...(Object.keys(facts).length ? { facts } : {}),
    ...(rest.some((d) => Object.keys(d).length > 0) ? { details: rest } : {}),
  };
}

const round3 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x);

export function caseResult(run: CaseRun): CaseResult {
  const { spec } = run;
  const measured = run.runs.filter((r) => r.samples.length > 0 && r.error === null && r.skipped === null);
  const metrics = spec.metrics.map((metric): MetricResult => {
    const base = measured.map((r) => {
      const samples = r.samples.map((m) => round3(m.values[metric.key] ?? Number.NaN));
      return { id: r.contender.id, label: r.contender.label, family: r.contender.family, samples, ...summarize(samples) };
    });
    const bestNode = best(base.filter((r) => r.family === 'node'), metric.better);
    const limit = best(base.filter((r) => r.family === spec.limitFamily), metric.better);
    const rows = base.map((r) => ({
      ...r,
      vsNode: bestNode ? round3(costRatio(r.median, bestNode.median, metric.better)) : null,
      vsLimit: limit ? round3(costRatio(r.median, limit.median, metric.better)) : null,
    }));
    const ref = (r: typeof bestNode): Ref | null => (r ? { id: r.id, label: r.label, median: r.median } : null);
    return { ...metric, limit: ref(limit), bestNode: ref(bestNode), rows };
  });
  const contenders = run.runs.map((r): ContenderResult => ({
    id: r.contender.id,
    label: r.contender.label,
    family: r.contender.family,
    ...(r.skipped !== null ? { skipped: r.skipped } : {}),
    ...(r.notApplicable !== null ? { notApplicable: r.notApplicable } : {}),
    ...(r.error !== null ? { error: r.error } : {}),
    ...split(r.samples.map((m) => m.detail ?? {})),
  }));
  const { metrics: _, ...rest } = spec;
  return { ...rest, seconds: Math.round(run.seconds * 10) / 10, metrics, contenders };
}

// Six significant digits are plenty for timings.
function compact(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value) ? Number(value.toPrecision(6)) : value;
}

/** Indented JSON whose small objects and arrays (samples, details) stay on one line. */
export function serialize(doc: ResultDoc): string {
  const plain = JSON.parse(JSON.stringify(doc, compact)) as unknown;
  const write = (value: unknown, indent: string): string => {
    const flat = JSON.stringify(value);
    if (value === null || typeof value !== 'object' || flat.length + indent.length <= 110) return flat;
    const inner = `${indent}  `;
    if (Array.isArray(value)) return `[\n${value.map((v) => inner + write(v, inner)).join(',\n')}\n${indent}]`;
    const entries = Object.entries(value as Record<string, unknown>);
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${write(v, inner)}`).join(',\n')}\n${indent}}`;
  };
  return `${write(plain, '')}\n`;
}
