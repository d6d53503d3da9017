// The public object: options in, a scheduler over a pool of flush threads, an answer per call.
import { FlushPool, type FlushBackend, type NativeSource } from '@fsync2/workers';
import { Call } from './call.js';
import { syncFds } from './fd-call.js';
import { ClosedError, QueueFullError, SyncError } from './errors.js';
import { fileKey, type FileKey } from './file-key.js';
import {
  parseOptions,
  parseSyncOptions,
  syncerOptionsSchema,
  type ResolvedSyncerOptions,
  type ResolvedSyncOptions,
  type SyncerOptions,
  type SyncOptions,
} from './options.js';
import type { SyncReport, SyncTarget, TargetResult } from './report.js';
import { PinnedFds } from './pinned-fds.js';
import { Planner } from './planner.js';
import { Scheduler } from './scheduler.js';
import type { SyncerStats } from './stats.js';
import { toRequest } from './targets.js';
import { makeReport } from './results.js';

type Targets = SyncTarget | readonly SyncTarget[];

function asList(targets: Targets): readonly SyncTarget[] {
  return Array.isArray(targets) ? targets : [targets as SyncTarget];
}

export class Syncer {
  readonly #options: ResolvedSyncerOptions;
  readonly #pool: FlushBackend;
  readonly #scheduler: Scheduler;
  readonly #pinned: PinnedFds;
  /** Calls not yet answered, and who waits for them to drain (close()). */
  #calls = 0;
  #drained: (() => void) | null = null;
  /** Targets of calls not yet answered: what maxQueue bounds. */
  #depth = 0;
  #closing: Promise<void> | null = null;

  constructor(options?: SyncerOptions);
  /**
   * `pool` replaces the thread pool, for tests with a fake backend: not public API, stripped
   * from the published .d.ts.
   * @internal
   */
  constructor(options: SyncerOptions | undefined, pool: FlushBackend);
  constructor(options: SyncerOptions = {}, pool?: FlushBackend) {
    this.#options = parseOptions(syncerOptionsSchema, options, 'options');
    this.#pool = pool ?? new FlushPool(this.#options.pool);
    const p = this.#options.planner;
    const planner = new Planner({
      allowSyncfs: p.allowSyncfs,
      syncfsMinShare: p.syncfsMinShare,
      syncfsMaxForeignBytes: p.syncfsMaxForeignMiB * 2 ** 20,
      explore: p.explore,
    });
    this.#scheduler = new Scheduler(this.#pool, this.#options.groupCommit, planner);
    const backend = this.#pool;
    this.#pinned = new PinnedFds((fd) => backend.describeFd(fd), (fds, io) => backend.describeFds(fds, io));
  }

  /** The resolved options, defaults filled in. */
  get options(): ResolvedSyncerOptions {
    return this.#options;
  }

  /** 'native' when the addon issues the syscalls, 'js' for the pure-TS path. */
  get backend(): 'native' | 'js' {
    return this.#pool.backend;
  }

  /** Why the addon is not used, or null when it is. */
  get nativeReason(): string | null {
    return this.#pool.nativeReason;
  }

  /** Which addon binary runs: 'prebuilt' or 'build' (compiled from source); null on the pure-TS path. */
  get nativeSource(): NativeSource | null {
    return this.#pool.nativeSource ?? null;
  }

  /**
   * Makes every target durable. Resolves with a report when every target's flush succeeded
   * (check `report.durable`: a volatile filesystem is never durable); rejects with a SyncError
   * carrying one TargetError per failed target and the full report otherwise.
   */
  sync(targets: Targets, options?: SyncOptions): Promise<SyncReport> {
    const list = asList(targets);
    const refused = this.#admit(list.length);
    if (refused) return Promise.reject(refused);
    // One promise per call, settled straight from the last answer: the hot path of group commit.
    return new Promise<SyncReport>((resolve, reject) => {
      this.#run(list, options, undefined, (report, err) => {
        if (err !== undefined) reject(err);
        else if (!report!.ok) reject(new SyncError(report!));
        else resolve(report!);
      });
    });
  }

  /**
   * Yields each target's result as soon as it is durable or failed, in completion order (the
   * seed's "something like select()"): a migration can delete each source as soon as its copy is
   * durable. Failed targets are yielded with `error` set, not thrown. Leaving the loop early drops
   * the targets not yet handed to a flush.
   */
  each(targets: Targets, options?: SyncOptions): AsyncIterableIterator<TargetResult> {
    const list = asList(targets);
    const refused = this.#admit(list.length);
    const stop = new AbortController();
    const results: TargetResult[] = [];
    let next = 0;
    let finished = refused !== null;
    let failure: unknown = refused;
    let wake: (() => void) | null = null;
    if (!refused) {
      const signal = options?.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
      const onResult = (r: TargetResult) => {
        results.push(r);
        wake?.();
      };
      this.#run(list, { ...options, signal }, onResult, (_report, err) => {
        if (err !== undefined) failure = stop.signal.aborted ? null : err;
        finished = true;
        wake?.();
      });
    }
    async function* iterate(): AsyncGenerator<TargetResult> {
      try {
        for (;;) {
          while (next < results.length) yield results[next++]!;
          if (finished) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
        while (next < results.length) yield results[next++]!;
        if (failure) throw failure;
      } finally {
        if (!finished) stop.abort();
      }
    }
    return iterate();
  }

  /**
   * Forgets the remembered failure of each target's file, so that the next request flushes it
   * again. Call it only after rewriting the data: the failed write may be lost. Resolves with the
   * number of files that had a remembered failure.
   */
  async reset(targets: Targets): Promise<number> {
    const requests = asList(targets).map((t, i) => toRequest(t, i, 'full'));
    let count = 0;
    const fds = requests.filter((r) => !r.invalid && r.path === null).map((r) => r.fd);
    const paths = requests.filter((r) => !r.invalid && r.path !== null).map((r) => r.path);
    const keys: FileKey[] = [];
    for (const fd of fds) {
      const d = this.#pool.describeFd(fd);
      if (d.errno === 0) keys.push(fileKey(d.dev, d.ino));
    }
    if (paths.length) {
      const res = await this.#pool.resolve(new Int32Array(paths.length).fill(-1), paths, false);
      for (let i = 0; i < res.errnos.length; i++) if (res.errnos[i] === 0) keys.push(fileKey(res.dev[i]!, res.ino[i]!));
      const opened = Int32Array.from([...res.fds].filter((_, i) => res.opened[i] === 1));
      if (opened.length) await this.#pool.close(opened).catch(() => {});
    }
    for (const key of keys) if (this.#scheduler.reset(key)) count++;
    return count;
  }

  stats(): SyncerStats {
    const s = this.#scheduler.stats;
    return {
      requests: s.requests,
      merged: s.merged,
      sticky: s.sticky,
      flushes: { ...s.flushes },
      queueDepth: this.#depth,
      queued: this.#scheduler.queued,
      inflight: this.#scheduler.inflight,
      failedFiles: this.#scheduler.failedFiles,
      latencyMs: s.percentiles(),
    };
  }

  #admit(n: number): Error | null {
    if (this.#closing) return new ClosedError('sync() after close()');
    if (this.#depth + n > this.#options.maxQueue && n > 0) return new QueueFullError(n, this.#depth, this.#options.maxQueue);
    return null;
  }

  /**
   * Runs one call; `settle` gets its report, or the error that stopped it, exactly once. Until
   * then the call counts against maxQueue and keeps close() waiting.
   */
  #run(
    list: readonly SyncTarget[],
    options: SyncOptions | undefined,
    onResult: ((r: TargetResult) => void) | undefined,
    settle: (report: SyncReport | null, err?: unknown) => void,
  ): void {
    const n = list.length;
    this.#depth += n;
    this.#calls++;
    let settled = false;
    const done = (report: SyncReport | null, err?: unknown) => {
      if (settled) return;
      settled = true;
      this.#depth -= n;
      if (--this.#calls === 0) this.#drained?.();
      settle(report, err);
    };
    try {
      // A bad option (OptionsError), or a bug of ours thrown before any answer, fails the call
      // right here.
      const opts = parseSyncOptions(options);
      this.#start(list, opts, onResult, done);
    } catch (err) {
      done(null, err);
    }
  }

  #start(
    list: readonly SyncTarget[],
    opts: ResolvedSyncOptions,
    onResult: ((r: TargetResult) => void) | undefined,
    done: (report: SyncReport | null, err?: unknown) => void,
  ): void {
    const started = performance.now();
    const mode = opts.mode ?? this.#options.mode;
    const strategy = opts.strategy ?? this.#options.strategy;
    const requests = list.map((t, i) => toRequest(t, i, mode));
    // maxOpenFiles bounds the files fsync2 opens, for path targets: a call of fds opens none,
    // however many it names, and takes the fd path (W1-10000 went through windows before).
    const simple = !opts.parents && !opts.signal && !onResult && requests.every((r) => r.path === null);
    const report = (results: TargetResult[]) => done(makeReport(results, strategy, this.#pool, started));
    if (simple) {
      syncFds(requests, this.#pool, this.#pinned, this.#scheduler, strategy, report);
      return;
    }
    new Call(
      { pool: this.#pool, scheduler: this.#scheduler, maxOpenFiles: this.#options.maxOpenFiles },
      { strategy, parents: opts.parents, signal: opts.signal, onResult },
    )
      .run(requests)
      .then(report, (err: unknown) => done(null, err));
  }

  /** Waits for calls in flight, then stops the pool. Later sync() calls reject with ClosedError. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#calls > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      await this.#pool.destroy();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export function createSyncer(options?: SyncerOptions): Syncer {
  return new Syncer(options);
}
