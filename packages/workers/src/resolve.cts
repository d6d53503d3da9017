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

function kindOf(st: fs.BigIntStats): Kind {
  if (st.isFile()) return KIND.FILE;
  if (st.isDirectory()) return KIND.DIRECTORY;
  if (st.isFIFO()) return KIND.FIFO;
  if (st.isSocket()) return KIND.SOCKET;
  if (st.isCharacterDevice()) return KIND.CHAR_DEVICE;
  if (st.isBlockDevice()) return KIND.BLOCK_DEVICE;
  return KIND.UNKNOWN;
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
    const fd = fds[i]!;
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      dev[i] = st.dev;
      ino[i] = st.ino;
      birth[i] = st.birthtimeNs > 0n ? st.birthtimeNs : 0n;
      kind[i] = kindOf(st);
    } catch (err) {
      errnos[i] = js.errnoOf(err);
      failedSyscall[i] = 'fstat';
      continue;
    }
    fsType[i] = binding ? binding.fsType(fd) : js.fsType(fd);
    const oPath = binding ? binding.O_PATH : js.O_PATH;
    if (oPath !== 0) {
      const flags = binding ? binding.fdFlags(fd) : js.fdFlags(fd);
      pathOnly[i] = flags >= 0 && (flags & oPath) !== 0 ? 1 : 0;
    }
  }
  return { backend, fds, opened, errnos, failedSyscall, dev, ino, birth, kind, pathOnly, fsType, realpaths };
}

