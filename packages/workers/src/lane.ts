// A flush lane: one dedicated thread that takes flush requests through shared memory instead of a
// MessagePort. piscina's round trip (structured clone, message events, its task bookkeeping) costs
// 80-100 µs each way here, as much as an fdatasync; the lane's costs a futex wake each way, so a
// lone caller's flush (a log's commit, W5) takes about what Node's own datasync() takes. The
// lane takes one request at a time; the pool sends everything else to piscina.
//
// A futex wake of a sleeping thread costs 20-40 µs on this VM. So after each answer the lane's
// thread polls the request word for a while (`pollUs`) before it sleeps, as io_uring's SQPOLL
// thread does, but only when the last request came that soon after its answer: a sporadic caller
// or a slow disk costs no spinning.
//
// This side polls for the answer too, on setImmediate turns (the event loop serves everything else
// meanwhile), for up to `pollUs`: group commit, where the answer's wake-up delays every waiter
// (W3: 12x Node with it, 9.4x without), and a lone caller, whose main thread would otherwise sleep
// through the flush and wake with cold caches: fsync2's own code before and after a flush then ran
// 3-5x slower than in a loop (W5, interleaved probe: 1.14x Node's datasync() polled, 1.28x not).
//
// Both polls call sched_yield on every turn. The scheduler tends to queue a thread on the CPU of
// the thread that woke it, and a poller that never yields keeps it there until the poll ends or
// the next tick: one file's flush, 0.2 ms otherwise, took 0.8-1.3 ms per request for whole rounds
// on this 2-CPU VM, whenever the lane thread was woken by a main thread that then polled, or the
// main thread by a lane thread polling for the next request. Without the addon there is no
// sched_yield, and neither side polls.

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { WorkerError } from './errors.js';
import { CTL, LANE_CAPACITY, laneBuffer, laneViews, type LaneViews } from './lane-layout.cjs';
import type { EngineFlushResult, FlushOptions } from './protocol.cjs';

// CommonJS for the same reason as the pool's worker: it loads with require(), never waiting on
// libuv's threadpool.
const THREAD = fileURLToPath(new URL('./lane-thread.cjs', import.meta.url));

// Atomics.waitAsync is in Node since 16; TypeScript 7 does not find it in its libs here.
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export interface LaneOptions {
  /**
   * µs the thread polls for the next request after an answer before it sleeps, and this side for
   * the answer of a flush asked with `poll`; 0 never polls.
   */
  readonly pollUs: number;
  /**
   * sched_yield, called on every turn of this side's poll; null: this side never polls (the
   * pure-TS path).
   */
  readonly yieldCpu?: (() => number) | null;
  /** The lane thread's module, for tests that make it die. */
  readonly thread?: string;
}

interface Waiting {
  readonly resolve: (r: EngineFlushResult) => void;
  readonly reject: (e: Error) => void;
}

export class FlushLane {
  readonly #buffer = laneBuffer();
  readonly #views: LaneViews = laneViews(this.#buffer);
  readonly #worker: Worker;
  #seq = 0;
  #waiting: Waiting | null = null;
  #inflight: Promise<EngineFlushResult> | null = null;
  /** Set when the thread exited or failed: the lane takes no more requests. */
  #dead: Error | null = null;
  #exited = false;
  readonly #pollMs: number;
  readonly #yieldCpu: (() => number) | null;

  constructor(options: LaneOptions) {
    this.#yieldCpu = options.yieldCpu ?? null;
    this.#pollMs = this.#yieldCpu ? options.pollUs / 1000 : 0;
    const workerData = { buffer: this.#buffer, pollUs: options.pollUs };
    this.#worker = new Worker(options.thread ?? THREAD, { workerData, trackUnmanagedFds: false });
    // Idle, the lane must not keep the process alive; a request in flight does (see flush()).
    this.#worker.unref();
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      this.#fail(new Error(`the flush lane's thread exited with code ${code}`));
    });
  }

  /** Loaded, alive and not serving another request. */
  get free(): boolean {
    return this.#dead === null && this.#waiting === null && Atomics.load(this.#views.ctl, CTL.READY) === 1;
  }

  get capacity(): number {
    return LANE_CAPACITY;
  }

  /**
   * Tells the thread a request is coming within about a millisecond, so that it is awake when it
   * comes: waking a sleeping thread took 0.5-1.4 ms here (a 2-vCPU Firecracker VM whose idle
   * vCPU is halted), against 0.1 ms for the whole crossing once it is awake: a tenth of a
   * 1,000-file syncfs (W1). The caller spends that millisecond on work of its own (the guard's
   * cachestat) while the thread wakes; the thread then polls, yielding, for at most
   * PRIME_POLL_MS (lane-layout.cts) and sleeps again if no request came. Without the addon the
   * thread never polls, and a prime is only a spurious wake-up.
   */
  prime(): void {
    if (!this.free || this.#pollMs === 0) return;
    const { ctl } = this.#views;
    Atomics.store(ctl, CTL.PRIMED, 1);
    Atomics.add(ctl, CTL.WAKE, 1);
    Atomics.notify(ctl, CTL.WAKE);
  }

  /**
   * Where the last prime() is (for tests): 'sent' until the thread takes it, 'polling' while the
   * thread polls for the request it announced, null once a request came or the poll ended.
   */
  get primed(): 'sent' | 'polling' | null {
    const state = Atomics.load(this.#views.ctl, CTL.PRIMED);
    return state === 1 ? 'sent' : state === 2 ? 'polling' : null;
  }

  /**
   * Call only when `free`, with at most `capacity` entries; `options` as the pool's flushWith().
   * A synchronous flush's answer is also looked for on each event-loop turn for up to `pollUs`;
   * an io_uring batch's takes milliseconds, and polling for it would only take a CPU from the
   * io-wq workers running it.
   */
  flush(fds: Int32Array, ops: Uint8Array, options?: FlushOptions): Promise<EngineFlushResult> {
    const { ctl, fds: sharedFds, ops: sharedOps } = this.#views;
    const n = fds.length;
    sharedFds.set(fds);
    sharedOps.set(ops);
    ctl[CTL.COUNT] = n;
    const uring = options?.engine === 'uring';
    ctl[CTL.ENGINE] = uring ? 1 : 0;
    ctl[CTL.DEPTH] = uring ? (options.depth ?? 0) : 0;
    ctl[CTL.MAX_WORKERS] = uring ? (options.maxWorkers ?? 0) : 0;
    const seq = ++this.#seq;
    const answer = new Promise<EngineFlushResult>((resolve, reject) => (this.#waiting = { resolve, reject }));
    this.#inflight = answer;
    // A pending Atomics.waitAsync does not keep Node's event loop alive; the ref'd thread does.
    this.#worker.ref();
    Atomics.store(ctl, CTL.REQUEST, seq);
    Atomics.add(ctl, CTL.WAKE, 1);
    Atomics.notify(ctl, CTL.WAKE);
    this.#wake(seq, n);
    if (this.#pollMs > 0 && this.#waiting && !uring) this.#poll(seq, n);
    return answer;
  }

  /**
   * Waits to be woken for request `seq`'s answer. A wake-up may be an earlier request's: its
   * notify can arrive after polling (or an answer already there when the wait began) took that
   * answer and this request began to wait. Then it waits again: taking that wake-up for this
   * request's would leave it waiting forever (seen in a W3 bench round).
   */
  #wake(seq: number, n: number): void {
    if (this.#seq !== seq || !this.#waiting) return;
    const { ctl } = this.#views;
    const done = Atomics.load(ctl, CTL.DONE);
    if (done === seq) return this.#answer(seq, n);
    const wait = waitAsync(ctl, CTL.DONE, done);
    if (wait.async) void wait.value.then(() => this.#wake(seq, n));
    else this.#wake(seq, n);
  }

  #poll(seq: number, n: number): void {
    const { ctl } = this.#views;
    const until = performance.now() + this.#pollMs;
    const look = () => {
      if (this.#seq !== seq || !this.#waiting) return;
      if (Atomics.load(ctl, CTL.DONE) === seq) return this.#answer(seq, n);
      if (performance.now() >= until) return;
      this.#yieldCpu!();
      setImmediate(look);
    };
    setImmediate(look);
  }

  #answer(seq: number, n: number): void {
    const waiting = this.#waiting;
    const { ctl, errnos, nanos, times } = this.#views;
    // Both the poll and the wake-up answer a request: only the first does, and a late one for an
    // earlier request must never answer the current one.
    if (!waiting || this.#seq !== seq || Atomics.load(ctl, CTL.DONE) !== seq) return;
    this.#waiting = null;
    this.#worker.unref();
    waiting.resolve({
      backend: ctl[CTL.NATIVE] === 1 ? 'native' : 'js',
      engine: ctl[CTL.ENGINE_USED] === 1 ? 'uring' : 'sync',
      errnos: errnos.slice(0, n),
      nanos: nanos.slice(0, n),
      startedAt: times[0]!,
      endedAt: times[1]!,
    });
  }

  #fail(err: Error): void {
    this.#dead ??= err;
    const waiting = this.#waiting;
    this.#waiting = null;
    // The thread died holding a request: it may or may not have flushed, and its answer is lost.
    waiting?.reject(new WorkerError(`flush lane failed during a flush task: ${err.message}`, { cause: err }));
  }

  get dead(): Error | null {
    return this.#dead;
  }

  /** Lets a running flush finish (a flush is never interrupted), then stops the thread. */
  async destroy(): Promise<void> {
    if (this.#dead) return;
    const running = this.#waiting ? this.#inflight : null;
    this.#dead = new Error('the flush lane is closed');
    await running?.catch(() => {});
    // The thread may have died while that flush ran: nothing left to stop.
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    // Waiting for the exit must keep the process alive, as any close() does.
    this.#worker.ref();
    Atomics.store(this.#views.ctl, CTL.STOP, 1);
    Atomics.add(this.#views.ctl, CTL.REQUEST, 1);
    Atomics.add(this.#views.ctl, CTL.WAKE, 1);
    Atomics.notify(this.#views.ctl, CTL.WAKE);
    // The thread leaves its loop by itself (after loading, if it was still loading): terminating it
    // mid-load would interrupt the addon's registration. A thread that does not leave in time is
    // terminated all the same.
    const late = setTimeout(() => void this.#worker.terminate().catch(() => {}), 2000);
    late.unref();
    await exited;
    clearTimeout(late);
  }
}
