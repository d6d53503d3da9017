// Op codes of flushBatch. The TypeScript side (src/ops.cts) holds the same numbers; the loader
// compares them with the `ops` object this addon exports and refuses a mismatched binary, so the
// two copies cannot drift silently.
#pragma once

namespace fsync2 {
enum Op : unsigned char {
  OP_NONE = 0,
  OP_FSYNC = 1,
  OP_FDATASYNC = 2,
  OP_SYNCFS = 3,
  // Start writeback of the whole file without waiting: sync_file_range(SYNC_FILE_RANGE_WRITE).
  // Without WAIT flags it consumes no writeback error, so the flush that follows still sees it.
  OP_WRITEBACK = 4,
  // A kicked flush: the batch first starts writeback of every such entry (sync_file_range WRITE,
  // no WAIT flags, result ignored: a hint), then flushes each; the entry's errno is the flush's.
  OP_KICK_FSYNC = 5,
  OP_KICK_FDATASYNC = 6,
};

inline bool IsKicked(unsigned char op) { return op == OP_KICK_FSYNC || op == OP_KICK_FDATASYNC; }

// Where cachestat(fd, out) puts each of the kernel's struct cachestat counters.
enum CachestatField : unsigned {
  CS_NR_CACHE = 0,
  CS_NR_DIRTY = 1,
  CS_NR_WRITEBACK = 2,
  CS_NR_EVICTED = 3,
  CS_NR_RECENTLY_EVICTED = 4,
  CS_FIELDS = 5,
};

// flushBatchUring's in-flight limit when the caller names none, and the largest it accepts
// (the kernel's IORING_MAX_ENTRIES). The thread's ring is never smaller than the default.
constexpr unsigned kUringDefaultDepth = 256;
constexpr unsigned kUringMaxDepth = 32768;
}  // namespace fsync2
