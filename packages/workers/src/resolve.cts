// Naming the files of a call: open paths, fstat, fstatfs, and whether an fd can do I/O. Runs on
// a pool thread for paths (open can block on a slow filesystem); fd-only batches may run it on the
// caller's thread, where fstat of an open fd costs one syscall and waits for no I/O.
import fs = require('node:fs');
import os = require('node:os');
import { loadNative } from '@fsync2/native';
import * as js from './js-backend.cjs';
import { KIND, type Backend, type Kind, type ResolveResult } from './protocol.cjs';

const native = loadNative();
const binding = native.available ? native.binding : null;
const backend: Backend = binding ? 'native' : 'js';

// O_NONBLOCK: opening a FIFO by path must not wait for a writer; it changes nothing for files.
const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
const { EACCES } = os.constants.errno;

function open(path: string): number {
  try {
    return fs.openSync(path, O_RDONLY | O_NONBLOCK);
  } catch (err) {
    // fsync needs any open fd, and a file may be writable but not readable.
    if (js.errnoOf(err) !== EACCES) throw err;
    return fs.openSync(path, O_WRONLY | O_NONBLOCK);
  }
}

const S_IFMT = 0o170000;
const KIND_OF_TYPE = new Map<number, Kind>([
  [0o100000, KIND.FILE],
  [0o040000, KIND.DIRECTORY],
  [0o010000, KIND.FIFO],
  [0o140000, KIND.SOCKET],
  [0o020000, KIND.CHAR_DEVICE],
  [0o060000, KIND.BLOCK_DEVICE],
]);

/** One open fd, described: what file it names and whether it can do I/O. */
export interface FdInfo {
  /** 0, or fstat's errno (then nothing else is set). */
  readonly errno: number;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly birth: bigint;
  readonly kind: Kind;
  readonly pathOnly: boolean;
  /** f_type magic, or -errno. */
  readonly fsType: number;
}

const FAILED = { dev: 0n, ino: 0n, birth: 0n, kind: KIND.UNKNOWN, pathOnly: false, fsType: -1 } as const;
// Reused by every describeFd on this thread: the call is synchronous.
const scratch = new BigUint64Array(6);
const scratchLow = new Uint32Array(scratch.buffer);
/** Where a 64-bit word's low half sits in a Uint32Array over it. */
const LOW = os.endianness() === 'LE' ? 0 : 1;
const oPath = binding ? binding.O_PATH : js.O_PATH;

/** statx (or fstat), fstatfs and fcntl of one fd: one addon crossing, or fs calls without it. */
export function describeFd(fd: number): FdInfo {
  if (binding) return fromWords(binding.describeFd(fd, scratch), scratch, scratchLow, 0);
  return describeFdJs(fd);
}

/**
 * describeFd of every fd, in one addon crossing: the per-fd crossing was a third of describing a
 * call of 10,000 fds on the main thread (~0.7 of ~2.2 µs each; statx and fcntl are the rest).
 * `openedForIo[i]` set: fd i answered a call that refuses O_PATH fds (cachestat, see dirty.ts in
 * core), so it is not asked for its flags again.
 */
export function describeFds(fds: Int32Array, openedForIo?: Uint8Array): FdInfo[] {
  const n = fds.length;
  if (!binding) return Array.from(fds, describeFdJs);
  if (n === 1 && !openedForIo) return [describeFd(fds[0]!)];
  const words = new BigUint64Array(6 * n);
  const errnos = new Int32Array(n);
  binding.describeFds(fds, words, errnos, openedForIo);
  const low = new Uint32Array(words.buffer);
  const out = new Array<FdInfo>(n);
  for (let i = 0; i < n; i++) out[i] = fromWords(errnos[i]!, words, low, 6 * i);
  return out;
}

// The addon's layout: [st_dev, st_ino, birth ns, st_mode, f_type, fd flags] at `at`. The last
// three fit 32 bits and are read as such from `low` (the same buffer): reading them as BigInts
// cost three heap BigInts per fd, 30,000 per call of 10,000 fds, for the scavenger to copy.
function fromWords(errno: number, words: BigUint64Array, low: Uint32Array, at: number): FdInfo {
  if (errno !== 0) return { errno, ...FAILED };
  const flags = low[2 * (at + 5) + LOW]!;
  const fsType = low[2 * (at + 4) + LOW]!;
  return {
    errno: 0,
    dev: words[at]!,
    ino: words[at + 1]!,
    birth: words[at + 2]!,
    kind: KIND_OF_TYPE.get(low[2 * (at + 3) + LOW]! & S_IFMT) ?? KIND.UNKNOWN,
    pathOnly: oPath !== 0 && (flags & oPath) !== 0,
    fsType: fsType === 0 ? -1 : fsType,
  };
}

function describeFdJs(fd: number): FdInfo {
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch (err) {
    return { errno: js.errnoOf(err), ...FAILED };
  }
  const flags = oPath !== 0 ? js.fdFlags(fd) : 0;
  return {
    errno: 0,
    dev: st.dev,
    ino: st.ino,
    birth: st.birthtimeNs > 0n ? st.birthtimeNs : 0n,
    kind: KIND_OF_TYPE.get(Number(st.mode) & S_IFMT) ?? KIND.UNKNOWN,
    pathOnly: flags > 0 && (flags & oPath) !== 0,
    fsType: js.fsType(fd),
  };
}

/** fds[i] = -1 where paths[i] is set: that path is opened (and must be closed by the caller). */
export function resolveTargets(
  inputFds: Int32Array,
  paths: ReadonlyArray<string | null>,
  wantRealpaths: boolean,
): ResolveResult {
  const n = inputFds.length;
  const fds = Int32Array.from(inputFds);
  const opened = new Uint8Array(n);
  const errnos = new Int32Array(n);
  const failedSyscall: (string | null)[] = new Array(n).fill(null);
  const dev = new BigUint64Array(n);
  const ino = new BigUint64Array(n);
  const birth = new BigUint64Array(n);
  const kind = new Uint8Array(n);
  const pathOnly = new Uint8Array(n);
  const fsType = new Float64Array(n);
  const realpaths: (string | null)[] = new Array(n).fill(null);
  for (let i = 0; i < n; i++) {
    const path = paths[i] ?? null;
    if (path != null) {
      try {
        fds[i] = open(path);
        opened[i] = 1;
      } catch (err) {
        fds[i] = -1;
        errnos[i] = js.errnoOf(err);
        failedSyscall[i] = 'open';
        continue;
      }
      if (wantRealpaths) {
        try {
          realpaths[i] = fs.realpathSync.native(path);
        } catch {
          realpaths[i] = null;
        }
      }
    }
    const info = describeFd(fds[i]!);
    if (info.errno !== 0) {
      errnos[i] = info.errno;
      failedSyscall[i] = 'fstat';
      continue;
    }
    dev[i] = info.dev;
    ino[i] = info.ino;
    birth[i] = info.birth;
    kind[i] = info.kind;
    pathOnly[i] = info.pathOnly ? 1 : 0;
    fsType[i] = info.fsType;
  }
  return { backend, fds, opened, errnos, failedSyscall, dev, ino, birth, kind, pathOnly, fsType, realpaths };
}
