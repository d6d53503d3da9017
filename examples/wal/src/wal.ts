// A tiny write-ahead log on fsync2's public API. Every append() resolves only once its record is
// on stable storage, and many concurrent appenders share few flushes:
//
//   1. Records are written in log order: appends that arrive while a write is running go out
//      together in the next write (one pwrite per batch, never a hole before a record).
//   2. Once its record is written, each appender asks fsync2 to flush the log (fdatasync). fsync2's
//      rule answers it only after a flush that *started after the request* succeeded, and every
//      request that arrived while a flush was running shares the next one: group commit, without
//      any batching code here.
//   3. Because writes are in order, a flush that covers record n covers every record before it:
//      the durable part of the log is always a prefix, and replay never meets a hole.
//
// A failed flush fails every appender it was meant to serve, and the log refuses further appends
// (fsync2 would answer every later request for the file with the same sticky error anyway: after
// a writeback error the failed pages may be gone, so only a rewrite could make them durable).
import { constants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib'; // Node 20.15+ (hence engines >=20.15)
import { createSyncer, type Syncer } from '@fsync2/core';

/** Record layout: u32 payload length, u32 crc32 of (lsn, payload), u64 lsn, payload. Little-endian. */
export const HEADER_BYTES = 16;

export interface Appended {
  /** Log sequence number: 0, 1, 2, … in log order. */
  readonly lsn: number;
  /** Byte offset of the record in the log. */
  readonly offset: number;
  /** fsync2 says the record is on stable storage (false only on a volatile filesystem such as tmpfs). */
  readonly durable: boolean;
  /** How many requests, from all appenders, the flush that answered this one served. */
  readonly served: number;
  /** The syscall that made it durable: 'fdatasync', or 'syncfs' when the planner chose a filesystem flush. */
  readonly syscall: string | null;
}

export interface LogRecord {
  readonly lsn: number;
  readonly offset: number;
  readonly payload: Buffer;
}

export interface LogContents {
  readonly records: LogRecord[];
  /** Bytes of valid records: where the next record goes. */
  readonly end: number;
  /** Bytes after `end` that are not a whole, valid record (a write cut short by a crash). */
  readonly tornBytes: number;
}

export interface WalOptions {
  /** The syncer to flush with (shared with the rest of the program); by default the log makes its own and closes it. */
  readonly syncer?: Syncer;
}

interface PendingWrite {
  readonly record: Buffer;
  readonly resolve: (offset: number) => void;
  readonly reject: (err: unknown) => void;
}

export class Wal {
  readonly #fh: FileHandle;
  readonly #syncer: Syncer;
  readonly #ownSyncer: boolean;
  #end: number;
  #nextLsn: number;
  #queue: PendingWrite[] = [];
  #writing = false;
  #failed: unknown = null;
  #appends = 0;

  private constructor(fh: FileHandle, syncer: Syncer, ownSyncer: boolean, end: number, nextLsn: number) {
    this.#fh = fh;
    this.#syncer = syncer;
    this.#ownSyncer = ownSyncer;
    this.#end = end;
    this.#nextLsn = nextLsn;
  }

  /**
   * Opens (or creates) the log at `file`, cuts off a torn tail, and makes the file and its
   * directory entry durable before the first append is acknowledged.
   */
  static async open(file: string, options: WalOptions = {}): Promise<Wal> {
    const syncer = options.syncer ?? createSyncer({ mode: 'data' });
    const own = options.syncer === undefined;
    let fh: FileHandle | undefined;
    try {
      const { records, end, tornBytes } = await readLog(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return { records: [], end: 0, tornBytes: 0 };
        throw err;
      });
      // Positional writes need a descriptor without O_APPEND (Linux ignores the position with it).
      fh = await fs.open(file, constants.O_RDWR | constants.O_CREAT, 0o644);
      if (tornBytes > 0) await fh.truncate(end);
      // The file's data and size, and its entry in the directory (parents: true).
      await syncer.sync(file, { mode: 'full', parents: true });
      const next = records.length ? records[records.length - 1]!.lsn + 1 : 0;
      return new Wal(fh, syncer, own, end, next);
    } catch (err) {
      await fh?.close();
      if (own) await syncer.close();
      throw err;
    }
  }

  /** Appends a record; resolves once it is durable (see `Appended.durable`), rejects if it cannot be. */
  async append(payload: Buffer | string): Promise<Appended> {
    if (this.#failed) throw this.#failed;
    const lsn = this.#nextLsn++;
    this.#appends++;
    const offset = await this.#write(encode(lsn, typeof payload === 'string' ? Buffer.from(payload) : payload));
    let report;
    try {
      // One target, the log's own descriptor: fsync2's fd fast path, merged with every other
      // appender's request for the same file.
      report = await this.#syncer.sync(this.#fh, { mode: 'data' });
    } catch (err) {
      this.#failed ??= err;
      throw err;
    }
    const r = report.results[0]!;
    return { lsn, offset, durable: r.durable, served: r.served, syscall: r.syscall };
  }

  /** Appends handed to append() so far. */
  get appends(): number {
    return this.#appends;
  }

  /** The syncer's counters: compare `flushes` with `appends`. */
  get syncer(): Syncer {
    return this.#syncer;
  }

  /** Closes the log once every append() has been answered: the appenders' flushes use its descriptor. */
  async close(): Promise<void> {
    while (this.#writing) await new Promise((r) => setImmediate(r));
    await this.#fh.close();
    if (this.#ownSyncer) await this.#syncer.close();
  }

  #write(record: Buffer): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  /** One write at a time, in log order; whatever queued meanwhile goes out as one buffer. */
  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0);
      if (this.#failed) {
        for (const w of batch) w.reject(this.#failed);
        continue;
      }
      const start = this.#end;
      const buf = batch.length === 1 ? batch[0]!.record : Buffer.concat(batch.map((w) => w.record));
      try {
        for (let done = 0; done < buf.length; ) {
          const { bytesWritten } = await this.#fh.write(buf, done, buf.length - done, start + done);
          done += bytesWritten;
        }
      } catch (err) {
        this.#failed ??= err; // a later record must never land after a hole
        for (const w of batch) w.reject(err);
        continue;
      }
      this.#end += buf.length;
      let offset = start;
      for (const w of batch) {
        w.resolve(offset);
        offset += w.record.length;
      }
    }
    this.#writing = false;
  }
}

export function encode(lsn: number, payload: Buffer): Buffer {
  const rec = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  rec.writeUInt32LE(payload.length, 0);
  rec.writeBigUInt64LE(BigInt(lsn), 8);
  payload.copy(rec, HEADER_BYTES);
  rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
  return rec;
}

/** Every whole, valid record from the start of the log, in order; stops at the first torn or corrupt one. */
export async function readLog(file: string): Promise<LogContents> {
  const data = await fs.readFile(file);
  const records: LogRecord[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= data.length) {
    const length = data.readUInt32LE(offset);
    const end = offset + HEADER_BYTES + length;
    if (end > data.length) break;
    if (crc32(data.subarray(offset + 8, end)) !== data.readUInt32LE(offset + 4)) break;
    const lsn = Number(data.readBigUInt64LE(offset + 8));
    if (lsn !== (records.length ? records[records.length - 1]!.lsn + 1 : lsn)) break;
    records.push({ lsn, offset, payload: Buffer.from(data.subarray(offset + HEADER_BYTES, end)) });
    offset = end;
  }
  return { records, end: offset, tornBytes: data.length - offset };
}
