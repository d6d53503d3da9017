// Op codes for flushBatch and flushBatchUring, one per target, and the addon's other constants.
// src/ops.h holds the same numbers for C++; the loader (binding.cts) refuses an addon whose
// exported constants differ, so a drift fails loudly.
export const OPS = {
  NONE: 0,
  FSYNC: 1,
  FDATASYNC: 2,
  SYNCFS: 3,
  /** sync_file_range(SYNC_FILE_RANGE_WRITE) of the whole file: starts writeback, waits for nothing. */
  WRITEBACK: 4,
  /**
   * Kicked flushes: a batch first issues sync_file_range(SYNC_FILE_RANGE_WRITE) on every entry
   * with one of these ops (a hint: no WAIT flags, result ignored), then fsync / fdatasync of each.
   * The entry's errno is the flush's alone, so the kick can neither fail nor pass an entry.
   */
  KICK_FSYNC: 5,
  KICK_FDATASYNC: 6,
} as const;

export type OpName = keyof typeof OPS;
export type OpCode = (typeof OPS)[OpName];

/** The syscall each op issues, in the kernel's names (for a kicked flush: the flush, whose result it reports). */
export const OP_SYSCALL: Readonly<Record<OpCode, string>> = {
  [OPS.NONE]: 'none',
  [OPS.FSYNC]: 'fsync',
  [OPS.FDATASYNC]: 'fdatasync',
  [OPS.SYNCFS]: 'syncfs',
  [OPS.WRITEBACK]: 'sync_file_range',
  [OPS.KICK_FSYNC]: 'fsync',
  [OPS.KICK_FDATASYNC]: 'fdatasync',
};

/** Linux's sync_file_range(2) flags. */
export const SYNC_FILE_RANGE = {
  WAIT_BEFORE: 1,
  WRITE: 2,
  WAIT_AFTER: 4,
} as const;

/** Where cachestat(fd, out) puts each counter of the kernel's struct cachestat (pages). */
export const CACHESTAT = {
  NR_CACHE: 0,
  NR_DIRTY: 1,
  NR_WRITEBACK: 2,
  NR_EVICTED: 3,
  NR_RECENTLY_EVICTED: 4,
} as const;

/** flushBatchUring's depth: the default in-flight limit, and the kernel's largest ring. */
export const URING = {
  DEFAULT_DEPTH: 256,
  MAX_DEPTH: 32768,
} as const;
