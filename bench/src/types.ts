// The vocabulary shared by workloads, contenders, the runner and the reports.

/** Who a contender stands for: the baseline users have, the hardware limit, or fsync2. */
export type Family = 'node' | 'coreutils' | 'c' | 'fsync2' | 'fsync2-js' | 'idle';

/** The four shapes of timed work: a batch flush, group commit, a latency probe, one file. */
export type Kind = 'flush' | 'append' | 'probe' | 'latency';

/** Freshly written, still dirty files, closed: each contender opens them outside the clock. */
export interface Batch {
  readonly dirs: readonly string[];
  readonly files: number;
  /** Bytes per file. */
  readonly bytes: number;
}

/** W3: `appenders` concurrent callers append `bytes` to one new log file, each then flushes. */
export interface AppendSpec {
  readonly file: string;
  readonly appenders: number;
  readonly seconds: number;
  readonly bytes: number;
}

/** W4: threadpool probes every millisecond while `batch` is flushed (or for idleMs, idle). */
export interface ProbeSpec {
  readonly batch: Batch | null;
  readonly idleMs: number;
  /** What fs.promises.stat probes: a path on the disk under test. */
  readonly statPath: string;
}

/** W5: one caller appends `bytes` to one new file and flushes, `iterations` times. */
export interface LatencySpec {
  readonly file: string;
  readonly iterations: number;
  readonly bytes: number;
}

/** One timed round of one contender: metric values, plus small facts worth keeping. */
export interface Measurement {
  readonly values: Readonly<Record<string, number>>;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface Contender {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  /** Why it cannot run on this machine at all (no cc, …). */
  readonly unavailable?: string;
  /** Why it has nothing to say about a kind of work. */
  readonly notApplicable?: Partial<Record<Kind, string>>;
  flush?(batch: Batch): Promise<Measurement>;
  append?(spec: AppendSpec): Promise<Measurement>;
  probe?(spec: ProbeSpec): Promise<Measurement>;
  latency?(spec: LatencySpec): Promise<Measurement>;
}

/** Thrown by a contender that cannot take this particular input (a batch too long for argv). */
export class Skip extends Error {}

export interface Metric {
  readonly key: string;
  readonly label: string;
  readonly unit: 'ms' | 'appends/s';
  readonly better: 'lower' | 'higher';
}

export type WorkloadId = 'W1' | 'W2' | 'W3' | 'W4' | 'W5' | 'W6' | 'W7';

export interface CaseSpec {
  /** Unique in a run: 'W1-1000', 'W3', … */
  readonly id: string;
  readonly workload: WorkloadId;
  readonly title: string;
  readonly kind: Kind;
  readonly metrics: readonly Metric[];
  readonly params: Readonly<Record<string, number | string>>;
  /** The family whose best median is "the limit": the C reference, or W4's idle probe. */
  readonly limitFamily: Family;
}
