// What every workload file provides, and the steps they share.
import type { LoopFs } from '../loopfs.js';
import type { Preset } from '../presets.js';
import { dirtyMiB, type Scratch } from '../scratch.js';
import type { Batch, CaseSpec, Contender, Measurement, Metric, WorkloadId } from '../types.js';

export interface Env {
  readonly preset: Preset;
  readonly scratch: Scratch;
  /** W7's second filesystem, or why there is none. */
  readonly loop: LoopFs | string;
  /** Open files a child may hold: the largest batch a contender can keep open at once. */
  readonly fdLimit: number;
}

export interface Workload {
  readonly id: WorkloadId;
  readonly name: string;
  /** The cases to run here, or why none can. */
  cases(env: Env): CaseSpec[] | string;
  /** One timed round: fresh dirty data, the contender's timed work, cleanup outside the clock. */
  round(env: Env, spec: CaseSpec, who: Contender): Promise<Measurement>;
}

export const FLUSH_TIME: Metric = { key: 'ms', label: 'flush time', unit: 'ms', better: 'lower' };

export const KiB = 1024;
export const MiB = 1024 * 1024;

export function withDetail(m: Measurement, extra: Record<string, unknown>): Measurement {
  return { values: m.values, detail: { ...m.detail, ...extra } };
}

/**
 * Writes a batch of new files in a fresh directory on each base (after `prepare`, which may add
 * noise and returns how to undo it), runs the contender's timed work on it (its flush by
 * default), then removes everything and syncs the removal away so the next contender starts clean.
 */
export async function flushRound(
  env: Env,
  who: Contender,
  opts: { bases: readonly string[]; tag: string; files: number; bytes: number; prepare?: () => () => void },
  timed: (batch: Batch) => Promise<Measurement> = (batch) => who.flush!(batch),
): Promise<Measurement> {
  const dirs = opts.bases.map((base) => env.scratch.fresh(`${opts.tag}-${who.id}`, base));
  let undo: (() => void) | undefined;
  try {
    undo = opts.prepare?.();
    const batch = env.scratch.writeBatch(dirs, opts.files, opts.bytes);
    const dirty = dirtyMiB();
    const m = await timed(batch);
    return dirty ? withDetail(m, { dirtyMiBAtStart: dirty.dirty, writebackMiBAtStart: dirty.writeback }) : m;
  } finally {
    for (const dir of dirs) env.scratch.remove(dir);
    undo?.();
    env.scratch.settle();
  }
}

/** A fresh directory for work that creates its own file (W3, W5), removed and synced after. */
export async function inFreshDir<T>(env: Env, tag: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = env.scratch.fresh(tag);
  try {
    return await work(dir);
  } finally {
    env.scratch.remove(dir);
    env.scratch.settle();
  }
}

export const fmtCount = (n: number) => n.toLocaleString('en-US');
