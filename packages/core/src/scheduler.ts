// The group-commit scheduler: every request for a file waits for a flush that starts after it
// arrived; requests that pile up meanwhile share the next flush; results fan out to each request.
//
// THE RULE. A request for file F (dev + ino, whatever fd, handle or path named it) with mode m,
// arriving at time t, resolves only after a flush of F with a mode at least m (full covers data)
// that STARTED after t has succeeded, or after a syncfs of F's filesystem that started after t has
// succeeded. A flush already running at t does not count: the request waits for the next one, and
// every request that arrived meanwhile shares it. A failed flush fails every request it was meant
// to serve, and every later request for F until reset(F) (sticky failure: the kernel would answer
// 0 next time, although the data is lost).
//
// How the code keeps it: a request joins `queued` of its file; a plan moves `queued` to `inflight`
// before its syscall is handed to a thread (so the flush starts after every request it serves
// arrived); a file has at most one flush in flight, and requests arriving meanwhile stay queued.
// A plan's mode for a file is the strongest of the requests it takes.
//
// An early syncfs (beginEarlySyncfs) starts while a call's targets are still being described, and
// the call's later targets on that filesystem join it. The rule holds because a request is made
// when its call is: every target's data was written before sync() was called, and the syncfs
// starts inside that call, so it starts after every request it serves. Only files with nothing
// queued or in flight join, so each file still has one flush in flight.
import { channel } from 'node:diagnostics_channel';
import { constants } from 'node:os';
import { OPS, OP_SYSCALL, type OpCode } from '@fsync2/native';
import type { Backend, FlushBackend, FlushResult, Kind } from '@fsync2/workers';
import type { FileKey } from './file-key.js';
import type { FsInfo } from './filesystems.js';
import type { Mode, Strategy } from './options.js';
import { LOCAL_DIRTY_MAX_FILES, localDirtyBytes, systemDirtyBytes } from './dirty.js';
import { ReadyQueue, type Queued } from './ready-queue.js';
import { flushOp, opSyscalls, planGroup, syncfsCanCover, syncfsReportsErrors, type FlushEntry } from './plan.js';
import type { Capabilities, Choice, Planner } from './planner.js';
import type { Pipeline } from './pipeline.js';
import type { Plan } from './report.js';
import { StatsRecorder } from './stats.js';

/**
 * The pool, with what the planner can use when the pool has it: a probe of the threads'
 * capabilities, cachestat of a batch, and io_uring flushes. A fake pool may have none of them.
 */
export type PlanningPool = FlushBackend & {
  probe?(): Promise<{ readonly uring: number; readonly cachestat: number; readonly pageSize: number }>;
  dirty?(fds: Int32Array): Promise<{ readonly dirtyBytes: Float64Array; readonly writebackBytes: Float64Array; readonly errno: number }>;
  flushWith?(
    fds: Int32Array,
    ops: Uint8Array,
    options: { readonly engine: 'sync' | 'uring'; readonly depth?: number; readonly maxWorkers?: number },
  ): Promise<FlushResult>;
};

/** A file as a call resolved it. */
export interface FileRef {
  readonly key: FileKey;
  readonly dev: bigint;
  readonly ino: bigint;
  /** Birth time in ns, 0 when unknown: tells a new file from a reused inode number. */
  readonly birth: bigint;
  readonly kind: Kind;
  readonly fs: FsInfo | null;
}

/** What one flush did for one file: shared by every request it served. */
export interface FlushOutcome {
  readonly errno: number;
  readonly workerError: Error | null;
  readonly syscall: string | null;
  readonly plan: Plan | null;
  readonly reason: string | null;
  readonly mode: Mode;
  readonly nanos: number;
  readonly backend: Backend;
  /** A remembered failure of an earlier flush, answered without flushing again. */
  readonly sticky: boolean;
  /** Requests this flush served. */
  readonly served: number;
  /** Ids of the syscalls issued for this file (a writeback kick, the flush or the syncfs). */
  readonly syscallIds: readonly number[];
}

/**
 * What a syscall answered, before it is told per file (mode, requests served): one object shared
 * by every file it flushed, so a syncfs of 1,000 files builds one, not 1,000.
 */
type FlushAnswer = Omit<FlushOutcome, 'mode' | 'served' | 'sticky'>;

// A literal, not a spread of `a`: this runs once per file of a plan.
const outcomeOf = (a: FlushAnswer, mode: Mode, served: number): FlushOutcome => ({
  errno: a.errno, workerError: a.workerError, syscall: a.syscall, plan: a.plan, reason: a.reason, mode,
  nanos: a.nanos, backend: a.backend, sticky: false, served, syscallIds: a.syscallIds,
});

/**
 * The outcomes a shared answer (a syncfs) has told so far, by mode and requests served: its
 * 10,000 files mostly get one of two, not an object each (the fan-out of 10,000 answers took
 * 2-5 µs per file on the main thread, allocation and garbage collection a good part of it).
 */
class SharedOutcomes {
  readonly #data: FlushOutcome[] = [];
  readonly #full: FlushOutcome[] = [];
  constructor(readonly answer: FlushAnswer) {}

  get(mode: Mode, served: number): FlushOutcome {
    const byServed = mode === 'full' ? this.#full : this.#data;
    return (byServed[served] ??= outcomeOf(this.answer, mode, served));
  }
}

export interface Waiter {
  readonly file: FileRef;
  /** An fd for the file, kept open by its call until this waiter is settled. */
  readonly fd: number;
  /**
   * O_PATH: names the file, can do no I/O; flushed through another waiter's fd when there is one.
   * null: not asked (see PinnedFds.describeAll): the fd's own flush fails EBADF if it is O_PATH.
   */
  readonly pathOnly: boolean | null;
  readonly mode: Mode;
  readonly strategy: Strategy;
  readonly settle: (outcome: FlushOutcome) => void;
  state: 'new' | 'queued' | 'inflight' | 'done';
  arrivedAt: number;
  /**
   * For a call of many targets (fd-call.ts): the call's serial (> 0) and this target's index in
   * it; enqueue() then sets mergedWith to the index of the call's first target naming the same
   * file, or null when this is the first. The scheduler looks the file up anyway; a map of the
   * call's own cost ~6 ms per 10,000 targets, hashing fresh key strings.
   */
  readonly callSerial?: number;
  readonly index?: number;
  mergedWith?: number | null;
  /**
   * One of several targets a call enqueues together: they gather into a plan, never flush one by
   * one (#flushAlone). Unset, a call of 1,000 fds made after a lone caller's flush sent its first
   * 8 targets to lone flushes, each behind the batch's syncfs: 140-210 ms, the call 220 ms
   * against 20.
   */
  readonly batch?: boolean;
  /** Set for the targets of a call flushed in chunks: its plans share one choice (pipeline.ts). */
  readonly pipeline?: Pipeline | null;
}

interface FileState extends Queued {
  file: FileRef;
  queued: Waiter[];
  inflight: Waiter[] | null;
  failure: FlushOutcome | null;
  /**
   * The file's entry in an early syncfs, while it is in flight there: a call naming the file
   * again shares it. A field, not a map per call: a 10,000-target call's maps were ~370 B per
   * target of allocation.
   */
  member: Entry | null;
  /** The last call (Waiter.callSerial) to name the file, and its first target naming it. */
  callSerial: number;
  callIndex: number;
}

interface Entry extends FlushEntry {
  readonly state: FileState;
  readonly strategy: Strategy;
  /** The early syncfs this entry is a member of. */
  readonly early: EarlySyncfs | undefined;
  /** This plan answered the file's requests (a later plan may own the file's state by now). */
  finished: boolean;
  /**
   * The id of this plan's writeback kick of the file, when it had one. On the entry, not in a map
   * of the plan's: that map was ~4 ms of a 10,000-file plan with kicks.
   */
  kickId: number | undefined;
}

/**
 * Every field set here, in one order: a field added later (finished, kickId) moved each entry to
 * a new shape with an out-of-object property array, ~50 B more per target of a 10,000-fd call.
 */
function newEntry(state: FileState, strategy: Strategy, pathOnly: Entry['pathOnly'], fd: number, mode: Mode, early?: EarlySyncfs): Entry {
  return { state, strategy, dev: state.file.dev, kind: state.file.kind, pathOnly, fd, mode, early, finished: false, kickId: undefined };
}

/** The files of one early syncfs: at most maxBatch, like any plan. */
interface EarlySegment {
  readonly entries: Entry[];
}

/**
 * Syncfs started inside a sync() call, taking that call's targets on its filesystem: one per
 * maxBatch of them (with maxBatch 8,192, a call of 10,000 fds starts a second syncfs at its 8,193rd
 * target).
 */
export interface EarlySyncfs {
  readonly dev: bigint;
  readonly strategy: Strategy;
  /** The syncfs taking members now. */
  segment: EarlySegment;
  /** Takes members until the call has enqueued its last target (synchronously, in syncFds). */
  open: boolean;
  /** The planner's choice; the syncfs starts when the first member joins, through its fd. */
  readonly choice: Choice;
  readonly fs: FsInfo | null;
  /**
   * Indexed like the call's fds: 1 where the guard's cachestat read the fd, which proves it no
   * O_PATH fd (describing it then skips fcntl); null when the guard measured nothing.
   */
  readonly openedForIo: Uint8Array | null;
}

export interface GroupCommit {
  /** µs to wait for more requests before a plan starts; 0 = only what piles up while threads are busy. */
  readonly windowUs: number;
  /** Most files in one plan. */
  readonly maxBatch: number;
}

/** Published on diagnostics_channel 'fsync2:plan' when a plan for one filesystem ends. */
export interface PlanEvent {
  readonly dev: bigint;
  readonly fsType: string | null;
  readonly plan: Plan;
  readonly reason: string;
  readonly files: number;
  readonly requests: number;
  readonly syscalls: number;
  readonly failed: number;
  /** Pool tasks its flushes were spread over: a perFile or writeback plan's width, else 1. */
  readonly tasks: number;
  readonly startedAt: number;
  readonly durationMs: number;
}

export const planChannel = channel('fsync2:plan');

const { EBADF, EINVAL } = constants.errno;

/**
 * Errors of the fd rather than of the file's data (a bad or O_PATH fd, a pipe): another fd may
 * flush the file fine, so they are not remembered. Every other failure may mean lost data.
 */
function isSticky(o: FlushOutcome): boolean {
  return o.workerError !== null || (o.errno !== 0 && o.errno !== EBADF && o.errno !== EINVAL);
}

const stronger = (a: Mode, b: Mode): Mode => (a === 'full' || b === 'full' ? 'full' : 'data');

/** A batch leaving fewer idle files than this forgets them at once (#answerAll). */
const FORGET_NOW_MAX = 64;

/**
 * The pipelined call every entry of a plan is the first request of, if there is one: a plan that
 * also took files of other calls is planned and measured on its own.
 */
function pipelineOf(entries: readonly Entry[]): Pipeline | null {
  const pipeline = entries[0]!.state.inflight?.[0]?.pipeline;
  if (!pipeline) return null;
  for (let i = 1; i < entries.length; i++) if (entries[i]!.state.inflight?.[0]?.pipeline !== pipeline) return null;
  return pipeline;
}

/** Contiguous slices of [0, n), at most `parts` of them, none smaller than `min` (but the last). */
export function slices(n: number, parts: number, min = 1): Array<[number, number]> {
  const count = Math.max(1, Math.min(parts, Math.ceil(n / min)));
  const size = Math.ceil(n / count);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(n, start + size)]);
  return out;
}

export class Scheduler {
  readonly #pool: PlanningPool;
  readonly #commit: GroupCommit;
  readonly #files = new Map<FileKey, FileState>();
  /** Set while #answerAll gives answers: the files to forget after it. */
  #forgetting: FileState[] | null = null;
  /** Files with queued requests and no flush in flight. */
  readonly #ready = new ReadyQueue<FileState>();
  readonly stats = new StatsRecorder();
  readonly #planner: Planner;
  #caps: Promise<Capabilities> | null = null;
  /** The capabilities once known: an early syncfs is decided synchronously. */
  #capsNow: Capabilities | null = null;
  /** Flush tasks handed to the pool and not yet answered. */
  #tasks = 0;
  #syscallId = 0;
  #dispatchPending = false;
  /** The last plan started took a single request: the lone caller's pattern (see #flushAlone). */
  #lastAlone = false;
  #queued = 0;
  #inflight = 0;

  constructor(pool: PlanningPool, commit: GroupCommit, planner: Planner) {
    this.#pool = pool;
    this.#commit = commit;
    this.#planner = planner;
    // Asked now, not on the first plan: an early syncfs is decided without waiting for it.
    void this.#capabilities();
  }

  get queued(): number {
    return this.#queued;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Files the scheduler holds state for: queued, in flight, failed, or idle and not yet forgotten. */
  get knownFiles(): number {
    return this.#files.size;
  }

  get failedFiles(): number {
    let n = 0;
    for (const st of this.#files.values()) if (st.failure) n++;
    return n;
  }

  /**
   * `early`: the call's early syncfs, which w joins when it can (see beginEarlySyncfs); `now`:
   * when w's call was made.
   */
  enqueue(w: Waiter, early: EarlySyncfs | null = null, now = performance.now()): void {
    this.stats.requests++;
    w.arrivedAt = now;
    let st = this.#files.get(w.file.key);
    if (!st) {
      st = { file: w.file, queued: [], inflight: null, failure: null, member: null, callSerial: 0, callIndex: 0, readySeq: 0 };
      this.#files.set(w.file.key, st);
    } else if (st.failure && st.file.birth !== 0n && w.file.birth !== 0n && st.file.birth !== w.file.birth) {
      // Same inode number, different birth: the failed file was deleted and this is a new one.
      st.failure = null;
      st.file = w.file;
      st.callSerial = 0;
    }
    if (w.callSerial !== undefined) {
      // Within a call the state cannot be forgotten between its targets: the first one's request
      // is queued, in flight or failed (sticky) until an answer arrives, after the call's loop.
      if (st.callSerial === w.callSerial) {
        w.mergedWith = st.callIndex;
      } else {
        st.callSerial = w.callSerial;
        st.callIndex = w.index!;
        w.mergedWith = null;
      }
    }
    if (st.failure) {
      this.stats.sticky++;
      this.#answer(w, st.failure);
      this.#forgetIfIdle(st);
      return;
    }
    if (early?.open && this.#join(early, st, w)) return;
    if (this.#flushAlone(st, w)) return;
    w.state = 'queued';
    st.queued.push(w);
    this.#queued++;
    if (!st.inflight) this.#ready.add(st);
    this.#schedule(false);
  }

  /**
   * Starts a syncfs for a call of `files` targets as soon as its first target `w` is described,
   * when 'auto' would choose syncfs for the batch anyway, so that the call's describing and
   * enqueueing overlap the syncfs instead of preceding it. Null when it would not: the targets
   * then take the usual path. Needs what the planner needs without a round trip: the threads'
   * capabilities already known, and the system's dirty data. When that is enough for the guard
   * to care who owns it, the batch's own share is measured here: cachestat of the call's fds
   * (`callFds`, -1 for a request with no fd), before they are described, on this thread, only
   * until the guard is settled (10,000 fds owning all the dirty data: half of them read, 8-10 ms,
   * against the ~30 ms of describing them that the syncfs then overlaps). A syscall costs ~1 µs
   * on the 2-CPU VMs here, so each fd cachestat read is spared its fcntl (openedForIo). The caller
   * passes the result to enqueue() for each target, `w` first (the syncfs starts as it joins),
   * then to endEarlySyncfs().
   */
  beginEarlySyncfs(w: Waiter, files: number, callFds: Int32Array): EarlySyncfs | null {
    // A fresh syncer's first call comes before the pool's probe answers (a thread starting took
    // 70-140 ms here, then the call's 10,000 fds were described and flushed after it: 340-400 ms
    // against 165-190 once warm). The probe tells only whether io_uring works, and the syncfs
    // needs nothing it tells: so decide as if io_uring worked. A syncfs that beats its arms too
    // beats the plans left without them; otherwise the call takes the usual path, as it did.
    const probed = this.#capsNow;
    const caps = probed ?? this.#capsWith(true);
    const { fs, dev } = w.file;
    // A group-commit window asks plans to wait for more requests: this one would not.
    if (this.#commit.windowUs > 0) return null;
    if (caps === null || w.strategy !== 'auto' || !syncfsCanCover({ kind: w.file.kind, pathOnly: w.pathOnly })) return null;
    if (!this.#planner.mayUseSyncfs({ fs, files, strategy: w.strategy }, caps)) return null;
    const st = this.#files.get(w.file.key);
    if (st && (st.inflight || st.queued.length > 0 || st.failure)) return null;
    // The syncfs may start in a millisecond, after the guard's reads: its thread wakes meanwhile.
    this.#pool.prime?.();
    const systemDirty = systemDirtyBytes();
    let ownDirtyBytes: number | null = null;
    let openedForIo: Uint8Array | null = null;
    if (this.#planner.needsOwnDirty(systemDirty)) {
      if (!this.#measuresDirtyHere()) return null;
      openedForIo = new Uint8Array(callFds.length);
      const system = systemDirty!;
      // Not capped at `system`: vmstat's counters lag per-CPU batches, and a full measurement
      // above them is the truer figure (capped, a 6 MiB batch on a 2 MiB reading looked cheaper
      // to flush per file than it was, and the early syncfs was declined).
      ownDirtyBytes = localDirtyBytes(callFds, true, openedForIo, (bytes) => this.#planner.ownsEnough(bytes, system));
      if (ownDirtyBytes === null) return null;
    }
    const chosen = this.#planner.choose({ dev, fs, files, strategy: w.strategy, ownDirtyBytes, systemDirtyBytes: systemDirty }, caps);
    if (chosen.arm.plan !== 'syncfs') return null;
    // Such a syncfs waits for the pool's threads to start (70-140 ms here): its time must not
    // teach the cost model (x NaN: not observed), or one slow first syncfs makes every later
    // batch of the process choose per-file flushes (seen: 1,000 files, 22 ms -> 57 ms per call).
    const choice = probed
      ? chosen
      : { ...chosen, x: NaN, reason: `${chosen.reason}; chosen before the pool's probe answered, io_uring assumed to work` };
    return { dev, strategy: w.strategy, segment: { entries: [] }, open: true, choice, fs, openedForIo };
  }

  /** The call has enqueued every target: nothing joins `early` any more. */
  endEarlySyncfs(early: EarlySyncfs): void {
    early.open = false;
  }

  /**
   * A lone caller's flush, started here and now: without the microtask that gathers a plan, and
   * without planning a batch of one. Each step of that path cost 3-10 µs on a main thread just
   * woken from its sleep, as a lone caller's is before every flush, and together they were a
   * third of fsync2's time on top of the flush itself (W5). Taken only when no plan is gathering
   * (nothing ready, no dispatch pending, no group-commit window) and the last plan took a single
   * request: group commit keeps gathering, its plans take many, and a burst's first request
   * flushing alone makes the burst's next plan gather again. The rule holds as on the plan path:
   * the request is in flight before its flush is handed to a thread, and it is the file's only
   * flush in flight.
   */
  #flushAlone(st: FileState, w: Waiter): boolean {
    if (w.batch || !this.#lastAlone || this.#dispatchPending || this.#ready.size > 0 || this.#commit.windowUs > 0) return false;
    if (st.inflight || st.queued.length > 0 || w.pathOnly || this.#tasks >= this.#pool.maxThreads) return false;
    const caps = this.#capsNow;
    if (caps === null || (w.strategy !== 'auto' && w.strategy !== 'perFile')) return false;
    const { dev, fs } = w.file;
    const choice = this.#planner.choose({ dev, fs, files: 1, strategy: w.strategy, ownDirtyBytes: null, systemDirtyBytes: null }, caps);
    if (choice.arm.plan !== 'perFile') return false;
    w.state = 'inflight';
    st.inflight = [w];
    this.#inflight++;
    const entry = newEntry(st, w.strategy, false, w.fd, w.mode);
    this.#runAlone(entry, choice);
    return true;
  }

  /** A perFile plan of one file, as #runGroup runs it, with nothing in between. */
  #runAlone(entry: Entry, choice: Choice): void {
    const op = flushOp(entry.mode);
    const syscall = OP_SYSCALL[op];
    const id = ++this.#syscallId;
    this.stats.flushes[syscall] = (this.stats.flushes[syscall] ?? 0) + 1;
    this.#tasks++;
    const startedAt = performance.now();
    const answer = (errno: number, nanos: number, backend: Backend, workerError: Error | null) => {
      const durationMs = performance.now() - startedAt;
      const failed = errno !== 0 || workerError !== null;
      try {
        this.#finish(entry, { errno, workerError, syscall, plan: 'perFile', reason: choice.reason, nanos, backend, syscallIds: [id] });
      } finally {
        this.#tasks--;
      }
      this.#planEnded(choice, {
        dev: entry.dev, fsType: entry.state.file.fs?.name ?? null, plan: 'perFile', reason: choice.reason, files: 1,
        requests: 1, syscalls: 1, failed: failed ? 1 : 0, tasks: 1, startedAt: performance.timeOrigin + startedAt, durationMs,
      });
      // A thread is free again: files that waited for one.
      this.#schedule(true);
    };
    this.#pool.flush(Int32Array.of(entry.fd), Uint8Array.of(op)).then(
      (res) => answer(res.errnos[0]!, res.nanos[0]!, res.backend, null),
      // The thread died holding the flush (see #run): never durable.
      (err: unknown) => answer(0, 0, this.#pool.backend, err instanceof Error ? err : new Error(String(err))),
    ).catch((err: unknown) => this.#failPlan([entry], err));
  }

  #join(early: EarlySyncfs, st: FileState, w: Waiter): boolean {
    if (w.file.dev !== early.dev || w.strategy !== early.strategy) return false;
    if (!syncfsCanCover({ kind: w.file.kind, pathOnly: w.pathOnly })) return false;
    let segment = early.segment;
    const member = st.member?.early === early ? st.member : null;
    // A file already in one of the call's syncfs (a call naming it twice) shares it; any other
    // flush of the file, running or queued, keeps it out: one flush in flight per file.
    if (!member && (st.inflight || st.queued.length > 0)) return false;
    if (!member && segment.entries.length >= this.#commit.maxBatch) {
      // One more syncfs for the call's next maxBatch files: it starts after their requests were
      // made, as the first did.
      segment = early.segment = { entries: [] };
    }
    w.state = 'inflight';
    this.#inflight++;
    if (member) {
      st.inflight!.push(w);
      member.mode = stronger(member.mode, w.mode);
      return true;
    }
    st.inflight = [w];
    const entry = newEntry(st, w.strategy, false, w.fd, w.mode, early);
    st.member = entry;
    segment.entries.push(entry);
    if (segment.entries.length === 1) {
      const started = segment;
      this.#runEarlySyncfs(early, started, entry).catch((err: unknown) => this.#failPlan(started.entries, err));
    }
    return true;
  }

  async #runEarlySyncfs(early: EarlySyncfs, segment: EarlySegment, head: Entry): Promise<void> {
    const { choice, fs } = early;
    const { entries } = segment;
    this.#lastAlone = false;
    const reason = `${choice.reason}; started while the call's targets were still being described`;
    const startedAt = performance.now();
    let endedAt = startedAt;
    let failed = 0;
    let requests = 0;
    await this.#run([{ entry: head, op: OPS.SYNCFS }], { width: 1, uring: 0, workers: 0 }, (_e, _op, errno, nanos, backend, err, id) => {
      endedAt = performance.now();
      if (errno !== 0 || err) failed = entries.length;
      // Index loops in callbacks that run once per plan: V8 does not optimize them, and a for-of
      // there allocates an iterator result per element (~60 B per target of a 10,000-fd call).
      for (let i = 0; i < entries.length; i++) requests += entries[i]!.state.inflight?.length ?? 0;
      // syncfs names no file: its error fails every file it was meant to cover.
      const answer = new SharedOutcomes({ errno, workerError: err, syscall: 'syncfs', plan: 'syncfs', reason, nanos, backend, syscallIds: [id] });
      this.#answerAll(() => {
        for (let i = 0; i < entries.length; i++) this.#finish(entries[i]!, answer);
      });
    });
    const durationMs = endedAt - startedAt;
    this.#planEnded(choice, {
      dev: early.dev, fsType: fs?.name ?? null, plan: 'syncfs', reason, files: entries.length,
      requests, syscalls: 1, failed, tasks: 1, startedAt: performance.timeOrigin + startedAt, durationMs,
    });
  }

  /**
   * A plan has given its last answer: its cost teaches the planner (a failed plan says nothing
   * reliable about cost), and 'fsync2:plan' subscribers hear of it.
   */
  #planEnded(choice: Choice | null, event: PlanEvent): void {
    if (choice && event.failed === 0) this.#planner.observe(event.dev, choice, event.durationMs);
    if (planChannel.hasSubscribers) planChannel.publish(event);
  }

  /** Drops a request that has not been handed to a flush yet; false when it is running or done. */
  cancel(w: Waiter): boolean {
    if (w.state !== 'queued') return false;
    const st = this.#files.get(w.file.key)!;
    st.queued.splice(st.queued.indexOf(w), 1);
    this.#queued--;
    w.state = 'done';
    if (st.queued.length === 0) this.#ready.delete(st);
    this.#forgetIfIdle(st);
    return true;
  }

  /** Forgets a file's remembered failure: call after rewriting its data. */
  reset(key: FileKey): boolean {
    const st = this.#files.get(key);
    if (!st?.failure) return false;
    st.failure = null;
    this.#forgetIfIdle(st);
    return true;
  }

  #schedule(now: boolean): void {
    // Nothing to plan: a dispatch pending for nothing would keep the next lone request from
    // flushing at once (#flushAlone).
    if (this.#dispatchPending || this.#ready.size === 0) return;
    this.#dispatchPending = true;
    const wait = now ? 0 : this.#commit.windowUs;
    if (wait === 0) {
      // A microtask: every request made in this turn of the event loop joins the plan.
      queueMicrotask(() => this.#dispatch());
    } else if (wait >= 1000) {
      setTimeout(() => this.#dispatch(), wait / 1000);
    } else {
      // Timers have 1 ms granularity; a sub-millisecond window polls once per loop turn instead.
      const until = performance.now() + wait / 1000;
      const poll = () => (performance.now() >= until ? this.#dispatch() : setImmediate(poll));
      setImmediate(poll);
    }
  }

  /**
   * Plans now what a pending dispatch would plan at the end of this turn: a call still describing
   * its later targets hands its first ones to threads meanwhile (fd-call.ts). Not inside a
   * group-commit window, which exists to wait.
   */
  dispatchNow(): void {
    if (this.#dispatchPending && this.#commit.windowUs === 0) this.#dispatch();
  }

  #dispatch(): void {
    this.#dispatchPending = false;
    // While every thread is busy, requests pile up in `queued` and share the next plan.
    while (this.#ready.size > 0 && this.#tasks < this.#pool.maxThreads) {
      this.#startPlan(this.#ready.take(this.#commit.maxBatch));
    }
  }

  #startPlan(batch: FileState[]): void {
    // By device, then strategy: a bigint is a Map key by value, and a `${dev}|…` string per file
    // was a bigint printed 1,000 times for a 1,000-file plan.
    const groups = new Map<bigint, Map<Strategy, Entry[]>>();
    for (let i = 0; i < batch.length; i++) {
      const st = batch[i]!;
      const waiters = st.queued;
      st.queued = [];
      st.inflight = waiters;
      this.#queued -= waiters.length;
      this.#inflight += waiters.length;
      let mode: Mode = 'data';
      for (const w of waiters) {
        w.state = 'inflight';
        mode = stronger(mode, w.mode);
      }
      const io = waiters.length === 1 ? waiters[0]! : this.#ioWaiter(waiters);
      const strategy = waiters[0]!.strategy;
      const entry = newEntry(st, strategy, io.pathOnly, io.fd, mode);
      let byStrategy = groups.get(st.file.dev);
      if (!byStrategy) groups.set(st.file.dev, (byStrategy = new Map()));
      const list = byStrategy.get(strategy);
      if (list) list.push(entry);
      else byStrategy.set(strategy, [entry]);
    }
    for (const byStrategy of groups.values()) {
      for (const entries of byStrategy.values()) {
        this.#runGroup(entries).catch((err: unknown) => this.#failPlan(entries, err));
      }
    }
  }

  /**
   * The safety net for a bug of ours, not a flush result: fails what a plan had not answered,
   * never hangs it and never reports it durable.
   */
  #failPlan(entries: readonly Entry[], err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    const answer = new SharedOutcomes({
      errno: 0, workerError: error, syscall: null, plan: null, reason: `plan failed: ${error.message}`, nanos: 0, backend: this.#pool.backend, syscallIds: [],
    });
    for (const e of entries) this.#finish(e, answer);
  }

  /** The capabilities this thread knows by itself, with what the probe says of io_uring. */
  #capsWith(uring: boolean): Capabilities {
    return { native: this.#pool.backend === 'native', uring, syncfsReportsErrors: syncfsReportsErrors(), maxThreads: this.#pool.maxThreads };
  }

  /** What a pool thread can do (io_uring, cachestat): asked once, on the first plan. */
  #capabilities(): Promise<Capabilities> {
    this.#caps ??= (async () => {
      // A pool that cannot say is a pool without io_uring: never a reason to fail a flush.
      const probe = await Promise.resolve()
        .then(() => this.#pool.probe?.())
        .catch(() => null);
      return this.#capsWith(probe?.uring === 0);
    })();
    void this.#caps.then((caps) => (this.#capsNow = caps));
    return this.#caps;
  }

  /**
   * Whether cachestat may run on this thread for the pool's fds: the pool measures dirty data
   * at all (a fake one does not, and its fds may be no real files) and flushes with the addon.
   */
  #measuresDirtyHere(): boolean {
    return this.#pool.dirty !== undefined && this.#pool.backend === 'native';
  }

  /** Dirty + writeback bytes of the batch's files (cachestat here or on a pool thread), or null. */
  async #ownDirty(entries: readonly Entry[]): Promise<number | null> {
    if (!this.#pool.dirty) return null;
    // A small batch is measured here, without a round trip to the pool (see dirty.ts).
    if (entries.length <= LOCAL_DIRTY_MAX_FILES && this.#measuresDirtyHere()) {
      const local = localDirtyBytes(Int32Array.from(entries, (e) => e.fd));
      if (local !== null) return local;
    }
    try {
      const res = await this.#pool.dirty(Int32Array.from(entries, (e) => e.fd));
      if (res.errno !== 0) return null;
      let sum = 0;
      for (let i = 0; i < entries.length; i++) sum += Math.max(0, res.dirtyBytes[i]!) + Math.max(0, res.writebackBytes[i]!);
      return sum;
    } catch {
      return null;
    }
  }

  async #runGroup(entries: Entry[]): Promise<void> {
    const fs = entries[0]!.state.file.fs;
    const dev = entries[0]!.dev;
    const strategy = entries[0]!.strategy;
    const caps = this.#capsNow ?? (await this.#capabilities());
    const pipeline = pipelineOf(entries);
    // A later chunk of a pipelined call takes the call's choice: what the planner would read for
    // it (vmstat, and maybe a cachestat trip for its thousands of fds) would go unused.
    const measure = !pipeline?.choiceFor(dev);
    let ownDirtyBytes: number | null = null;
    // The system's dirty data picks the cost models' regime; with syncfs eligible, it is also
    // the noisy-neighbour guard's.
    const systemDirty = measure && this.#planner.wantsSystemDirty({ files: entries.length, strategy }) ? systemDirtyBytes() : null;
    if (measure && this.#planner.mayUseSyncfs({ fs, files: entries.length, strategy }, caps)) {
      // A nearly clean system passes the guard whatever the batch owns: skip the cachestat trip.
      if (this.#planner.needsOwnDirty(systemDirty)) ownDirtyBytes = await this.#ownDirty(entries);
    }
    // Asked again after the cachestat trip: an earlier chunk may have chosen meanwhile.
    const shared = pipeline?.choiceFor(dev);
    const choice = shared
      ? { ...shared, reason: `${shared.reason}; as chosen for the call's first plan here` }
      : this.#planner.choose(
        { dev, fs, files: pipeline ? pipeline.files : entries.length, strategy, ownDirtyBytes, systemDirtyBytes: systemDirty },
        caps,
      );
    const plan = planGroup(entries, choice.arm, choice.reason);
    const startedAt = performance.now();
    pipeline?.started(dev, choice, entries.length, startedAt);
    let endedAt = startedAt;
    let syscalls = 0;
    let failed = 0;
    const requests = entries.reduce((n, e) => n + e.state.inflight!.length, 0);
    this.#lastAlone = requests === 1;
    const finish = (entry: Entry, errno: number, workerError: Error | null, syscall: string, nanos: number, backend: Backend, id: number) => {
      if (errno !== 0 || workerError) failed++;
      endedAt = performance.now();
      const kick = entry.kickId;
      const syscallIds = kick === undefined ? [id] : [kick, id];
      this.#finish(entry, { errno, workerError, syscall, plan: plan.plan, reason: plan.reason, nanos, backend, syscallIds });
    };
    const how = { width: plan.width, uring: plan.plan === 'uring' ? plan.depth : 0, workers: plan.workers };

    if (plan.kicks.length > 0) {
      // Failed kicks are ignored: without WAIT flags sync_file_range consumes no error, and the
      // flush that follows reports whatever the writeback hit.
      syscalls += plan.kicks.length;
      await this.#run(plan.kicks.map((e) => ({ entry: e, op: OPS.WRITEBACK })), how, (e, _op, _errno, _ns, _b, _err, id) => (e.kickId = id));
    }
    const work: Promise<number>[] = [];
    for (let i = 0; i < plan.flushes.length; i++) syscalls += opSyscalls(plan.flushes[i]!.op, false).length;
    work.push(this.#run(plan.flushes, how, (e, op, errno, nanos, backend, err, id) => {
      if (opSyscalls(op, false).length > 1) e.kickId = id - 1; // a kicked flush: the kick is id - 1
      finish(e, errno, err, OP_SYSCALL[op], nanos, backend, id);
    }));
    if (plan.syncfsFd !== null) {
      syscalls++;
      const head = plan.covered[0]!;
      work.push(
        this.#run([{ entry: head, op: OPS.SYNCFS }], { width: 1, uring: 0, workers: 0 }, (_e, _op, errno, nanos, backend, err, id) => {
          endedAt = performance.now();
          // syncfs names no file: its error fails every file it was meant to cover.
          if (errno !== 0 || err) failed += plan.covered.length;
          const answer = new SharedOutcomes({ errno, workerError: err, syscall: 'syncfs', plan: plan.plan, reason: plan.reason, nanos, backend, syscallIds: [id] });
          this.#answerAll(() => {
            for (let i = 0; i < plan.covered.length; i++) this.#finish(plan.covered[i]!, answer);
          });
        }),
      );
    }
    const tasks = Math.max(...(await Promise.all(work)));
    // Until the last answer, not until this line: the caller's code may run in between.
    const durationMs = endedAt - startedAt;
    if (pipeline) {
      const measured = pipeline.ended(dev, endedAt, failed > 0);
      if (measured) this.#planner.observe(dev, { ...choice, x: measured.files }, measured.ms);
    }
    this.#planEnded(pipeline ? null : choice, {
      dev, fsType: fs?.name ?? null, plan: plan.plan, reason: plan.reason, files: entries.length,
      requests, syscalls, failed, tasks, startedAt: performance.timeOrigin + startedAt, durationMs,
    });
  }

  /**
   * Runs ops spread over `width` threads, or as one io_uring batch of depth `uring`
   * on one thread; `done` gets each op's result as its task returns. Resolves to the number of
   * tasks.
   */
  async #run(
    ops: ReadonlyArray<{ entry: Entry; op: OpCode }>,
    how: { readonly width: number; readonly uring: number; readonly workers: number },
    done: (entry: Entry, op: OpCode, errno: number, nanos: number, backend: Backend, err: Error | null, id: number) => void,
  ): Promise<number> {
    if (ops.length === 0) return 0;
    // The planner's width, not the threads free right now: a plan started while another holds
    // the threads would run as one serial slice long after they freed up; piscina hands queued
    // slices to threads as they free. The cost model also learns the width it chose.
    const parts = how.uring > 0 ? [[0, ops.length] as [number, number]] : slices(ops.length, how.width);
    await Promise.all(
      parts.map(async ([a, b]) => {
        // Plain loops into typed arrays, and the stats counted per op code: the slice, maps,
        // from()s and a stats update per op here were ~4 ms of a 10,000-file plan.
        const n = b - a;
        const fds = new Int32Array(n);
        const codes = new Uint8Array(n);
        const ids = new Float64Array(n);
        const perOp = new Uint32Array(256);
        for (let i = 0; i < n; i++) {
          const { entry, op } = ops[a + i]!;
          fds[i] = entry.fd;
          codes[i] = op;
          // An id per syscall (a kicked flush has two: kick, flush); each op gets its last one.
          ids[i] = this.#syscallId += opSyscalls(op, false).length;
          perOp[op]!++;
        }
        // io_uring flushes are not fsync/fdatasync syscalls of ours: counted apart, so the counts
        // match what strace sees.
        for (let op = 0; op < perOp.length; op++) {
          if (perOp[op] === 0) continue;
          for (const name of opSyscalls(op as OpCode, how.uring > 0)) this.stats.flushes[name] = (this.stats.flushes[name] ?? 0) + perOp[op]!;
        }
        this.#tasks++;
        try {
          const res = how.uring > 0 && this.#pool.flushWith
            ? await this.#pool.flushWith(fds, codes, { engine: 'uring', depth: how.uring, maxWorkers: how.workers })
            : await this.#pool.flush(fds, codes);
          this.#answerAll(() => {
            for (let i = 0; i < n; i++) {
              const { entry, op } = ops[a + i]!;
              done(entry, op, res.errnos[i]!, res.nanos[i]!, res.backend, null, ids[i]!);
            }
          });
        } catch (err) {
          // The thread died holding these flushes: they may or may not have run, and an error
          // they returned is lost with it. Never durable; remembered like any failure.
          for (let i = 0; i < n; i++) {
            const { entry, op } = ops[a + i]!;
            done(entry, op, 0, 0, this.#pool.backend, err as Error, ids[i]!);
          }
        } finally {
          this.#tasks--;
          this.#schedule(true);
        }
      }),
    );
    return parts.length;
  }

  /** `a`: this file's own answer, or one shared by every file a syncfs covered. */
  #finish(entry: Entry, a: FlushAnswer | SharedOutcomes): void {
    if (entry.finished) return;
    entry.finished = true;
    const st = entry.state;
    if (st.member === entry) st.member = null;
    const waiters = st.inflight!;
    st.inflight = null;
    this.#inflight -= waiters.length;
    this.stats.merged += waiters.length - 1;
    const served = a instanceof SharedOutcomes ? a.get(entry.mode, waiters.length) : outcomeOf(a, entry.mode, waiters.length);
    const now = performance.now();
    for (const w of waiters) this.#answer(w, served, now);
    if (isSticky(served)) {
      st.failure = { ...served, sticky: true };
      // Requests that arrived during the failed flush: a new flush would now return 0.
      const later = st.queued;
      st.queued = [];
      this.#queued -= later.length;
      this.#ready.delete(st);
      this.stats.sticky += later.length;
      for (const w of later) this.#answer(w, st.failure, now);
    } else if (st.queued.length > 0) {
      this.#ready.add(st);
      this.#schedule(true);
    }
    if (this.#forgetting) this.#forgetting.push(st);
    else this.#forgetIfIdle(st);
  }

  /**
   * Gives many answers at once (`give` calls #finish for each), and forgets the files left idle
   * afterwards, on a later turn of the event loop: the callers' answers go out first. Forgetting
   * is a Map delete per file, and the Map shrinks and rehashes as it empties; done in between,
   * it held back the answer of a 10,000-fd call (early syncfs, flushes answered at once, so CPU
   * only: 55 ms per call, 49.5 deferred; medians of 6 alternating processes x 40 calls). Deferred,
   * a file's state outlives its flush by a turn; a request arriving meanwhile finds it idle and
   * uses it, as it would a fresh one.
   */
  #answerAll(give: () => void): void {
    if (this.#forgetting) return give();
    const idle: FileState[] = [];
    this.#forgetting = idle;
    try {
      give();
    } finally {
      this.#forgetting = null;
    }
    if (idle.length < FORGET_NOW_MAX) {
      for (let i = 0; i < idle.length; i++) this.#forgetIfIdle(idle[i]!);
      return;
    }
    setImmediate(() => {
      for (let i = 0; i < idle.length; i++) {
        const st = idle[i]!;
        // Forgotten meanwhile (a cancel, a reset) and replaced by a new state: not this one's to drop.
        if (this.#files.get(st.file.key) === st) this.#forgetIfIdle(st);
      }
    });
  }

  #answer(w: Waiter, outcome: FlushOutcome, now = performance.now()): void {
    w.state = 'done';
    this.stats.latency(now - w.arrivedAt);
    w.settle(outcome);
  }

  /**
   * The waiter whose fd a merged flush goes through: one open for I/O when there is one, so that
   * an O_PATH fd naming the file fails only its own request. A waiter whose flags were not asked
   * is asked here, which only a file named by several fds in one plan pays.
   */
  #ioWaiter(waiters: readonly Waiter[]): Waiter {
    for (const w of waiters) {
      if (w.pathOnly === false) return w;
      if (w.pathOnly === null) {
        const d = this.#pool.describeFd(w.fd);
        if (d.errno === 0 && !d.pathOnly) return w;
      }
    }
    return waiters[0]!;
  }

  /**
   * Whether a call's files may be flushed by a syncfs, which covers only fds open for I/O: then
   * describing them must ask each fd's flags (an fcntl, ~1 µs each here).
   */
  maySyncfs(strategy: Strategy): boolean {
    return strategy === 'syncfs' || (strategy === 'auto' && this.#planner.allowsSyncfs);
  }

  #forgetIfIdle(st: FileState): void {
    if (st.queued.length === 0 && st.inflight === null && st.failure === null) this.#files.delete(st.file.key);
  }
}
