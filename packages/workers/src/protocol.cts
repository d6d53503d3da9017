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

/** Run ops[i] (an OPS code from @fsync2/native) on fds[i], in order, on this worker's thread. */
export interface FlushTask {
  readonly kind: 'flush';
  readonly fds: Int32Array;
  readonly ops: Uint8Array;
}

export interface FlushResult {
  readonly backend: Backend;
  readonly errnos: Int32Array;
  readonly nanos: Float64Array;
  /** Wall-clock ms (performance.timeOrigin based) when the first op started and the last ended. */
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface CloseTask {
  readonly kind: 'close';
  readonly fds: Int32Array;
}

export interface CloseResult {
  readonly errnos: Int32Array;
}

export type Task = ResolveTask | FlushTask | CloseTask;
