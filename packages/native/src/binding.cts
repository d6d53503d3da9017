// The one place that touches the .node file (classic-level's habit). Loading is per thread: each
// worker thread that requires this module gets its own instance of the context-aware addon.
import path = require('node:path');
import os = require('node:os');
import { CACHESTAT, OPS, SYNC_FILE_RANGE, URING } from './ops.cjs';

/** The addon's exports. Every call blocks its thread and returns an errno (0 = success). */
export interface NativeBinding {
  fsync(fd: number): number;
  fdatasync(fd: number): number;
  syncfs(fd: number): number;
  syncFileRange(fd: number, offset: number, nbytes: number, flags: number): number;
  /** fstatfs f_type magic, or -errno. */
  fsType(fd: number): number;
  /**
   * out = [st_dev, st_ino, birth ns (0 if unknown), st_mode, f_type (0 if unknown), fd flags]
   * from statx (or fstat), fstatfs and fcntl in one crossing; returns 0 or fstat's errno.
   */
  describeFd(fd: number, out: BigUint64Array): number;
  /**
   * describeFd of fds[i] into out[6 i … 6 i + 5] and errnos[i], for every i; returns the failure
   * count. Where openedForIo[i] is set the caller knows fd i is no O_PATH fd: no fcntl, flags 0.
   */
  describeFds(fds: Int32Array, out: BigUint64Array, errnos: Int32Array, openedForIo?: Uint8Array): number;
  /** fcntl(F_GETFL) status flags, or -errno. */
  fdFlags(fd: number): number;
  /** The platform's O_PATH (0 where there is none). */
  readonly O_PATH: number;
  /**
   * Runs ops[i] on fds[i] for every i, writing errnos[i] (and nanos[i]); returns the failure count.
   * KICK_FSYNC / KICK_FDATASYNC entries are first all kicked (sync_file_range WRITE, result
   * ignored), then flushed in order with the rest; their errno is the flush's.
   */
  flushBatch(fds: Int32Array, ops: Uint8Array, errnos: Int32Array, nanos?: Float64Array): number;
  /**
   * flushBatch's contract, with FSYNC / FDATASYNC / WRITEBACK entries (and the flushes of KICK_*
   * entries, kicked on this thread before the first submission) in flight together on this
   * thread's io_uring, at most `depth` (default URING.DEFAULT_DEPTH) at once, in no particular
   * order; NONE, SYNCFS and unknown ops run synchronously. `maxWorkers` > 0 sets the thread's
   * io-wq bounded worker cap (best effort, Linux 5.15+; it stays set). nanos[i] runs from the
   * entry's submission to its completion. Without a ring (uringStatus() ≠ 0) it is flushBatch.
   */
  flushBatchUring(
    fds: Int32Array,
    ops: Uint8Array,
    errnos: Int32Array,
    nanos?: Float64Array,
    depth?: number,
    maxWorkers?: number,
  ): number;
  /** 0 when this thread has a working io_uring (set up on first call), else why not: ENOSYS, EPERM, ENOMEM… */
  uringStatus(): number;
  /** Turns io_uring off in this thread for good; uringStatus() then returns errno (EPERM by default). */
  disableUring(errno?: number): void;
  /**
   * cachestat(2) of the whole file: out[CACHESTAT.*] in pages. Returns 0 or errno (ENOSYS before
   * Linux 6.5 and off Linux).
   */
  cachestat(fd: number, out: BigUint64Array | Float64Array): number;
  /** Dirty and writeback pages of each fd (-1 in both where cachestat failed); returns the first errno or 0. */
  cachestatBatch(fds: Int32Array, dirty: Float64Array, writeback: Float64Array): number;
  /** sysconf(_SC_PAGESIZE): cachestat's unit. */
  pageSize(): number;
  /** sched_yield(2): lets a thread queued on this CPU run; 0 or errno. For polling loops. */
  schedYield(): number;
  readonly ops: Readonly<Record<keyof typeof OPS, number>>;
  readonly syncFileRangeFlags: Readonly<Record<keyof typeof SYNC_FILE_RANGE, number>>;
  readonly cachestatFields: Readonly<Record<keyof typeof CACHESTAT, number>>;
  readonly uring: Readonly<Record<keyof typeof URING, number>>;
}

/** 'prebuilt': a binary shipped in the package's prebuilds/; 'build': compiled here by node-gyp. */
export type NativeSource = 'prebuilt' | 'build';

export type NativeStatus =
  | {
      readonly available: true;
      readonly binding: NativeBinding;
      readonly file: string;
      /**
       * Where that file came from: 'prebuilt' (a prebuilds/<platform>-<arch>/ binary shipped in the
       * package) or 'build' (compiled from source by node-gyp into build/).
       */
      readonly source: NativeSource;
      /** Why io_uring was turned off in this thread at load (FSYNC2_URING), or null. */
      readonly uringOff: string | null;
    }
  | { readonly available: false; readonly binding: null; readonly reason: string };

/** `FSYNC2_NATIVE=off` forces the pure-TS path (tests run the whole suite both ways). */
export const NATIVE_ENV = 'FSYNC2_NATIVE';

/**
 * `FSYNC2_URING=off` turns io_uring off in every thread that loads the addon afterwards (worker
 * threads copy the environment when they start): flushBatchUring then runs flushBatch's
 * synchronous loop and uringStatus() returns EPERM, so the fallback can be tested on a machine
 * where io_uring works.
 */
export const URING_ENV = 'FSYNC2_URING';

/** What a loader checks the binary for: a build older than these sources lacks some of them. */
const FUNCTIONS = [
  'fsync',
  'fdatasync',
  'syncfs',
  'syncFileRange',
  'fsType',
  'describeFd',
  'describeFds',
  'fdFlags',
  'flushBatch',
  'flushBatchUring',
  'uringStatus',
  'disableUring',
  'cachestat',
  'cachestatBatch',
  'pageSize',
  'schedYield',
] as const satisfies ReadonlyArray<keyof NativeBinding>;

let status: NativeStatus | undefined;

export function loadNative(): NativeStatus {
  status ??= tryLoad();
  return status;
}

function tryLoad(): NativeStatus {
  const wanted = process.env[NATIVE_ENV];
  if (wanted === 'off' || wanted === '0') {
    return unavailable(`disabled by ${NATIVE_ENV}=${wanted}`);
  }
  const root = path.join(__dirname, '..');
  let file: string;
  let binding: NativeBinding;
  try {
    // build/Release first, then the prebuilt binary matching this platform, arch and libc.
    const nodeGypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
    file = nodeGypBuild.resolve(root);
  } catch (err) {
    return unavailable(`addon not built (${firstLine(err)}); run \`pnpm install\` with a C++ compiler`);
  }
  const source: NativeSource = path.relative(root, file).split(path.sep)[0] === 'build' ? 'build' : 'prebuilt';
  try {
    binding = require(file) as NativeBinding;
  } catch (err) {
    return unavailable(`${source === 'build' ? 'addon' : 'prebuilt addon'} at ${file} failed to load (${firstLine(err)})`);
  }
  const drift = constantDrift(binding);
  if (drift) return unavailable(`addon at ${file} is stale: ${drift}; rebuild it`);
  const uring = process.env[URING_ENV];
  let uringOff: string | null = null;
  if (uring === 'off' || uring === '0') {
    binding.disableUring(os.constants.errno.EPERM);
    uringOff = `disabled by ${URING_ENV}=${uring}`;
  }
  return { available: true, binding, file, source, uringOff };
}

function constantDrift(binding: NativeBinding): string | null {
  for (const name of FUNCTIONS) {
    if (typeof binding[name] !== 'function') return `it has no ${name}()`;
  }
  for (const [name, value] of Object.entries(OPS)) {
    const native = binding.ops?.[name as keyof typeof OPS];
    if (native !== value) return `op ${name} is ${native} in C++ and ${value} in TypeScript`;
  }
  for (const [name, value] of Object.entries(SYNC_FILE_RANGE)) {
    const native = binding.syncFileRangeFlags?.[name as keyof typeof SYNC_FILE_RANGE];
    if (native !== value) return `SYNC_FILE_RANGE_${name} is ${native} in C++ and ${value} in TypeScript`;
  }
  for (const [name, value] of Object.entries(CACHESTAT)) {
    const native = binding.cachestatFields?.[name as keyof typeof CACHESTAT];
    if (native !== value) return `cachestat field ${name} is at ${native} in C++ and ${value} in TypeScript`;
  }
  for (const [name, value] of Object.entries(URING)) {
    const native = binding.uring?.[name as keyof typeof URING];
    if (native !== value) return `URING ${name} is ${native} in C++ and ${value} in TypeScript`;
  }
  return null;
}

function unavailable(reason: string): NativeStatus {
  return { available: false, binding: null, reason };
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0] ?? '';
}
