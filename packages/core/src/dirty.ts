// How much dirty data the system holds: what a syncfs would have to write besides ours.
import { readFileSync } from 'node:fs';
import { loadNative } from '@fsync2/native';

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
 */
export function localDirtyBytes(fds: Int32Array): number | null {
  const native = loadNative();
  if (!native.available) return null;
  const n = fds.length;
  const dirty = new Float64Array(n);
  const writeback = new Float64Array(n);
  if (native.binding.cachestatBatch(fds, dirty, writeback) !== 0) return null;
  let pages = 0;
  for (let i = 0; i < n; i++) pages += dirty[i]! + writeback[i]!;
  return pages * native.binding.pageSize();
}

/**
 * Dirty: + Writeback: from /proc/meminfo, in bytes; null where there is no /proc. A read of
 * procfs never waits for I/O, so it is done on the calling thread.
 */
export function systemDirtyBytes(file = '/proc/meminfo'): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return null;
  }
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const total = kib('Dirty') + kib('Writeback');
  return Number.isFinite(total) ? total * 1024 : null;
}
