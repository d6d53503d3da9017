// The scoreboard as a picture: for each workload, how far each way of flushing is from the limit
// measured in the same run. One shared log axis, 1× at the limit, shorter bars are better.
import { fmtRatio, fmtValue } from './format.js';
import type { CaseResult, MetricResult, ResultDoc, Row } from './results.js';
import { codeLine } from './machine.js';
import type { Family } from './types.js';

const COLORS: Record<Family, string> = {
  node: '#e8590c',
  coreutils: '#9c36b5',
  c: '#212529',
  fsync2: '#2b8a3e',
  'fsync2-js': '#8ce99a',
  idle: '#868e96',
};

const W = 960;
const LABEL_X = 16;
const PLOT_X = 330;
const PLOT_W = 470;
const ROW_H = 19;
const HEAD_H = 38;
const GAP = 12;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Bar {
  readonly label: string;
  readonly row: Row;
}

function pick(rows: readonly Row[], family: Family, better: (a: Row, b: Row) => boolean): Row | null {
  let winner: Row | null = null;
  for (const r of rows) if (r.family === family && r.vsLimit !== null && (!winner || better(r, winner))) winner = r;
  return winner;
}

// A handful of bars per workload: what users have (best Node, best shell tool) against what
// fsync2 gives by default (auto, both paths) and at best (its fastest strategy).
// In W4 every Node row: the best probe comes from the slowest flush (one thread busy at a time),
// and the point is what the fast ones do to the rest of the process.
function bars(c: CaseResult, metric: MetricResult): Bar[] {
  const rows = metric.rows.filter((r) => r.vsLimit !== null);
  const lower = (a: Row, b: Row) => a.vsLimit! < b.vsLimit!;
  const out: Bar[] = [];
  if (c.kind === 'probe') {
    for (const r of rows) if (r.family === 'node') out.push({ label: r.label, row: r });
  } else {
    const node = pick(rows, 'node', lower);
    if (node) out.push({ label: node.label, row: node });
  }
  const shell = pick(rows, 'coreutils', lower);
  if (shell) out.push({ label: shell.label, row: shell });
  for (const id of ['fsync2-auto', 'fsync2-js-auto']) {
    const r = rows.find((x) => x.id === id);
    if (r) out.push({ label: r.label, row: r });
  }
  const fastest = [...rows.filter((r) => r.family === 'fsync2' || r.family === 'fsync2-js')].sort((a, b) => a.vsLimit! - b.vsLimit!)[0];
  if (fastest && !out.some((b) => b.row.id === fastest.id)) out.push({ label: `${fastest.label} (fsync2's best)`, row: fastest });
  return out;
}

function ticks(hi: number): number[] {
  const out: number[] = [];
  for (let decade = 1; decade <= hi * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) if (decade * m <= hi * 1.0001) out.push(decade * m);
  }
  return out;
}

export function renderSvg(doc: ResultDoc, machine: string): string {
  const blocks: Array<{ c: CaseResult; metric: MetricResult; bars: Bar[] }> = [];
  for (const c of doc.cases) for (const metric of c.metrics) if (metric.limit) blocks.push({ c, metric, bars: bars(c, metric) });

  const ratios = blocks.flatMap((b) => b.bars.map((x) => x.row.vsLimit!));
  const lo = Math.min(0.5, ...ratios.map((r) => r / 1.5));
  const hi = Math.max(10, ...ratios.map((r) => r * 1.5));
  const x = (r: number) => PLOT_X + (Math.log(r / lo) / Math.log(hi / lo)) * PLOT_W;

  const top = 96;
  const height = top + blocks.reduce((h, b) => h + HEAD_H + Math.max(1, b.bars.length) * ROW_H + GAP, 0) + 56;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LABEL_X}" y="28" font-size="18" font-weight="700" fill="#212529">fsync2: how far from the hardware limit?</text>`,
    `<text x="${LABEL_X}" y="48" fill="#495057">Cost relative to the limit measured in the same run (the fastest plain-C reference; W4: an idle process). 1× = at the limit; shorter is better; log scale.</text>`,
  );
  // Legend.
  const legend: Array<[Family, string]> = [
    ['node', 'Node today'],
    ['coreutils', 'coreutils sync'],
    ['fsync2', 'fsync2, addon'],
    ['fsync2-js', 'fsync2, pure TS'],
  ];
  legend.forEach(([family, text], i) => {
    const lx = LABEL_X + i * 150;
    parts.push(
      `<rect x="${lx}" y="60" width="12" height="12" rx="2" fill="${COLORS[family]}"/>`,
      `<text x="${lx + 18}" y="70.5" fill="#212529">${esc(text)}</text>`,
    );
  });

  // The axis once at the top; gridlines only behind each workload's bars, never through titles.
  const tickList = ticks(hi);
  // On a wide axis only the decades are labelled; 2× and 5× keep their gridlines.
  const wide = hi / lo > 200;
  for (const t of tickList) {
    if (wide && !Number.isInteger(Math.log10(t))) continue;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${top - 12}" text-anchor="middle" fill="#868e96" font-size="11">${t === 1 ? '1× limit' : `${t}×`}</text>`,
    );
  }
  const grid = (y0: number, y1: number) =>
    tickList.map((t) => {
      const tx = x(t).toFixed(1);
      const limitLine = t === 1;
      return `<line x1="${tx}" y1="${y0}" x2="${tx}" y2="${y1}" stroke="${limitLine ? '#212529' : '#e9ecef'}" stroke-width="${limitLine ? 1.5 : 1}"/>`;
    });

  let y = top;
  for (const { c, metric, bars: list } of blocks) {
    const what = c.metrics.length > 1 ? `${c.title} — ${metric.label}` : c.title;
    parts.push(`<text x="${LABEL_X}" y="${y + 16}" font-weight="700" fill="#212529">${esc(`${c.workload} · ${what}`)}</text>`);
    const limit = metric.limit!;
    parts.push(
      `<text x="${LABEL_X}" y="${y + 31}" fill="#868e96" font-size="11">${esc(`limit: ${limit.label}, ${fmtValue(limit.median, metric.unit)} ${metric.unit} (${metric.better} is better)`)}</text>`,
    );
    y += HEAD_H;
    parts.push(...grid(y, y + Math.max(1, list.length) * ROW_H));
    if (list.length === 0) {
      parts.push(`<text x="${PLOT_X}" y="${y + 13}" fill="#868e96">no contender ran</text>`);
      y += ROW_H;
    }
    for (const { label, row } of list) {
      const r = row.vsLimit!;
      const x0 = x(Math.min(1, r));
      const x1 = x(Math.max(1, r));
      const w = Math.max(2, x1 - x0);
      parts.push(
        `<text x="${PLOT_X - 8}" y="${y + 13}" text-anchor="end" fill="#343a40">${esc(label)}</text>`,
        `<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" rx="2" fill="${COLORS[row.family]}"><title>${esc(`${row.label}: median ${fmtValue(row.median, metric.unit)} ${metric.unit}, ${fmtRatio(r)} the limit, ${fmtRatio(row.vsNode)} the best Node`)}</title></rect>`,
        `<text x="${(x0 + w + 6).toFixed(1)}" y="${y + 13}" fill="#212529" stroke="#ffffff" stroke-width="3" paint-order="stroke">${esc(`${fmtRatio(r)}  ·  ${fmtValue(row.median, metric.unit)} ${metric.unit}`)}</text>`,
      );
      y += ROW_H;
    }
    y += GAP;
  }

  parts.push(
    `<text x="${LABEL_X}" y="${height - 30}" fill="#495057" font-size="11">${esc(`Taken on ${machine}`)}</text>`,
    `<text x="${LABEL_X}" y="${height - 14}" fill="#495057" font-size="11">${esc(`${doc.date.slice(0, 10)} · ${codeLine(doc.machine)} · pnpm bench (${doc.preset}, ${doc.rounds} rounds, medians) · raw samples in latest.json`)}</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}
