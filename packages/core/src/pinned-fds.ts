// What an fd names, asked of the kernel once per burst instead of once per request.
//
// Why it is sound: a caller must keep its fd open, naming the same file, until its call settles;
// the flush itself goes through that fd later, so fsync2 already depends on it. While any request
// on fd N is pending, fd N therefore cannot have been closed and reused, and a request arriving on
// fd N meanwhile names the same open file description: the same file, flags and filesystem. The
// answer is forgotten when the last pending request on N settles, because from then on the caller
// may close N and open something else under the same number.
//
// Group commit is where it pays: 64 callers of one log ask about one fd, and each statx + fcntl
// crossing cost ~1.2 µs of the main thread's ~4.5 µs per request (W3), on the path between one
// flush's answer and the next flush's start.
import type { FdInfo } from '@fsync2/workers';
import { fileKey } from './file-key.js';
import { fsInfo } from './filesystems.js';
import type { FileRef } from './scheduler.js';

/** An fd described successfully: the file it names, and whether it is O_PATH (null: not asked). */
export interface Described {
  readonly file: FileRef;
  readonly pathOnly: boolean | null;
  /** Counted on a pin: the request must release() its fd when it settles. */
  readonly pinned: boolean;
}

/** The pin is what acquire() answers: no object besides it per fd. */
interface Pin extends Described {
  pending: number;
}

export class PinnedFds {
  readonly #pins = new Map<number, Pin>();
  readonly #describe: (fd: number) => FdInfo;
  readonly #describeMany: (fds: Int32Array, openedForIo?: Uint8Array) => FdInfo[];

  constructor(describe: (fd: number) => FdInfo, describeMany: (fds: Int32Array, openedForIo?: Uint8Array) => FdInfo[]) {
    this.#describe = describe;
    this.#describeMany = describeMany;
  }

  /**
   * What fd names, counted as one more pending request on it: `release(fd)` when that request
   * settles. Failures (EBADF, …) are not pinned: the errno comes back as it is, every time.
   */
  acquire(fd: number): Described | number {
    const pin = this.#pins.get(fd);
    if (pin) {
      pin.pending++;
      return pin;
    }
    const d = this.#describe(fd);
    if (d.errno !== 0) return d.errno;
    const fresh: Pin = { file: fileOf(d), pathOnly: d.pathOnly, pinned: true, pending: 1 };
    this.#pins.set(fd, fresh);
    return fresh;
  }

  /**
   * What each fd of `fds` names (-1: none, answered null), for a call of many fds: a pinned fd
   * answers from its pin (counted, as acquire()), the others are described in one crossing and
   * not pinned. Pins pay where requests on one fd pile up (group commit); a call of 10,000
   * distinct fds only paid for their map (~140 B per fd, allocated and collected).
   * `openedForIo[i]` set: fds[i] is known not to be O_PATH (its cachestat succeeded).
   * `flags` false: no fd's flags are asked, and those not pinned answer `pathOnly: null`. For a
   * call no syncfs can serve, where O_PATH changes nothing but which fd flushes a file named
   * twice (the scheduler asks then): the fcntl was ~11 of ~33 ms describing 10,000 fds here.
   */
  describeAll(fds: Int32Array, openedForIo?: Uint8Array, flags = true): Array<Described | number | null> {
    // The fds to describe, and their marks, in one pass: one pin lookup per fd here.
    const fresh = new Int32Array(fds.length);
    const known = openedForIo || !flags ? new Uint8Array(fds.length) : undefined;
    let m = 0;
    for (let i = 0; i < fds.length; i++) {
      const fd = fds[i]!;
      if (fd < 0 || this.#pins.has(fd)) continue;
      if (known) known[m] = flags ? openedForIo![i]! : 1;
      fresh[m++] = fd;
    }
    const infos = m > 0 ? this.#describeMany(fresh.subarray(0, m), known?.subarray(0, m)) : [];
    const out = new Array<Described | number | null>(fds.length);
    let k = 0;
    for (let i = 0; i < fds.length; i++) {
      const fd = fds[i]!;
      const pin = fd < 0 ? undefined : this.#pins.get(fd);
      if (fd < 0) {
        out[i] = null;
      } else if (pin) {
        pin.pending++;
        out[i] = pin;
      } else {
        const d = infos[k++]!;
        out[i] = d.errno !== 0 ? d.errno : { file: fileOf(d), pathOnly: flags ? d.pathOnly : null, pinned: false };
      }
    }
    return out;
  }

  release(fd: number): void {
    const pin = this.#pins.get(fd);
    if (pin && --pin.pending === 0) this.#pins.delete(fd);
  }
}

function fileOf(d: FdInfo): FileRef {
  return { key: fileKey(d.dev, d.ino), dev: d.dev, ino: d.ino, birth: d.birth, kind: d.kind, fs: fsInfo(d.fsType) };
}
