// Fresh dirty data for every timed round. Files are always new (never truncated and rewritten):
// ext4's auto_da_alloc starts writeback when a rewritten file is closed, which would hand the
// next flush data already on its way to disk.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch } from './types.js';

// Not zeros, so that nothing between the page cache and the disk could take a shortcut.
function pattern(bytes: number): Buffer {
  const buf = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) buf[i] = (i * 131 + 7) & 0xff;
  return buf;
}

const CHUNK = 8 << 20;

export class Scratch {
  readonly root: string;
  #serial = 0;
  #buffers = new Map<number, Buffer>();

  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true });
  }

  #buffer(bytes: number): Buffer {
    let buf = this.#buffers.get(bytes);
    if (!buf) {
      buf = pattern(bytes);
      this.#buffers.set(bytes, buf);
    }
    return buf;
  }

  /** A new, empty directory under `base` (the scratch root by default). */
  fresh(tag: string, base = this.root): string {
    const dir = join(base, `${String(++this.#serial).padStart(5, '0')}-${tag}`);
    mkdirSync(dir);
    return dir;
  }

  /** Writes `files` new files of `bytes` each, spread round-robin over `dirs`, and closes them. */
  writeBatch(dirs: readonly string[], files: number, bytes: number): Batch {
    const width = String(files - 1).length;
    for (let i = 0; i < files; i++) {
      const path = join(dirs[i % dirs.length]!, `f${String(i).padStart(width, '0')}`);
      this.#writeNew(path, bytes);
    }
    return { dirs, files, bytes };
  }

  /** One new file of `bytes`, written in chunks and left dirty. */
  writeFile(path: string, bytes: number): void {
    this.#writeNew(path, bytes);
  }

  #writeNew(path: string, bytes: number): void {
    const fd = openSync(path, 'wx');
    try {
      const chunk = this.#buffer(Math.min(bytes, CHUNK));
      for (let left = bytes; left > 0; ) {
        const n = writeSync(fd, chunk, 0, Math.min(left, chunk.length));
        left -= n;
      }
    } finally {
      closeSync(fd);
    }
  }

  remove(path: string): void {
    rmSync(path, { recursive: true, force: true });
  }

  /**
   * Outside the clock, between rounds: make the unlinks and anything else dirty durable, so that
   * each contender starts from the same clean page cache and journal.
   */
  settle(): void {
    const res = spawnSync('sync', [], { stdio: 'ignore' });
    if (res.error || res.status !== 0) throw new Error(`sync failed: ${res.error?.message ?? `status ${res.status}`}`);
  }
}

/** The regular files of a batch's directories, sorted by name as they were written. */
export function batchFiles(batch: Batch): string[] {
  const out: string[] = [];
  for (const dir of batch.dirs) {
    for (const name of readdirSync(dir).sort()) out.push(join(dir, name));
  }
  return out;
}

/** The system's dirty and writeback page cache, MiB, from /proc/meminfo. */
export function dirtyMiB(): { dirty: number; writeback: number } | null {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { dirty: Math.round(kib('Dirty') / 1024), writeback: Math.round(kib('Writeback') / 1024) };
  } catch {
    return null;
  }
}
