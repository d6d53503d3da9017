// The hot path of group commit: a call whose targets are all open fds (a log, a queue, a server
// answering COMMIT), without parents or a signal. Same rule and same results as Call, without its
// windows, path opening and parent phase: one statx/fstatfs/fcntl crossing per target here, then
// straight into the scheduler.
import type { FlushBackend } from '@fsync2/workers';
import type { Outcome } from './call.js';
import { fsInfo } from './filesystems.js';
import type { Strategy } from './options.js';
import type { TargetResult } from './report.js';
import { toResult } from './results.js';
import type { Scheduler, Waiter } from './scheduler.js';
import type { Request } from './targets.js';

const NO_PARENTS: readonly never[] = [];

/** `answer` gets every target's result, once, as soon as the last is known. */
export function syncFds(
  requests: readonly Request[],
  pool: FlushBackend,
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
  const waiters: Waiter[] = [];
  for (const request of requests) {
    const i = request.index;
    const d = request.invalid ? null : pool.describeFd(request.fd);
    if (d === null || d.errno !== 0) {
      const resolveFailure = d === null ? null : { errno: d.errno, syscall: 'fstat', workerError: null };
      const failed: Outcome = {
        request, dev: null, ino: null, kind: null, fs: null, realpath: null, resolveFailure, flushed: null, mergedWith: null,
      };
      results[i] = toResult(failed, NO_PARENTS, pool.backend);
      done();
      continue;
    }
    const key = `${d.dev}:${d.ino}`;
    const fs = fsInfo(d.fsType);
    let mergedWith: number | null = null;
    if (first) {
      mergedWith = first.get(key) ?? null;
      if (mergedWith === null) first.set(key, i);
    }
    waiters.push({
      file: { key, dev: d.dev, ino: d.ino, birth: d.birth, kind: d.kind, fs },
      fd: request.fd,
      pathOnly: d.pathOnly,
      mode: request.mode,
      strategy,
      state: 'new',
      arrivedAt: 0,
      settle: (flushed) => {
        const outcome: Outcome = {
          request, dev: d.dev, ino: d.ino, kind: d.kind, fs, realpath: null, resolveFailure: null, flushed, mergedWith,
        };
        results[i] = toResult(outcome, NO_PARENTS, pool.backend);
        done();
      },
    });
  }
  if (requests.length === 0) answer(results);
  for (const w of waiters) scheduler.enqueue(w);
}
