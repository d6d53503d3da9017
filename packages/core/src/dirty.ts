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
 * A call's fds are measured in chunks of this many when the caller can stop early: one crossing
 * costs a few µs, a chunk ~1.3 ms of cachestat here (a syscall is ~1 µs on these VMs).
 */
const CHUNK = 1024;

/**
 * Dirty + writeback bytes of the files behind `fds`, by cachestat(2) on this thread; null when
 * the addon or cachestat is missing, or any fd fails (the caller then does not know the share).
 * `skipFailed`: fds that fail on their own (EBADF, an O_PATH fd, -1) are left out of the sum
 * instead, for a call's raw fds measured before they are described: such a target fails its
 * describe and joins no flush, so its data is no part of the batch's share.
 * `openedForIo` (as long as fds) gets 1 where cachestat succeeded: cachestat refuses O_PATH fds
 * (EBADF, like fsync), so such an fd is open for I/O and describing it needs no fcntl.
 * `enough(bytes)`: asked after each chunk with the bytes measured so far, a lower bound of the
 * total; once it says yes the rest is not read (a 10,000-fd batch that owns all the system's
 * dirty data is settled by half its fds, ~6 ms sooner), and the result is the measured mean
 * extrapolated to every fd. Fds not read keep 0 in `openedForIo`.
 */
export function localDirtyBytes(
  fds: Int32Array,
  skipFailed = false,
  openedForIo?: Uint8Array,
  enough?: (bytes: number) => boolean,
): number | null {
  const native = loadNative();
  if (!native.available) return null;
  const n = fds.length;
  const step = enough ? CHUNK : n;
  const dirty = new Float64Array(Math.min(n, step));
  const writeback = new Float64Array(dirty.length);
  const page = native.binding.pageSize();
  let pages = 0;
  let measured = 0;
  let read = 0;
  while (read < n) {
    const end = Math.min(n, read + step);
    const count = end - read;
    const d = dirty.subarray(0, count);
    const w = writeback.subarray(0, count);
    const errno = native.binding.cachestatBatch(fds.subarray(read, end), d, w);
    if (errno !== 0 && (!skipFailed || errno === ENOSYS)) return null;
    for (let i = 0; i < count; i++) {
      if (d[i]! < 0) continue;
      if (openedForIo) openedForIo[read + i] = 1;
      pages += d[i]! + w[i]!;
      measured++;
    }
    read = end;
    if (read < n && measured > 0 && enough!(pages * page)) return ((pages * page) / read) * n;
  }
  return measured === 0 ? null : pages * page;
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
