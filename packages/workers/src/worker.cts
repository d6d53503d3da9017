// A pool thread. Every syscall here blocks this thread only: never libuv's shared threadpool,
// which is why only synchronous calls appear in this file.
import fs = require('node:fs');
import { performance } from 'node:perf_hooks';
import { loadNative } from '@fsync2/native';
import * as js from './js-backend.cjs';
import { resolveTargets } from './resolve.cjs';
import type { Backend, CloseResult, CloseTask, FlushResult, FlushTask, ResolveResult, ResolveTask, Task } from './protocol.cjs';

const native = loadNative();
const binding = native.available ? native.binding : null;
const backend: Backend = binding ? 'native' : 'js';

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
      return resolveTargets(task.fds, task.paths, task.realpaths);
    case 'close':
      return close(task);
  }
}

export = run;
