// The pool of flush threads. Each task's syscalls block one piscina worker thread; libuv's shared
// threadpool (fs, dns.lookup, crypto, zlib) is never used for a flush.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { loadNative, type NativeSource, type NativeStatus } from '@fsync2/native';
import { WorkerError } from './errors.js';
import { FlushLane } from './lane.js';
import { describeFd, describeFds, type FdInfo } from './resolve.cjs';
import type {
  Backend,
  CloseResult,
  DirtyResult,
  EngineFlushResult,
  FlushOptions,
  FlushResult,
  ProbeResult,
  ResolveResult,
  Task,
} from './protocol.cjs';

export interface PoolOptions {
  /** Threads kept alive. Started at construction so a busy libuv threadpool cannot delay them. */
  readonly minThreads: number;
  /** Concurrent flushes share journal commits, so more threads than cores pay off. */
  readonly maxThreads: number;
  /** ms before a thread above minThreads exits. */
  readonly idleTimeout: number;
  /** piscina's wait mode between tasks: 'sync' is lowest latency, 'async' lets a thread run timers. */
  readonly atomics: 'sync' | 'async' | 'disabled';
  /** Worker module, for tests that wrap the real one. Must be CommonJS (see below). */
  readonly filename?: string;
  /**
   * A flush lane: one more thread that takes flush tasks (up to 8,192 files) through shared memory, without
   * piscina's MessagePort round trip (see lane.ts). false sends every task to piscina.
   */
  readonly lane: boolean;
  /**
   * µs the lane's thread polls for the next request after an answer before it sleeps, and the
   * main thread for the answer of a lane flush (see lane.ts): saves a thread wake-up each way per
   * flush, for at most this much CPU per flush. 0 never polls.
   */
  readonly pollUs: number;
}

const cores = availableParallelism();

/** Defaults that suit 2 cores and 64 alike: flush threads wait on the device, not the CPU. */
export const DEFAULT_POOL_OPTIONS: PoolOptions = {
  minThreads: Math.min(cores, 4),
  maxThreads: Math.min(64, Math.max(8, cores * 4)),
  idleTimeout: 30_000,
  atomics: 'sync',
  lane: true,
  pollUs: 500,
};

/** A lane that keeps dying is given up: piscina serves every task from then on. */
const LANE_RESTARTS = 3;

// A CommonJS worker loads through require(), which reads files synchronously. An ES module
// would be read through fs/promises, on the very threadpool that a busy process may have
// filled, and a new thread would wait behind it.
const WORKER = fileURLToPath(new URL('./worker.cjs', import.meta.url));

/** What the core needs from a pool: FlushPool, or a fake one that model-checks the scheduler. */
export interface FlushBackend {
  readonly backend: Backend;
  readonly nativeReason: string | null;
  /** With the addon: 'prebuilt' (shipped in the package) or 'build' (compiled from source); else null. */
  readonly nativeSource?: NativeSource | null;
  readonly maxThreads: number;
  resolve(fds: Int32Array, paths: ReadonlyArray<string | null>, realpaths: boolean): Promise<ResolveResult>;
  /** statx, fstatfs and fcntl of an open fd on the calling thread: no round trip to the pool. */
  describeFd(fd: number): FdInfo;
  /** describeFd of each fd, in one crossing; `openedForIo[i]` set: fd i is known not to be O_PATH. */
  describeFds(fds: Int32Array, openedForIo?: Uint8Array): FdInfo[];
  flush(fds: Int32Array, ops: Uint8Array): Promise<FlushResult>;
  /** flush() with a chosen engine; optional so that fakes without io_uring need not have it. */
  flushWith?(fds: Int32Array, ops: Uint8Array, options: FlushOptions): Promise<FlushResult>;
  /** What a flush thread can do here (io_uring, cachestat, page size); optional for fakes. */
  probe?(): Promise<ProbeResult>;
  /** A flush of a few entries is coming within about a millisecond: wake a thread for it now. */
  prime?(): void;
  /** Dirty and writeback bytes per fd from cachestat; errno ENOSYS when the caller must estimate. */
  dirty?(fds: Int32Array): Promise<DirtyResult>;
  close(fds: Int32Array): Promise<CloseResult>;
  destroy(): Promise<void>;
}

interface Pending {
  /** Set when the task is failed on the pool's behalf (its threads could not start). */
  failure: WorkerError | null;
  readonly abort: AbortController;
}

export class FlushPool implements FlushBackend {
  readonly #options: PoolOptions;
  readonly #native: NativeStatus;
  readonly #pending = new Set<Pending>();
  #piscina: Piscina;
  #lane: FlushLane | null;
  #laneRestarts = 0;
  /** Every thread failed while loading: piscina then starts no more, and queued tasks would wait forever. */
  #broken: Error | null = null;
  #closed = false;

  constructor(options: Partial<PoolOptions> = {}) {
    this.#options = { ...DEFAULT_POOL_OPTIONS, ...options };
    this.#native = loadNative();
    this.#piscina = this.#start();
    this.#lane = this.#options.lane ? this.#newLane() : null;
  }

  #start(): Piscina {
    const o = this.#options;
    const piscina = new Piscina({
      filename: o.filename ?? WORKER,
      minThreads: Math.min(o.minThreads, o.maxThreads),
      maxThreads: o.maxThreads,
      idleTimeout: o.idleTimeout,
      atomics: o.atomics,
      concurrentTasksPerWorker: 1,
      // A path target's fd is opened by one thread's resolve task and closed by another's close
      // task. With Node's default (trackUnmanagedFds: true) the opening thread would close that
      // fd number again when it exits, by then perhaps a caller's file or another thread's
      // event loop fd (libuv aborts when its wakeup fd is gone).
      trackUnmanagedFds: false,
    });
    // A thread that dies holding a task rejects that task, and piscina replaces the thread.
    // The 'error' event is piscina's report of a thread that died holding nothing, which would
    // otherwise be an uncaught exception; it is how a thread that failed to load shows up.
    piscina.on('error', (err: Error) => this.#onThreadError(piscina, err));
    return piscina;
  }

  #onThreadError(piscina: Piscina, err: Error): void {
    if (piscina !== this.#piscina || piscina.threads.length > 0) return;
    this.#broken = err;
    const failure = new WorkerError(`flush thread failed to start: ${message(err)}`, { cause: err });
    for (const task of this.#pending) {
      task.failure = failure;
      task.abort.abort(failure);
    }
  }
  /** Which code will issue the syscalls, and why the addon is not used when it is not. */
  get backend(): Backend {
    return this.#native.available ? 'native' : 'js';
  }

  get nativeReason(): string | null {
    return this.#native.available ? null : this.#native.reason;
  }

  /** Without the addon there is no sched_yield for its poll here, and it never polls (lane.ts). */
  #newLane(): FlushLane {
    const yieldCpu = this.#native.available ? this.#native.binding.schedYield : null;
    return new FlushLane({ pollUs: this.#options.pollUs, yieldCpu });
  }

  get nativeSource(): NativeSource | null {
    return this.#native.available ? this.#native.source : null;
  }

  get threads(): number {
    return this.#piscina.threads.length;
  }

  get maxThreads(): number {
    return this.#piscina.maxThreads;
  }

  get queueSize(): number {
    return this.#piscina.queueSize;
  }

  resolve(fds: Int32Array, paths: ReadonlyArray<string | null>, realpaths: boolean): Promise<ResolveResult> {
    return this.#run({ kind: 'resolve', fds, paths, realpaths }) as Promise<ResolveResult>;
  }

  describeFd(fd: number): FdInfo {
    return describeFd(fd);
  }

  describeFds(fds: Int32Array, openedForIo?: Uint8Array): FdInfo[] {
    return describeFds(fds, openedForIo);
  }

  // No AbortSignal here on purpose: piscina aborts a running task by terminating its thread,
  // which cannot stop a flush in the kernel and would only lose its result.
  flush(fds: Int32Array, ops: Uint8Array): Promise<FlushResult> {
    return this.flushWith(fds, ops, { engine: 'sync' });
  }

  /** The lane serves such a flush when it is free: its thread is woken ahead (FlushLane.prime). */
  prime(): void {
    this.#freeLane()?.prime();
  }

  #freeLane(): FlushLane | null {
    if (this.#closed || !this.#lane) return null;
    if (this.#lane.dead) {
      if (this.#laneRestarts >= LANE_RESTARTS) {
        this.#lane = null;
        return null;
      }
      this.#laneRestarts++;
      this.#lane = this.#newLane();
    }
    return this.#lane.free ? this.#lane : null;
  }

  /**
   * A flush task with a chosen engine. With 'uring' the batch's entries are in flight together in
   * no order: put only independent files in it (a kick and its flush belong in separate tasks).
   * The result's `engine` says which engine ran; 'uring' falls back to 'sync' without a ring.
   */
  flushWith(fds: Int32Array, ops: Uint8Array, options: FlushOptions): Promise<EngineFlushResult> {
    const lane = this.#freeLane();
    if (lane && fds.length <= lane.capacity) return lane.flush(fds, ops, options);
    const { engine, depth, maxWorkers } = options;
    return this.#run({ kind: 'flush', fds, ops, engine, depth, maxWorkers }) as Promise<EngineFlushResult>;
  }

  /** Asks one flush thread what this machine can do: io_uring, cachestat, the page size. */
  probe(): Promise<ProbeResult> {
    return this.#run({ kind: 'probe' }) as Promise<ProbeResult>;
  }

  /** cachestat of each fd on a flush thread (it reads no data, but keeps the main thread free of syscalls). */
  dirty(fds: Int32Array): Promise<DirtyResult> {
    return this.#run({ kind: 'dirty', fds }) as Promise<DirtyResult>;
  }

  close(fds: Int32Array): Promise<CloseResult> {
    return this.#run({ kind: 'close', fds }) as Promise<CloseResult>;
  }

  async destroy(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#piscina.close(), this.#lane?.destroy()]);
  }

  async #run(task: Task): Promise<unknown> {
    if (this.#closed) throw new WorkerError('the flush pool is closed');
    if (this.#broken) {
      // Try fresh threads for new work: the cause may have been passing (fds, memory).
      this.#broken = null;
      const old = this.#piscina;
      this.#piscina = this.#start();
      void old.destroy().catch(() => {});
    }
    const pending: Pending = { failure: null, abort: new AbortController() };
    this.#pending.add(pending);
    try {
      return await this.#piscina.run(task, { signal: pending.abort.signal });
    } catch (err) {
      if (pending.failure) throw pending.failure;
      throw new WorkerError(`flush thread failed during a ${task.kind} task: ${message(err)}`, { cause: err });
    } finally {
      this.#pending.delete(pending);
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
