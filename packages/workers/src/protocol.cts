// The messages between the pool (main thread) and a worker. Typed arrays keep a batch of 100,000
// targets one structured clone rather than 100,000 objects.

/** Which code issued the syscalls: the addon, or Node's fs.*Sync inside the worker. */
export type Backend = 'native' | 'js';

/** What kind of file an fd names, from fstat's st_mode. */
export const KIND = {
  UNKNOWN: 0,
  FILE: 1,
  DIRECTORY: 2,
  FIFO: 3,
  SOCKET: 4,
  CHAR_DEVICE: 5,
  BLOCK_DEVICE: 6,
} as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

/** Open the paths (fds[i] = -1 where paths[i] is set), fstat and fstatfs everything. */
export interface ResolveTask {
  readonly kind: 'resolve';
  readonly fds: Int32Array;
  readonly paths: ReadonlyArray<string | null>;
  /** Also report realpath() of each path, to find the directory that holds the file itself. */
  readonly realpaths: boolean;
}

export interface ResolveResult {
  readonly backend: Backend;
  /** The fd to flush: the caller's, or one the worker opened (opened[i] = 1), or -1. */
  readonly fds: Int32Array;
  readonly opened: Uint8Array;
  /** 0, or the errno of the call named in failedSyscall[i]. */
  readonly errnos: Int32Array;
  readonly failedSyscall: ReadonlyArray<string | null>;
  readonly dev: BigUint64Array;
  readonly ino: BigUint64Array;
  /** Birth time in ns (statx), 0 where the filesystem has none: tells a new file from an old inode number. */
  readonly birth: BigUint64Array;
  readonly kind: Uint8Array;
  /** 1 where the fd can do no I/O (O_PATH): its flush fails, and no syncfs may cover it. */
  readonly pathOnly: Uint8Array;
  /** fstatfs f_type magic, or -errno when the filesystem could not be asked. */
  readonly fsType: Float64Array;
  readonly realpaths: ReadonlyArray<string | null>;
}

/**
 * How a flush task issues its ops: 'sync' one syscall after another on the worker's thread;
 * 'uring' the whole batch in flight at once on the thread's io_uring (addon only).
 */
export type FlushEngine = 'sync' | 'uring';

/** How to run a flush task; FlushPool.flush() is { engine: 'sync' }. */
export interface FlushOptions {
  readonly engine: FlushEngine;
  /** 'uring': most entries in flight at once (default 256, at most 32768). */
  readonly depth?: number;
  /**
   * 'uring': raise this thread's io-wq bounded worker cap (default min(depth, 4 × CPUs)) to this
   * many. It stays raised for the thread's life; best effort (Linux 5.15+).
   */
  readonly maxWorkers?: number;
}

/**
 * Run ops[i] (an OPS code from @fsync2/native) on fds[i] on this worker's thread: in order with
 * the 'sync' engine, all at once and in no order with 'uring' (independent files only).
 */
export interface FlushTask {
  readonly kind: 'flush';
  readonly fds: Int32Array;
  readonly ops: Uint8Array;
  /** Default 'sync'. 'uring' falls back to 'sync' where the thread has no io_uring. */
  readonly engine?: FlushEngine;
  readonly depth?: number;
  readonly maxWorkers?: number;
}

export interface FlushResult {
  readonly backend: Backend;
  /**
   * Which engine actually ran: 'uring' only when the thread's ring served the batch; a fallback
   * says 'sync'. The worker always sets it; optional so that other FlushBackends (test fakes)
   * need not, and absent means 'sync'.
   */
  readonly engine?: FlushEngine;
  readonly errnos: Int32Array;
  readonly nanos: Float64Array;
  /** Wall-clock ms (performance.timeOrigin based) when the first op started and the last ended. */
  readonly startedAt: number;
  readonly endedAt: number;
}

/** A FlushResult from the real worker, which always says which engine ran. */
export type EngineFlushResult = FlushResult & { readonly engine: FlushEngine };

/** What this machine can do, measured in one worker thread. */
export interface ProbeTask {
  readonly kind: 'probe';
}

export interface ProbeResult {
  readonly backend: Backend;
  /** 0 when io_uring works in a worker thread, else the errno of why not (ENOSYS without the addon). */
  readonly uring: number;
  /** 0 when cachestat(2) works (Linux 6.5+), else its errno (ENOSYS without the addon). */
  readonly cachestat: number;
  /** Bytes per page: cachestat's unit. */
  readonly pageSize: number;
}

/** Dirty and under-writeback bytes of each fd's page cache (cachestat). */
export interface DirtyTask {
  readonly kind: 'dirty';
  readonly fds: Int32Array;
}

export interface DirtyResult {
  /** Bytes; -1 where cachestat failed for that fd. */
  readonly dirtyBytes: Float64Array;
  readonly writebackBytes: Float64Array;
  /** 0, or the first errno (ENOSYS where cachestat or the addon is missing: estimate instead). */
  readonly errno: number;
}

export interface CloseTask {
  readonly kind: 'close';
  readonly fds: Int32Array;
}

export interface CloseResult {
  readonly errnos: Int32Array;
}

export type Task = ResolveTask | FlushTask | CloseTask | ProbeTask | DirtyTask;
