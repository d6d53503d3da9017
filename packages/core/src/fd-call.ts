// The hot path of group commit: a call whose targets are all open fds (a log, a queue, a server
// answering COMMIT), without parents or a signal. Same rule and same results as Call, without its
// windows, path opening and parent phase: one statx/fstatfs/fcntl crossing per fd and burst here
// (pinned-fds.ts), then straight into the scheduler.
import type { FlushBackend } from '@fsync2/workers';
import type { Outcome } from './call.js';
import type { Strategy } from './options.js';
import type { PinnedFds } from './pinned-fds.js';
import type { TargetResult } from './report.js';
import { toResult } from './results.js';
import type { EarlySyncfs, Scheduler, Waiter } from './scheduler.js';
import type { Request } from './targets.js';

const NO_PARENTS: readonly never[] = [];

/** `answer` gets every target's result, once, as soon as the last is known. */
export function syncFds(
  requests: readonly Request[],
  pool: FlushBackend,
  pinned: PinnedFds,
  scheduler: Scheduler,
  strategy: Strategy,
  answer: (results: TargetResult[]) => void,
): void {
  const results: TargetResult[] = new Array(requests.length);
  let pending = requests.length;
  const done = () => {
    if (--pending === 0) answer(results);
  };
  const first = requests.length > 1 ? new Map<string, number>() : null;
  // A batch that 'auto' flushes with syncfs starts it at its first target, and the others join it
  // as they are described (Scheduler.beginEarlySyncfs).
  let early: EarlySyncfs | null = null;
  // A lone target (the group-commit path) never has a batch to overlap.
  let tried = requests.length < 2;
  for (const request of requests) {
    const i = request.index;
    const d = request.invalid ? null : pinned.acquire(request.fd);
    if (d === null || typeof d === 'number') {
      const resolveFailure = d === null ? null : { errno: d, syscall: 'fstat', workerError: null };
      const failed: Outcome = {
        request, dev: null, ino: null, kind: null, fs: null, realpath: null, resolveFailure, flushed: null, mergedWith: null,
      };
      results[i] = toResult(failed, NO_PARENTS, pool.backend);
      done();
      continue;
    }
    const { file } = d;
    let mergedWith: number | null = null;
    if (first) {
      mergedWith = first.get(file.key) ?? null;
      if (mergedWith === null) first.set(file.key, i);
    }
    const fd = request.fd;
    const w: Waiter = {
      file,
      fd,
      pathOnly: d.pathOnly,
      mode: request.mode,
      strategy,
      state: 'new',
      arrivedAt: 0,
      settle: (flushed) => {
        pinned.release(fd);
        const outcome: Outcome = {
          request, dev: file.dev, ino: file.ino, kind: file.kind, fs: file.fs, realpath: null, resolveFailure: null, flushed, mergedWith,
        };
        results[i] = toResult(outcome, NO_PARENTS, pool.backend);
        done();
      },
    };
    if (!tried) {
      tried = true;
      early = scheduler.beginEarlySyncfs(w, requests.length, () => Int32Array.from(requests.filter((r) => !r.invalid), (r) => r.fd));
    }
    scheduler.enqueue(w, early);
  }
  if (early) scheduler.endEarlySyncfs(early);
  if (requests.length === 0) answer(results);
}
