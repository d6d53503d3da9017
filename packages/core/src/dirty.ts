// How much dirty data the system holds: what a syncfs would have to write besides ours.
import { readFileSync } from 'node:fs';

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
