// A pool thread. Every syscall here blocks this thread only: never libuv's shared threadpool,
// which is why only synchronous calls appear in this file.
import fs = require('node:fs');
import os = require('node:os');
import { performance } from 'node:perf_hooks';
import { loadNative } from '@fsync2/native';
import * as js from './js-backend.cjs';
import { resolveTargets } from './resolve.cjs';
import type {
  Backend,
  CloseResult,
  CloseTask,
  DirtyResult,
  DirtyTask,
  EngineFlushResult,
  FlushEngine,
  FlushTask,
  ProbeResult,
  ResolveResult,
  Task,
} from './protocol.cjs';

const { EBADF, ECANCELED, ENOSYS } = os.constants.errno;

const native = loadNative();
const binding = native.available ? native.binding : null;
const backend: Backend = binding ? 'native' : 'js';

function now(): number {
  return performance.timeOrigin + performance.now();
}

function flush(task: FlushTask): EngineFlushResult {
  const n = task.fds.length;
  // Every entry starts as "no answer": an entry the addon failed to write can never read as 0.
  const errnos = new Int32Array(n).fill(ECANCELED);
  const nanos = new Float64Array(n);
  const startedAt = now();
  let engine: FlushEngine = 'sync';
  if (binding && task.engine === 'uring' && binding.uringStatus() === 0) {
    binding.flushBatchUring(task.fds, task.ops, errnos, nanos, task.depth ?? 0, task.maxWorkers ?? 0);
    // A ring that failed mid-batch is given up (the rest ran synchronously): say 'sync' then.
    engine = binding.uringStatus() === 0 ? 'uring' : 'sync';
  } else if (binding) {
    binding.flushBatch(task.fds, task.ops, errnos, nanos);
  } else {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      errnos[i] = js.runOp(task.fds[i]!, task.ops[i]!);
      nanos[i] = Number(process.hrtime.bigint() - t0);
    }
  }
  return { backend, engine, errnos, nanos, startedAt, endedAt: now() };
}

function probe(): ProbeResult {
  if (!binding) return { backend, uring: ENOSYS, cachestat: ENOSYS, pageSize: js.pageSize() };
  // cachestat of fd -1 fails with EBADF only once the syscall exists and passed seccomp: so EBADF
  // means it works, and ENOSYS or EPERM say why not, without a file to ask about.
  const cs = binding.cachestat(-1, new Float64Array(5));
  return {
    backend,
    uring: binding.uringStatus(),
    cachestat: cs === EBADF ? 0 : cs,
    pageSize: binding.pageSize(),
  };
}

function dirty(task: DirtyTask): DirtyResult {
  const n = task.fds.length;
  const dirtyBytes = new Float64Array(n).fill(-1);
  const writebackBytes = new Float64Array(n).fill(-1);
  if (!binding) return { dirtyBytes, writebackBytes, errno: ENOSYS };
  const errno = binding.cachestatBatch(task.fds, dirtyBytes, writebackBytes);
  const page = binding.pageSize();
  for (let i = 0; i < n; i++) {
    if (dirtyBytes[i]! >= 0) dirtyBytes[i] = dirtyBytes[i]! * page;
    if (writebackBytes[i]! >= 0) writebackBytes[i] = writebackBytes[i]! * page;
  }
  return { dirtyBytes, writebackBytes, errno };
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

function run(task: Task): EngineFlushResult | ResolveResult | CloseResult | ProbeResult | DirtyResult {
  switch (task.kind) {
    case 'flush':
      return flush(task);
    case 'probe':
      return probe();
    case 'dirty':
      return dirty(task);
    case 'resolve':
      return resolveTargets(task.fds, task.paths, task.realpaths);
    case 'close':
      return close(task);
  }
}

export = run;
