// The options pipeline in one file (piscina's habit): schema → defaults → readable error.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_POOL_OPTIONS } from '@fsync2/workers';
import { OptionsError } from './errors.js';

/**
 * Half the soft fd limit (Node raises it to the hard limit at start), at most 8192: large windows
 * let the planner see a whole batch's dirty data, and leave the process half its fds.
 */
function defaultMaxOpenFiles(): number {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (line) return Math.max(64, Math.min(8192, Math.floor(Number(line[1]) / 2)));
  } catch {
    // not Linux: the conservative window
  }
  return 1024;
}

/**
 * A plan's files: more than any one call of fds is likely to name. A 10,000-fd call split into
 * plans of 8,192 and 1,808 ran them as two io_uring batches at once, and the large one finished
 * later than one batch of 10,000 (interleaved probe, syncfs forbidden: 352 against 266 ms); split,
 * each plan also counted the other's dirty data as foreign to the noisy-neighbour guard.
 */
const DEFAULT_MAX_BATCH = 65_536;

export const STRATEGIES = ['auto', 'perFile', 'writeback', 'uring', 'syncfs'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** 'data': fdatasync (data and the metadata needed to read it back). 'full': fsync. */
export const MODES = ['data', 'full'] as const;
export type Mode = (typeof MODES)[number];

const poolSchema = z
  .strictObject({
    minThreads: z.int().min(0).max(1024).default(DEFAULT_POOL_OPTIONS.minThreads),
    maxThreads: z.int().min(1).max(1024).default(DEFAULT_POOL_OPTIONS.maxThreads),
    idleTimeout: z.int().min(0).default(DEFAULT_POOL_OPTIONS.idleTimeout),
    atomics: z.enum(['sync', 'async', 'disabled']).default(DEFAULT_POOL_OPTIONS.atomics),
    /** A flush lane for small flush tasks: one more thread, without piscina's message round trip. */
    lane: z.boolean().default(DEFAULT_POOL_OPTIONS.lane),
    /** µs the lane's thread polls for the next request after an answer before sleeping; 0 never polls. */
    pollUs: z.int().min(0).max(10_000).default(DEFAULT_POOL_OPTIONS.pollUs),
  })
  .refine((p) => p.minThreads <= p.maxThreads, {
    message: 'minThreads must not exceed maxThreads',
    path: ['minThreads'],
  });

export const syncerOptionsSchema = z.strictObject({
  /** How each filesystem's targets are flushed; every strategy keeps the promise. */
  strategy: z.enum(STRATEGIES).default('auto'),
  /** Default durability for targets that do not name their own. 'full' is the safe default. */
  mode: z.enum(MODES).default('full'),
  /** Flush threads: piscina's settings. */
  pool: poolSchema.default(() => poolSchema.parse({})),
  /**
   * Upper bound on the files fsync2 itself holds open at once (for path targets): a call with
   * more paths is flushed in windows of this size, far below the usual fd limits.
   */
  maxOpenFiles: z.int().min(1).max(1_000_000).default(defaultMaxOpenFiles),
  /** How strategy 'auto' chooses (and whether it may use syncfs). */
  planner: z
    .strictObject({
      /** syncfs flushes every dirty page of a filesystem; false keeps it out of 'auto' and 'syncfs'. */
      allowSyncfs: z.boolean().default(true),
      /** syncfs only when the batch owns at least this share of the system's dirty data… */
      syncfsMinShare: z.number().min(0).max(1).default(0.5),
      /** …or when the dirty data it does not own is at most this many MiB. */
      syncfsMaxForeignMiB: z.number().min(0).default(8),
      /** Chance that a batch of 16+ files tries another eligible plan, to keep the cost model current. */
      explore: z.number().min(0).max(1).default(0.05),
    })
    .default(() => ({ allowSyncfs: true, syncfsMinShare: 0.5, syncfsMaxForeignMiB: 8, explore: 0.05 })),
  /** Group commit: how requests are gathered into plans. */
  groupCommit: z
    .strictObject({
      /** µs to wait for more requests before a plan starts; 0: only what piles up while threads are busy. */
      windowUs: z.int().min(0).max(10_000_000).default(0),
      /** Most files in one plan (a bound on its arrays, not a tuning knob: see the README). */
      maxBatch: z.int().min(1).max(1_000_000).default(DEFAULT_MAX_BATCH),
    })
    .default(() => ({ windowUs: 0, maxBatch: DEFAULT_MAX_BATCH })),
  /**
   * Most targets of unanswered calls. A call that would pass it rejects at once with
   * ERR_FSYNC2_QUEUE_FULL and changes nothing else: backpressure, and bounded memory.
   */
  maxQueue: z.int().min(1).max(100_000_000).default(1_000_000),
});

export type SyncerOptions = z.input<typeof syncerOptionsSchema>;
export type ResolvedSyncerOptions = z.output<typeof syncerOptionsSchema>;

export const syncOptionsSchema = z.strictObject({
  /** Durability for targets that do not name their own; the syncer's `mode` by default. */
  mode: z.enum(MODES).optional(),
  /** Overrides the syncer's strategy for this call. */
  strategy: z.enum(STRATEGIES).optional(),
  /** Aborting stops work that has not started; a running flush is never interrupted. */
  signal: z.instanceof(AbortSignal).optional(),
  /** For path targets: also fsync each distinct parent directory, after its files. */
  parents: z.boolean().default(false),
});

export type SyncOptions = z.input<typeof syncOptionsSchema>;
export type ResolvedSyncOptions = z.output<typeof syncOptionsSchema>;

// What zod makes of the options nearly every call passes (none, { mode }, { strategy }, both),
// parsed once here and looked up per call. A parse costs ~1 µs in a hot loop but ~8 µs on a main
// thread just woken from its sleep, as a lone caller's is before every flush (W5), where it was a
// sixth of fsync2's own time before the flush started.
// By mode, then strategy (undefined included), without building a key string per call.
const COMMON_SYNC_OPTIONS = new Map<unknown, Map<unknown, ResolvedSyncOptions>>();
for (const mode of [undefined, ...MODES]) {
  const byStrategy = new Map<unknown, ResolvedSyncOptions>();
  for (const strategy of [undefined, ...STRATEGIES]) {
    byStrategy.set(strategy, Object.freeze(syncOptionsSchema.parse({ mode, strategy })));
  }
  COMMON_SYNC_OPTIONS.set(mode, byStrategy);
}
const NO_OPTIONS = COMMON_SYNC_OPTIONS.get(undefined)!.get(undefined)!;

/** A call's options: looked up when they hold only a valid mode and strategy, else parsed by zod. */
export function parseSyncOptions(input: unknown): ResolvedSyncOptions {
  if (input === undefined) return NO_OPTIONS;
  if (typeof input === 'object' && input !== null && Object.getPrototypeOf(input) === Object.prototype) {
    let plain = true;
    for (const key in input) if (key !== 'mode' && key !== 'strategy') plain = false;
    const { mode, strategy } = input as { mode?: unknown; strategy?: unknown };
    const hit = plain ? COMMON_SYNC_OPTIONS.get(mode)?.get(strategy) : undefined;
    if (hit) return hit;
  }
  return parseOptions(syncOptionsSchema, input, 'sync options');
}

export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = issue.path.length ? issue.path.join('.') : '(root)';
    return `${what}.${name}: ${issue.message}`;
  });
  throw new OptionsError(`invalid ${what}: ${lines.join('; ')}`, lines);
}
