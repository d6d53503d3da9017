// A fake flush backend for model-checking the scheduler: fake fds naming fake files, flushes that
// take a random number of event-loop turns, injected errors and dying threads, and a log of when
// each syscall started and ended on a logical clock shared with the test. It proves nothing about
// durability (the real-file suites do); it proves the scheduler's rule under many interleavings.
import { constants } from 'node:os';
import { OPS } from '@fsync2/native';
import { KIND, WorkerError, type FdInfo, type FlushBackend, type ResolveResult, type FlushResult, type CloseResult } from '@fsync2/workers';

export interface FakeFile {
  readonly fd: number;
  readonly dev: bigint;
  readonly ino: bigint;
}

export interface LogEntry {
  /** 1-based position among every op handed to flush(): the scheduler's syscall id. */
  readonly id: number;
  readonly fd: number;
  readonly op: number;
  readonly start: number;
  end: number;
  errno: number;
  /** Its thread died before answering: the scheduler never saw errno. */
  died: boolean;
}

import { Syncer, type SyncerOptions } from '@fsync2/core';
import { rng } from './helpers.js';

/** A Syncer over a given pool: the constructor's second parameter is internal (not in the .d.ts). */
export function syncerWithPool(options: SyncerOptions, pool: FlushBackend): Syncer {
  return new (Syncer as unknown as new (o: SyncerOptions, p: FlushBackend) => Syncer)(options, pool);
}
export { rng };

const EXT4 = 0xef53;
const { EBADF } = constants.errno;

export class FakeBackend implements FlushBackend {
  readonly backend = 'native' as const;
  readonly nativeReason = null;
  readonly clock = { now: 0 };
  readonly log: LogEntry[] = [];
  /** Next flush (or syncfs) of this fd's file returns this errno. */
  readonly failNext = new Map<bigint, number>();
  /** Next flush of a syncfs on this dev returns this errno. */
  readonly failSyncfs = new Map<bigint, number>();
  dieProbability = 0;
  readonly #files = new Map<number, FakeFile>();
  readonly #random: () => number;

  constructor(
    readonly maxThreads: number,
    files: readonly FakeFile[],
    random: () => number,
  ) {
    for (const f of files) this.#files.set(f.fd, f);
    this.#random = random;
  }

  tick(): number {
    return ++this.clock.now;
  }

  describeFd(fd: number): FdInfo {
    const f = this.#files.get(fd);
    if (!f) return { errno: EBADF, dev: 0n, ino: 0n, birth: 0n, kind: KIND.UNKNOWN, pathOnly: false, fsType: -1 };
    return { errno: 0, dev: f.dev, ino: f.ino, birth: 0n, kind: KIND.FILE, pathOnly: false, fsType: EXT4 };
  }

  describeFds(fds: Int32Array): FdInfo[] {
    return Array.from(fds, (fd) => this.describeFd(fd));
  }

  /** Paths are not used by the model; fds only. */
  async resolve(fds: Int32Array): Promise<ResolveResult> {
    const n = fds.length;
    const res = {
      backend: this.backend, fds: Int32Array.from(fds), opened: new Uint8Array(n), errnos: new Int32Array(n),
      failedSyscall: new Array<string | null>(n).fill(null), dev: new BigUint64Array(n), ino: new BigUint64Array(n),
      birth: new BigUint64Array(n), kind: new Uint8Array(n), pathOnly: new Uint8Array(n), fsType: new Float64Array(n),
      realpaths: new Array<string | null>(n).fill(null),
    };
    fds.forEach((fd, i) => {
      const d = this.describeFd(fd);
      res.errnos[i] = d.errno;
      res.failedSyscall[i] = d.errno ? 'fstat' : null;
      res.dev[i] = d.dev;
      res.ino[i] = d.ino;
      res.kind[i] = d.kind;
      res.fsType[i] = d.fsType;
    });
    return res;
  }

  async flush(fds: Int32Array, ops: Uint8Array): Promise<FlushResult> {
    const entries = Array.from(fds, (fd, i) => {
      const entry: LogEntry = { id: this.log.length + 1, fd, op: ops[i]!, start: 0, end: 0, errno: 0, died: false };
      this.log.push(entry);
      return entry;
    });
    const errnos = new Int32Array(fds.length);
    // The ops of one task run one after another on their thread, as flushBatch does.
    for (const [i, entry] of entries.entries()) {
      await this.#turns();
      (entry as { start: number }).start = this.tick();
      await this.#turns();
      entry.errno = this.#injected(entry);
      entry.end = this.tick();
      errnos[i] = entry.errno;
    }
    if (this.#random() < this.dieProbability) {
      for (const e of entries) e.died = true;
      throw new WorkerError('fake thread died');
    }
    return { backend: this.backend, errnos, nanos: new Float64Array(fds.length).fill(1000), startedAt: 0, endedAt: 0 };
  }

  async close(fds: Int32Array): Promise<CloseResult> {
    return { errnos: new Int32Array(fds.length) };
  }

  async destroy(): Promise<void> {}

  file(fd: number): FakeFile {
    return this.#files.get(fd)!;
  }

  #injected(entry: LogEntry): number {
    const f = this.#files.get(entry.fd)!;
    if (entry.op === OPS.WRITEBACK) return 0;
    const table = entry.op === OPS.SYNCFS ? this.failSyncfs : this.failNext;
    const key = entry.op === OPS.SYNCFS ? f.dev : f.ino;
    const errno = table.get(key);
    if (errno === undefined) return 0;
    table.delete(key);
    return errno;
  }

  async #turns(): Promise<void> {
    const n = Math.floor(this.#random() * 4);
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  }
}
