// The hot path of group commit: a call whose targets are all open fds (a log, a queue, a server
// answering COMMIT), without parents or a signal. Same rule and same results as Call, without its
// windows, path opening and parent phase: one statx/fstatfs/fcntl crossing per fd and burst here
// (pinned-fds.ts), then straight into the scheduler.
import type { FlushBackend, Kind } from '@fsync2/workers';
import type { Outcome } from './call.js';
import type { FsInfo } from './filesystems.js';
import type { Mode, Strategy } from './options.js';
import type { Described, PinnedFds } from './pinned-fds.js';
import { Pipeline } from './pipeline.js';
import type { TargetResult } from './report.js';
import { toResult } from './results.js';
import type { EarlySyncfs, FileRef, FlushOutcome, Scheduler, Waiter } from './scheduler.js';
import type { Request } from './targets.js';

const NO_PARENTS: readonly never[] = [];

/** A call of at least this many fds starts flushing before its last targets are described. */
const PIPELINE_ONLY_FROM = 4096;
/** Its first plan's size; each next one takes twice as many. */
const FIRST_CHUNK = 1024;

/** Calls of more than one target so far (their serials). */
let calls = 0;

/** What every target of one call shares: its results and who gets them. */
interface FdCall {
  readonly results: TargetResult[];
  readonly pool: FlushBackend;
  readonly pinned: PinnedFds;
  pending: number;
  readonly answer: (results: TargetResult[]) => void;
}

/**
 * One target's request, and once settled its Outcome for toResult. A class, not a literal with a
 * settle closure: the closure and its context were ~100 B more per target, which a 10,000-target
 * call paid in scavenges; an Outcome literal per target was another ~100 B.
 */
class FdWaiter implements Waiter, Outcome {
  state: Waiter['state'] = 'new';
  arrivedAt = 0;
  readonly fd: number;
  readonly mode: Mode;
  readonly index: number;
  /** Set by Scheduler.enqueue from the call's serial. */
  mergedWith: number | null = null;
  flushed: FlushOutcome | null = null;
  readonly realpath = null;
  readonly resolveFailure = null;

  constructor(
    readonly call: FdCall,
    readonly request: Request,
    readonly file: FileRef,
    readonly pathOnly: boolean | null,
    readonly strategy: Strategy,
    readonly callSerial: number | undefined,
    readonly pinned: boolean,
    readonly pipeline: Pipeline | null,
  ) {
    this.fd = request.fd;
    this.mode = request.mode;
    this.index = request.index;
  }

  get dev(): bigint {
    return this.file.dev;
  }

  get ino(): bigint {
    return this.file.ino;
  }

  get kind(): Kind {
    return this.file.kind;
  }

  get fs(): FsInfo | null {
    return this.file.fs;
  }

  /** A call of several targets (it has a serial): they gather into plans (Waiter.batch). */
  get batch(): boolean {
    return this.callSerial !== undefined;
  }

  settle(flushed: FlushOutcome): void {
    const { call } = this;
    if (this.pinned) call.pinned.release(this.fd);
    this.flushed = flushed;
    answered(call, this.index, toResult(this, NO_PARENTS, call.pool.backend));
  }
}

function answered(call: FdCall, index: number, result: TargetResult): void {
  call.results[index] = result;
  if (--call.pending === 0) call.answer(call.results);
}

/** `answer` gets every target's result, once, as soon as the last is known. */
export function syncFds(
  requests: readonly Request[],
  pool: FlushBackend,
  pinned: PinnedFds,
  scheduler: Scheduler,
  strategy: Strategy,
  answer: (results: TargetResult[]) => void,
): void {
  const call: FdCall = { results: new Array(requests.length), pool, pinned, pending: requests.length, answer };
  // The scheduler tells a call's later mentions of a file from its first by this serial.
  const callSerial = requests.length > 1 ? ++calls : undefined;
  // A call's targets all arrive when it is made.
  const now = performance.now();
  // A batch that 'auto' flushes with syncfs starts it at its first target, and the others join it
  // as they are described (Scheduler.beginEarlySyncfs).
  let early: EarlySyncfs | null = null;
  // For a call that may be flushed in chunks (below), from its first target on: dropped when that
  // target started an early syncfs, which the others join instead.
  let pipeline = requests.length >= PIPELINE_ONLY_FROM ? new Pipeline(requests.length) : null;
  // A lone target (the group-commit path) never has a batch to overlap.
  let tried = requests.length < 2;
  // The call's fds (-1: none), for the guard's cachestat and the describing; a call of several
  // targets needs them for the describing anyway. A loop: Int32Array.from over an array goes
  // through its iterator, ~80 B per target.
  const fds = new Int32Array(requests.length > 1 ? requests.length : 0);
  for (let i = 0; i < fds.length; i++) fds[i] = requests[i]!.invalid ? -1 : requests[i]!.fd;
  const enqueue = (request: Request, d: Described | number | null) => {
    if (d === null || typeof d === 'number') {
      const resolveFailure = d === null ? null : { errno: d, syscall: 'fstat', workerError: null };
      const failed: Outcome = {
        request, dev: null, ino: null, kind: null, fs: null, realpath: null, resolveFailure, flushed: null, mergedWith: null,
      };
      answered(call, request.index, toResult(failed, NO_PARENTS, pool.backend));
      return;
    }
    const w = new FdWaiter(call, request, d.file, d.pathOnly, strategy, callSerial, d.pinned, pipeline);
    if (!tried) {
      tried = true;
      early = scheduler.beginEarlySyncfs(w, requests.length, fds);
    }
    scheduler.enqueue(w, early, now);
  };
  // The first target alone, so that an early syncfs starts before the others are described; the
  // others in one crossing per chunk, without asking again what the guard's cachestat showed.
  const [head] = requests;
  if (head) enqueue(head, head.invalid ? null : pinned.acquire(head.fd));
  if (early) pipeline = null;
  if (requests.length > 1) {
    const opened = (early as EarlySyncfs | null)?.openedForIo;
    const flags = scheduler.maySyncfs(strategy);
    // Without an early syncfs, the call's first targets are handed to threads while the later
    // ones are still being described: 10,000 fds spent ~40 ms describing before any flush began
    // (with syncfs forbidden: 404 ms against C's 294 with 64 threads, 307 so, medians of 10
    // interleaved rounds). In chunks that double, so that few plans start; they share the first
    // one's choice (pipeline.ts), and a file the call names again in a later chunk waits for the
    // earlier flush and gets its own (one flush in flight per file).
    let chunk = pipeline ? FIRST_CHUNK : requests.length;
    for (let from = 1; from < requests.length; from += chunk, chunk *= 2) {
      const to = Math.min(requests.length, from + chunk);
      const described = pinned.describeAll(fds.subarray(from, to), opened?.subarray(from, to), flags);
      for (let j = from; j < to; j++) enqueue(requests[j]!, described[j - from]!);
      if (to < requests.length) scheduler.dispatchNow();
    }
  }
  if (early) scheduler.endEarlySyncfs(early);
  if (requests.length === 0) answer(call.results);
}
