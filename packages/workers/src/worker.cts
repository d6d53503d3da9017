// A pool thread. Every syscall here blocks this thread only: never libuv's shared threadpool,
// which is why only synchronous calls appear in this file.
import fs = require('node:fs');
import os = require('node:os');
import { performance } from 'node:perf_hooks';
import { loadNative } from '@fsync2/native';
import * as js from './js-backend.cjs';
import {
  KIND,
  type Backend,
  type CloseResult,
  type CloseTask,
  type FlushResult,
  type FlushTask,
  type Kind,
  type ResolveResult,
  type ResolveTask,
  type Task,
} from './protocol.cjs';

const native = loadNative();
const binding = native.available ? native.binding : null;
const backend: Backend = binding ? 'native' : 'js';

// O_NONBLOCK: opening a FIFO by path must not wait for a writer; it changes nothing for files.
const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
const { EACCES } = os.constants.errno;

function now(): number {
  return performance.timeOrigin + performance.now();
}

function flush(task: FlushTask): FlushResult {
  const n = task.fds.length;
  const errnos = new Int32Array(n);
  const nanos = new Float64Array(n);
  const startedAt = now();
  if (binding) {
    binding.flushBatch(task.fds, task.ops, errnos, nanos);
  } else {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      errnos[i] = js.runOp(task.fds[i]!, task.ops[i]!);
      nanos[i] = Number(process.hrtime.bigint() - t0);
    }
  }
  return { backend, errnos, nanos, startedAt, endedAt: now() };
}

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

function resolve(task: ResolveTask): ResolveResult {
  const n = task.fds.length;
  const fds = Int32Array.from(task.fds);
  const opened = new Uint8Array(n);
  const errnos = new Int32Array(n);
  const failedSyscall: (string | null)[] = new Array(n).fill(null);
  const dev = new BigUint64Array(n);
  const ino = new BigUint64Array(n);
  const kind = new Uint8Array(n);
  const pathOnly = new Uint8Array(n);
  const fsType = new Float64Array(n);
  const realpaths: (string | null)[] = new Array(n).fill(null);
  for (let i = 0; i < n; i++) {
    const path = task.paths[i];
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
      if (task.realpaths) {
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
  return { backend, fds, opened, errnos, failedSyscall, dev, ino, kind, pathOnly, fsType, realpaths };
}

function close(task: CloseTask): CloseResult {
  const errnos = new Int32Array(task.fds.length);
  task.fds.forEach((fd, i) => {
    try {
      fs.closeSync(fd);
    } catch (err) {
      errnos[i] = js.errnoOf(err);
    }
  });
  return { errnos };
}

function run(task: Task): FlushResult | ResolveResult | CloseResult {
  switch (task.kind) {
    case 'flush':
      return flush(task);
    case 'resolve':
      return resolve(task);
    case 'close':
      return close(task);
  }
}

export = run;
