// One sync() or each() call: its targets in windows of maxOpenFiles; each window is resolved
// (paths opened on the pool, fds fstat'ed here), handed to the scheduler as requests, answered,
// then its directories (parents: true), then its fds closed.
import { KIND, type FlushBackend, type Kind, type ResolveResult } from '@fsync2/workers';
import { AbortError } from './errors.js';
import { fileKey, type FileKey } from './file-key.js';
import { fsInfo, type FsInfo } from './filesystems.js';
import type { Mode, Strategy } from './options.js';
import type { ParentResult, TargetResult } from './report.js';
import { parentDirs, toParentResult, toResult } from './results.js';
import { slices, type FlushOutcome, type Scheduler, type Waiter } from './scheduler.js';
import type { Request } from './targets.js';

/** A request after resolving and flushing: what it named and what happened to that file. */
export interface Outcome {
  readonly request: Request;
  readonly dev: bigint | null;
  readonly ino: bigint | null;
  readonly kind: Kind | null;
  readonly fs: FsInfo | null;
  readonly realpath: string | null;
  /** Failure before any flush: open or fstat (errno), or a dead worker. */
  readonly resolveFailure: { errno: number | null; syscall: string; workerError: Error | null } | null;
  readonly flushed: FlushOutcome | null;
  readonly mergedWith: number | null;
}

interface Resolved {
  fd: number;
  opened: boolean;
  errno: number;
  syscall: string | null;
  workerError: Error | null;
  dev: bigint;
  ino: bigint;
  birth: bigint;
  kind: Kind;
  pathOnly: boolean;
  fsMagic: number;
  realpath: string | null;
}

export interface CallEnv {
  readonly pool: FlushBackend;
  readonly scheduler: Scheduler;
  readonly maxOpenFiles: number;
}

export interface CallSpec {
  readonly strategy: Strategy;
  readonly parents: boolean;
  readonly signal: AbortSignal | undefined;
  /** Each target's final result, as soon as it is known (each()). */
  readonly onResult?: (result: TargetResult) => void;
}

const stronger = (a: Mode, b: Mode): Mode => (a === 'full' || b === 'full' ? 'full' : 'data');

export class Call {
  readonly #env: CallEnv;
  readonly #spec: CallSpec;
  /** The first target of this call naming each file: later ones report mergedWith it. */
  readonly #first = new Map<FileKey, number>();
  /**
   * Flushes of this call that have ended. They started after the call did, so they serve a later
   * window's target for the same file too (unless it needs a stronger mode).
   */
  readonly #done = new Map<FileKey, FlushOutcome>();
  readonly #parents = new Map<string, ParentResult>();
  /**
   * Filesystems whose syncfs succeeded in this call. It started after the call did, so it covers
   * every regular file and directory of that filesystem the call names, later windows and
   * parent directories included.
   */
  readonly #synced = new Map<bigint, FlushOutcome>();

  constructor(env: CallEnv, spec: CallSpec) {
    this.#env = env;
    this.#spec = spec;
  }

  async run(requests: readonly Request[]): Promise<TargetResult[]> {
    const results: TargetResult[] = [];
    for (let start = 0; start < requests.length; start += this.#env.maxOpenFiles) {
      this.#throwIfAborted();
      const window = requests.slice(start, start + this.#env.maxOpenFiles);
      results.push(...(await this.#window(window, { targets: true, parents: this.#spec.parents, emit: this.#spec.onResult })));
    }
    return results;
  }

  #throwIfAborted(): void {
    const { signal } = this.#spec;
    if (signal?.aborted) throw new AbortError({ cause: signal.reason });
  }

  /**
   * `targets`: the caller's targets (false for parent directories, which take no part in
   * mergedWith). `emit` gets each final result: at once, or after its parents when `parents`.
   */
  async #window(
    requests: readonly Request[],
    { targets, parents, emit }: { targets: boolean; parents: boolean; emit?: ((r: TargetResult) => void) | undefined },
  ): Promise<TargetResult[]> {
    const resolved = await this.#resolve(requests, parents);
    try {
      const outcomes = await this.#flush(requests, resolved, targets, parents ? undefined : emit);
      if (!parents) return outcomes.map((o) => toResult(o, [], this.#env.pool.backend));
      const byTarget = await this.#flushParents(outcomes);
      return outcomes.map((o) => {
        const result = toResult(o, byTarget.get(o.request.index) ?? [], this.#env.pool.backend);
        emit?.(result);
        return result;
      });
    } finally {
      // A close error cannot undo a flush that already returned 0 (even NFS commits at fsync).
      const opened = resolved.filter((r): r is Resolved => r?.opened === true);
      if (opened.length > 0) await this.#env.pool.close(Int32Array.from(opened, (r) => r.fd)).catch(() => {});
    }
  }

  async #resolve(requests: readonly Request[], realpaths: boolean): Promise<Array<Resolved | null>> {
    const out: Array<Resolved | null> = requests.map(() => null);
    const byFd: number[] = [];
    const byPath: number[] = [];
    requests.forEach((r, i) => {
      if (r.invalid) return;
      (r.path === null ? byFd : byPath).push(i);
    });
    const take = (res: ResolveResult, at: number[], offset: number) => {
      for (let j = 0; j < at.length; j++) {
        const i = offset + j;
        out[at[j]!] = {
          fd: res.fds[i]!, opened: res.opened[i] === 1, errno: res.errnos[i]!, syscall: res.failedSyscall[i] ?? null,
          workerError: null, dev: res.dev[i]!, ino: res.ino[i]!, birth: res.birth[i]!, kind: res.kind[i] as Kind,
          pathOnly: res.pathOnly[i] === 1, fsMagic: res.fsType[i]!, realpath: res.realpaths[i] ?? null,
        };
      }
    };
    for (const i of byFd) {
      const fd = requests[i]!.fd;
      const d = this.#env.pool.describeFd(fd);
      out[i] = {
        fd, opened: false, errno: d.errno, syscall: d.errno ? 'fstat' : null, workerError: null, dev: d.dev, ino: d.ino,
        birth: d.birth, kind: d.kind, pathOnly: d.pathOnly, fsMagic: d.fsType, realpath: null,
      };
    }
    await Promise.all(
      slices(byPath.length, this.#env.pool.maxThreads, 256).map(async ([a, b]) => {
        const at = byPath.slice(a, b);
        try {
          const res = await this.#env.pool.resolve(new Int32Array(at.length).fill(-1), at.map((i) => requests[i]!.path), realpaths);
          take(res, at, 0);
        } catch (err) {
          // The thread died: whatever it opened is unknown to us and stays open; nothing is flushed.
          for (const i of at) {
            out[i] = {
              fd: -1, opened: false, errno: 0, syscall: 'open', workerError: err as Error, dev: 0n, ino: 0n, birth: 0n,
              kind: 0 as Kind, pathOnly: false, fsMagic: -1, realpath: null,
            };
          }
        }
      }),
    );
    return out;
  }

  async #flush(
    requests: readonly Request[],
    resolved: Array<Resolved | null>,
    targets: boolean,
    emit?: (r: TargetResult) => void,
  ): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(requests.length);
    const waiters: Waiter[] = [];
    const answers: Promise<void>[] = [];
    const backend = this.#env.pool.backend;
    requests.forEach((request, i) => {
      const res = resolved[i];
      const base = {
        request, dev: null, ino: null, kind: null, fs: null, realpath: res?.realpath ?? null, resolveFailure: null, flushed: null, mergedWith: null,
      };
      if (!res || res.errno !== 0 || res.workerError) {
        outcomes[i] = res ? { ...base, resolveFailure: { errno: res.workerError ? null : res.errno, syscall: res.syscall ?? 'open', workerError: res.workerError } } : base;
        emit?.(toResult(outcomes[i]!, [], backend));
        return;
      }
      const key = fileKey(res.dev, res.ino);
      const fs = fsInfo(res.fsMagic);
      const first = targets ? this.#first.get(key) : undefined;
      if (targets && first === undefined) this.#first.set(key, request.index);
      const named = { ...base, dev: res.dev, ino: res.ino, kind: res.kind, fs, mergedWith: first ?? null };
      const synced = this.#synced.get(res.dev);
      if (synced && (res.kind === KIND.FILE || res.kind === KIND.DIRECTORY) && !res.pathOnly) {
        outcomes[i] = { ...named, flushed: synced };
        emit?.(toResult(outcomes[i]!, [], backend));
        return;
      }
      const earlier = this.#done.get(key);
      if (earlier && (earlier.errno !== 0 || earlier.workerError !== null || stronger(earlier.mode, request.mode) === earlier.mode)) {
        outcomes[i] = { ...named, flushed: earlier };
        emit?.(toResult(outcomes[i]!, [], backend));
        return;
      }
      answers.push(
        new Promise<void>((resolve) => {
          waiters.push({
            file: { key, dev: res.dev, ino: res.ino, birth: res.birth, kind: res.kind, fs },
            fd: res.fd,
            pathOnly: res.pathOnly,
            mode: request.mode,
            strategy: this.#spec.strategy,
            state: 'new',
            arrivedAt: 0,
            batch: requests.length > 1,
            settle: (flushed) => {
              outcomes[i] = { ...named, flushed };
              const known = this.#done.get(key);
              if (!known || stronger(known.mode, flushed.mode) !== known.mode) this.#done.set(key, flushed);
              const ok = flushed.errno === 0 && flushed.workerError === null;
              if (ok && flushed.syscall === 'syncfs' && !fs?.volatile) this.#synced.set(res.dev, flushed);
              emit?.(toResult(outcomes[i]!, [], backend));
              resolve();
            },
          });
        }),
      );
    });
    await this.#await(waiters, answers);
    return outcomes;
  }

  /**
   * Enqueues the window's requests and waits for every answer. On abort, requests still queued
   * are dropped; requests whose flush is running are waited for (a flush is never interrupted,
   * and the fds it uses stay open until it ends), then the call rejects.
   */
  async #await(waiters: Waiter[], answers: Promise<void>[]): Promise<void> {
    const { signal } = this.#spec;
    this.#throwIfAborted();
    for (const w of waiters) this.#env.scheduler.enqueue(w);
    if (!signal) {
      await Promise.all(answers);
      return;
    }
    let dropped = false;
    const cancelled = new Promise<void>((resolve) => {
      const onAbort = () => {
        for (const w of waiters) if (this.#env.scheduler.cancel(w)) dropped = true;
        resolve();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      void Promise.all(answers).then(() => signal.removeEventListener('abort', onAbort));
    });
    const all = Promise.all(answers).then(() => {});
    await Promise.race([all, cancelled]);
    if (dropped || signal.aborted) {
      await Promise.all(waiters.filter((w) => w.state === 'inflight').map((w) => answers[waiters.indexOf(w)]));
      throw new AbortError({ cause: signal.reason });
    }
    await all;
  }

  // After the files: each distinct directory holding a path target that was flushed, so that
  // new directory entries (and renames) survive a power cut (fsync(2): "an explicit fsync() on a
  // file descriptor for the directory is also needed").
  async #flushParents(outcomes: readonly Outcome[]): Promise<Map<number, ParentResult[]>> {
    const users = new Map<string, number[]>();
    for (const o of outcomes) {
      const f = o.flushed;
      if (!f || f.errno !== 0 || f.workerError) continue;
      for (const dir of parentDirs(o)) {
        const list = users.get(dir);
        if (list) list.push(o.request.index);
        else users.set(dir, [o.request.index]);
      }
    }
    const fresh = [...users.keys()].filter((dir) => !this.#parents.has(dir));
    const requests: Request[] = fresh.map((dir, index) => ({
      index, input: dir, fd: -1, callerFd: null, path: dir, mode: 'full', invalid: null,
    }));
    const done = await this.#window(requests, { targets: false, parents: false });
    done.forEach((r, i) => this.#parents.set(fresh[i]!, toParentResult(fresh[i]!, r)));
    const byTarget = new Map<number, ParentResult[]>();
    for (const [dir, indexes] of users) {
      for (const index of indexes) {
        const list = byTarget.get(index);
        if (list) list.push(this.#parents.get(dir)!);
        else byTarget.set(index, [this.#parents.get(dir)!]);
      }
    }
    return byTarget;
  }
}
