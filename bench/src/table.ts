// The scoreboard as text: one block per workload case and metric.
import { fmtRatio, fmtValue, unitText } from './format.js';
import type { CaseResult, ContenderResult, MetricResult, ResultDoc, Row } from './results.js';
import { codeLine } from './machine.js';
import { median } from './stats.js';

function pad(s: string, width: number, right = false): string {
  const n = [...s].length;
  if (n >= width) return s;
  return right ? ' '.repeat(width - n) + s : s + ' '.repeat(width - n);
}

// What the reader needs next to a number: the plan fsync2 actually ran, bandwidth, p50s.
function note(c: CaseResult, metric: MetricResult, row: Row, who: ContenderResult | undefined): string {
  // Facts hold what every round reported alike; details the rest, per round.
  const details = (who?.details ?? [{}]).map((d) => ({ ...who?.facts, ...d }));
  const parts: string[] = [];
  if (details.some((d) => d.durable === false)) parts.push('NOT durable');
  if (row.family === 'fsync2' || row.family === 'fsync2-js') {
    const plans = [...new Set(details.flatMap((d) => (Array.isArray(d.plans) ? (d.plans as string[]) : [])))];
    const strategy = row.id.slice(row.id.lastIndexOf('-') + 1);
    if (plans.length > 0 && (strategy === 'auto' || plans.some((p) => p !== strategy))) {
      // The first round's reason stands for the rest: they differ only in their numbers.
      const reasons = [...new Set(details.flatMap((d) => (Array.isArray(d.reasons) ? (d.reasons as string[]) : [])))];
      const first = reasons[0] ?? '';
      const short = first.length > 100 ? `${first.slice(0, 99)}…` : first;
      const why = strategy === 'auto' || !short ? '' : ` (${short}${reasons.length > 1 ? `; +${reasons.length - 1} more` : ''})`;
      parts.push(`ran ${plans.join('+')}${why}`);
    }
  }
  if (c.workload === 'W6' && metric.unit === 'ms') {
    const bytes = Number(c.params.files) * Number(c.params.bytes);
    parts.push(`${(bytes / 1e9 / (row.median / 1000)).toFixed(2)} GB/s`);
  }
  if (c.workload === 'W4') {
    const key = metric.key === 'statP99' ? 'statP50' : 'pbkdf2P50';
    const p50 = median(details.map((d) => Number(d[key])).filter(Number.isFinite));
    if (Number.isFinite(p50)) parts.push(`p50 ${fmtValue(p50, 'ms')}`);
    const flushMs = median(details.map((d) => Number(d.flushMs)).filter(Number.isFinite));
    if (Number.isFinite(flushMs) && row.family !== 'idle') parts.push(`flush ${fmtValue(flushMs, 'ms')} ms`);
  }
  return parts.join(', ');
}

function block(c: CaseResult, metric: MetricResult): string {
  const lines: string[] = [];
  const head = c.metrics.length > 1 ? `${c.title} — ${metric.label}` : c.title;
  lines.push(`${c.id}  ${head} (${unitText(metric)})`);
  const ref = (r: MetricResult['limit'], what: string) =>
    r ? `${what}: ${r.label}, ${fmtValue(r.median, metric.unit)} ${metric.unit}` : `${what}: –`;
  lines.push(`    ${ref(metric.limit, 'limit')} · ${ref(metric.bestNode, 'best Node')}`);
  const header = ['contender', 'median', 'min–max', 'vs Node', 'vs limit', 'note'];
  const rows: string[][] = [];
  const byId = new Map(c.contenders.map((x) => [x.id, x]));
  for (const who of c.contenders) {
    if (who.notApplicable) continue;
    const row = metric.rows.find((r) => r.id === who.id);
    if (!row) {
      const why = who.skipped ? `skipped: ${who.skipped}` : who.error ? `FAILED: ${who.error}` : 'no samples';
      rows.push([who.label, '–', '', '', '', why]);
      continue;
    }
    rows.push([
      row.label,
      fmtValue(row.median, metric.unit),
      `${fmtValue(row.min, metric.unit)}–${fmtValue(row.max, metric.unit)}`,
      fmtRatio(row.vsNode),
      fmtRatio(row.vsLimit),
      note(c, metric, row, byId.get(row.id)),
    ]);
  }
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...r[i]!].length)));
  const fmt = (r: string[]) =>
    `    ${r.map((cell, i) => (i === r.length - 1 ? cell : pad(cell, widths[i]!, i >= 1 && i <= 4))).join('  ')}`.trimEnd();
  lines.push(fmt(header));
  for (const r of rows) lines.push(fmt(r));
  return lines.join('\n');
}

export function renderTable(doc: ResultDoc, machine: string): string {
  const out: string[] = [];
  out.push(`${codeLine(doc.machine)}, bench ${doc.preset}, ${doc.rounds} rounds, ${doc.date.slice(0, 10)}`, `on ${machine}`);
  out.push(
    'vs Node / vs limit: cost ÷ the best Node contender\'s / the limit\'s (time ÷ time; for throughput the inverse).',
    'Below 1 is better than the reference. The limit: the fastest C reference (W4: the idle process).',
    '',
  );
  for (const c of doc.cases) for (const m of c.metrics) out.push(block(c, m), '');
  for (const s of doc.skipped) out.push(`${s.workload} skipped: ${s.reason}`);
  return out.join('\n').trimEnd() + '\n';
}
