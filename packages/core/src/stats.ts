// Counters and a latency window for syncer.stats(). Percentiles come from the last LATENCY_WINDOW
// requests: bounded memory however many requests pass through.
const LATENCY_WINDOW = 8192;

export interface SyncerStats {
  /** Targets accepted by sync()/each() since the syncer was created. */
  readonly requests: number;
  /** Requests served by a flush that also served an earlier request (group commit at work). */
  readonly merged: number;
  /** Requests answered from a remembered failure (sticky), without a flush. */
  readonly sticky: number;
  /** Syscalls issued, by name: fsync, fdatasync, syncfs, sync_file_range, and io_uring_fsync / io_uring_fdatasync for flushes submitted through io_uring. */
  readonly flushes: Readonly<Record<string, number>>;
  /** Targets of calls not yet answered (what maxQueue bounds). */
  readonly queueDepth: number;
  /** Requests waiting for a flush to start, and requests whose flush is running. */
  readonly queued: number;
  readonly inflight: number;
  /** Files whose last flush failed and which fail every request until reset(). */
  readonly failedFiles: number;
  /** From a request's arrival at the scheduler to its answer, in ms, over the last 8,192 requests. */
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly samples: number };
}

export class StatsRecorder {
  requests = 0;
  merged = 0;
  sticky = 0;
  readonly flushes: Record<string, number> = { fsync: 0, fdatasync: 0, syncfs: 0, sync_file_range: 0, io_uring_fsync: 0, io_uring_fdatasync: 0 };
  readonly #latency = new Float64Array(LATENCY_WINDOW);
  #count = 0;

  latency(ms: number): void {
    this.#latency[this.#count % LATENCY_WINDOW] = ms;
    this.#count++;
  }

  percentiles(): SyncerStats['latencyMs'] {
    const n = Math.min(this.#count, LATENCY_WINDOW);
    if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0, samples: 0 };
    const sorted = this.#latency.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1]!, samples: n };
  }
}
