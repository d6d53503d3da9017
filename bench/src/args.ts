// Command line: node:util's parseArgs is all the parsing this needs.
import { parseArgs } from 'node:util';
import { PRESETS, type Preset } from './presets.js';
import type { WorkloadId } from './types.js';

export const USAGE = `usage: pnpm bench [--quick | --large] [--only W1,W3] [--rounds N] [--out DIR] [--dir DIR]
                  [--fsync2-threads N] [--keep]
       pnpm bench --render FILE [--out DIR]

  --quick             small sizes, 2 rounds: under a minute (the CI smoke test)
  --large             larger sizes, more rounds
  --only W1,W3        run only these workloads (W1 … W7)
  --rounds N          rounds per workload (default: the preset's)
  --out DIR           where latest.json and latest.svg go (default bench/results)
  --dir DIR           scratch directory on the disk under test (default bench/results/tmp);
                      a fresh subdirectory is made in it and removed afterwards
  --fsync2-threads N  fsync2's pool.maxThreads (default: the library's default)
  --keep              keep the scratch directory
  --render FILE       measure nothing: print the table of a saved latest.json and write its SVG
                      (to --out, default next to FILE)
`;

export interface Options {
  readonly preset: Preset;
  readonly rounds: number;
  readonly only: ReadonlySet<WorkloadId> | null;
  readonly out: string | null;
  readonly dir: string | null;
  readonly fsync2Threads: number | null;
  readonly keep: boolean;
  readonly render: string | null;
}

const IDS = new Set(['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7']);

export function parseOptions(argv: readonly string[]): Options | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        large: { type: 'boolean', default: false },
        only: { type: 'string' },
        rounds: { type: 'string' },
        out: { type: 'string' },
        dir: { type: 'string' },
        'fsync2-threads': { type: 'string' },
        keep: { type: 'boolean', default: false },
        render: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return `${(err as Error).message}\n\n${USAGE}`;
  }
  if (parsed.help) return USAGE;
  if (parsed.quick && parsed.large) return `--quick and --large exclude each other\n\n${USAGE}`;
  const preset = PRESETS[parsed.quick ? 'quick' : parsed.large ? 'large' : 'default'];
  let only: Set<WorkloadId> | null = null;
  if (parsed.only !== undefined) {
    const ids = parsed.only.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
    const bad = ids.filter((id) => !IDS.has(id));
    if (bad.length || ids.length === 0) return `--only: unknown workload ${bad.join(', ') || '(none)'}; known: W1 … W7`;
    only = new Set(ids as WorkloadId[]);
  }
  const positive = (name: string, v: string | undefined): number | null | string => {
    if (v === undefined) return null;
    const n = Number(v);
    return Number.isInteger(n) && n > 0 ? n : `--${name} wants a positive integer, got ${v}`;
  };
  const rounds = positive('rounds', parsed.rounds);
  if (typeof rounds === 'string') return rounds;
  const threads = positive('fsync2-threads', parsed['fsync2-threads']);
  if (typeof threads === 'string') return threads;
  return {
    preset,
    rounds: rounds ?? preset.rounds,
    only,
    out: parsed.out ?? null,
    dir: parsed.dir ?? null,
    fsync2Threads: threads,
    keep: parsed.keep ?? false,
    render: parsed.render ?? null,
  };
}
