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
};
}  // namespace fsync2
