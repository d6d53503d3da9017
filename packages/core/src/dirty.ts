// How much dirty data the system holds: what a syncfs would have to write besides ours.
import { openSync, readFileSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import { loadNative } from '@fsync2/native';

const { ENOSYS } = constants.errno;

/**
 * Batches up to this many files have their dirty data measured on the calling thread: cachestat
 * reads counters of the page cache, never waits for I/O, and took 40-80 µs for 100 small files
 * here (15-70 µs for one 256 MiB file), less than a round trip to a pool thread on a busy
 * machine (0.1-3 ms), which a small batch would otherwise pay before its flush even starts.
 */
export const LOCAL_DIRTY_MAX_FILES = 256;

/**
 * Dirty + writeback bytes of the files behind `fds`, by cachestat(2) on this thread; null when
 * the addon or cachestat is missing, or any fd fails (the caller then does not know the share).
 * `skipFailed`: fds that fail on their own (EBADF, an O_PATH fd) are left out of the sum instead,
 * for a call's raw fds measured before they are described: such a target fails its describe and
 * joins no flush, so its data is no part of the batch's share.
 */
export function localDirtyBytes(fds: Int32Array, skipFailed = false): number | null {
  const native = loadNative();
  if (!native.available) return null;
  const n = fds.length;
  const dirty = new Float64Array(n);
  const writeback = new Float64Array(n);
  const errno = native.binding.cachestatBatch(fds, dirty, writeback);
  if (errno !== 0 && (!skipFailed || errno === ENOSYS)) return null;
  let pages = 0;
  let measured = 0;
  for (let i = 0; i < n; i++) {
    if (dirty[i]! < 0) continue;
    pages += dirty[i]! + writeback[i]!;
    measured++;
  }
  return measured === 0 ? null : pages * native.binding.pageSize();
}

// nr_dirty + nr_writeback from /proc/vmstat: the same counters as meminfo's Dirty: + Writeback:,
// read by pread on an fd kept open for the process's life. A readFileSync of /proc/meminfo cost
// 150-900 µs here (the kernel computes every meminfo line; plus open, fstat and close), on the path
// of every 'auto' batch before its syncfs can start (W1); this read costs ~20 µs.
let vmstat: number | null | undefined;
const VMSTAT_BUFFER = Buffer.alloc(16384);

/** /proc/vmstat's text, or '' where it cannot be opened (never tried again: no /proc here). */
function readVmstat(): string {
  if (vmstat === undefined) {
    try {
      vmstat = openSync('/proc/vmstat', 'r');
    } catch {
      vmstat = null;
    }
  }
  if (vmstat === null) return '';
  const n = readSync(vmstat, VMSTAT_BUFFER, 0, VMSTAT_BUFFER.length, 0);
  return VMSTAT_BUFFER.toString('latin1', 0, n);
}

function counter(text: string, name: string): number {
  const at = text.indexOf(`\n${name} `);
  if (at < 0) return NaN;
  const end = text.indexOf('\n', at + 1);
  return Number(text.slice(at + name.length + 2, end < 0 ? undefined : end));
}

/**
 * Dirty + writeback bytes of the whole system, from /proc/vmstat (`file` for tests); null where
 * there is no /proc or the counters are missing. A read of procfs never waits for I/O, so it is
 * done on the calling thread.
 */
export function systemDirtyBytes(file?: string): number | null {
  let text: string;
  try {
    text = file !== undefined ? readFileSync(file, 'latin1') : readVmstat();
  } catch {
    return null;
  }
  const lines = `\n${text}`;
  const pages = counter(lines, 'nr_dirty') + counter(lines, 'nr_writeback');
  if (!Number.isFinite(pages)) return null;
  const native = loadNative();
  return pages * (native.available ? native.binding.pageSize() : 4096);
}
