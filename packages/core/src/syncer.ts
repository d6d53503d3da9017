// The public object: options in, a pool of flush threads, one report per call.
import { FlushPool, type FlushBackend } from '@fsync2/workers';
import { ClosedError, SyncError, AbortError } from './errors.js';
import { flushRequests, newCallContext, type Outcome } from './execute.js';
import {
  parseOptions,
  syncerOptionsSchema,
  syncOptionsSchema,
  type ResolvedSyncerOptions,
  type SyncerOptions,
  type SyncOptions,
} from './options.js';
import type { ParentResult, SyncReport, SyncTarget } from './report.js';
import { parentDirs, toParentResult, toResult } from './results.js';
import { toRequest, type Request } from './targets.js';

export class Syncer {
  readonly #options: ResolvedSyncerOptions;
  readonly #pool: FlushBackend;
  readonly #inflight = new Set<Promise<unknown>>();
  #closing: Promise<void> | null = null;

  /** `pool` replaces the thread pool: for tests with a fake backend, or to share one pool. */
  constructor(options: SyncerOptions = {}, pool?: FlushBackend) {
    this.#options = parseOptions(syncerOptionsSchema, options, 'options');
    this.#pool = pool ?? new FlushPool(this.#options.pool);
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

  /**
   * Makes every target durable. Resolves with a report when every target's flush succeeded
   * (check `report.durable`: a volatile filesystem is never durable); rejects with a SyncError
   * carrying one TargetError per failed target and the full report otherwise.
   */
  sync(targets: SyncTarget | readonly SyncTarget[], options?: SyncOptions): Promise<SyncReport> {
    if (this.#closing) return Promise.reject(new ClosedError('sync() after close()'));
    const call = this.#sync(targets, options);
    this.#inflight.add(call);
    const forget = () => this.#inflight.delete(call);
    call.then(forget, forget);
    return call;
  }

  async #sync(targets: SyncTarget | readonly SyncTarget[], options?: SyncOptions): Promise<SyncReport> {
    const opts = parseOptions(syncOptionsSchema, options, 'sync options');
    const started = performance.now();
    const list: readonly SyncTarget[] = Array.isArray(targets) ? targets : [targets as SyncTarget];
    const mode = opts.mode ?? this.#options.mode;
    const requests = list.map((t, i) => toRequest(t, i, mode));
    if (opts.signal?.aborted) throw new AbortError({ cause: opts.signal.reason });
    const strategy = opts.strategy ?? this.#options.strategy;
    const ctx = newCallContext(this.#pool, strategy, this.#options.maxOpenFiles, opts.signal);

    const outcomes = await flushRequests(requests, ctx);
    const parents = opts.parents ? await this.#flushParents(outcomes, ctx) : null;

    const results = outcomes.map((o) => toResult(o, parents?.get(o.request.index) ?? [], this.#pool.backend));
    const report: SyncReport = {
      ok: results.every((r) => r.ok),
      durable: results.every((r) => r.durable),
      results,
      filesystems: [...ctx.filesystems.values()],
      strategy,
      backend: this.#pool.backend,
      nativeReason: this.#pool.nativeReason,
      syscalls: ctx.syscalls,
      durationMs: performance.now() - started,
    };
    if (!report.ok) throw new SyncError(report);
    return report;
  }

  // After the files: each distinct directory holding a path target that was flushed, so that
  // new directory entries (and renames) survive a power cut (fsync(2): "an explicit fsync() on a
  // file descriptor for the directory is also needed").
  async #flushParents(
    outcomes: readonly Outcome[],
    ctx: ReturnType<typeof newCallContext>,
  ): Promise<Map<number, ParentResult[]>> {
    const users = new Map<string, number[]>();
    for (const o of outcomes) {
      if (!o.flushed || o.flushed.errno !== 0 || o.flushed.workerError) continue;
      for (const dir of parentDirs(o)) {
        const list = users.get(dir);
        if (list) list.push(o.request.index);
        else users.set(dir, [o.request.index]);
      }
    }
    const dirs = [...users.keys()];
    const requests: Request[] = dirs.map((dir, index) => ({
      index, input: dir, fd: -1, callerFd: null, path: dir, mode: 'full', invalid: null,
    }));
    const done = await flushRequests(requests, ctx);
    const byTarget = new Map<number, ParentResult[]>();
    done.forEach((o, i) => {
      const result = toParentResult(dirs[i]!, o);
      for (const index of users.get(dirs[i]!)!) {
        const list = byTarget.get(index);
        if (list) list.push(result);
        else byTarget.set(index, [result]);
      }
    });
    return byTarget;
  }

  /** Waits for calls in flight, then stops the pool. Later sync() calls reject with ClosedError. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
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
