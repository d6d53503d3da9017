// Op codes for flushBatch, one per target. src/ops.h holds the same numbers for C++; the loader
// (binding.cts) refuses an addon whose exported `ops` differ, so a drift fails loudly.
export const OPS = {
  NONE: 0,
  FSYNC: 1,
  FDATASYNC: 2,
  SYNCFS: 3,
  /** sync_file_range(SYNC_FILE_RANGE_WRITE) of the whole file: starts writeback, waits for nothing. */
  WRITEBACK: 4,
} as const;

export type OpName = keyof typeof OPS;
export type OpCode = (typeof OPS)[OpName];

/** The syscall each op issues, in the kernel's names. */
export const OP_SYSCALL: Readonly<Record<OpCode, string>> = {
  [OPS.NONE]: 'none',
  [OPS.FSYNC]: 'fsync',
  [OPS.FDATASYNC]: 'fdatasync',
  [OPS.SYNCFS]: 'syncfs',
  [OPS.WRITEBACK]: 'sync_file_range',
};

/** Linux's sync_file_range(2) flags. */
export const SYNC_FILE_RANGE = {
  WAIT_BEFORE: 1,
  WRITE: 2,
  WAIT_AFTER: 4,
} as const;
