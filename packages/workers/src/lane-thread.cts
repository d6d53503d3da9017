// A flush lane's thread: waits on shared memory for one request at a time and runs it with the
// pool threads' own flush code. No MessagePort on the way in or out: the round trip is a futex
// wake each way, which is what keeps one caller's flush near the cost of the syscall itself.
import { workerData } from 'node:worker_threads';
import { loadNative } from '@fsync2/native';
import run = require('./worker.cjs');
import { CTL, PRIME_POLL_MS, laneViews } from './lane-layout.cjs';
import type { EngineFlushResult } from './protocol.cjs';

const { ctl, fds, ops, errnos, nanos, times } = laneViews(workerData.buffer as SharedArrayBuffer);
const native = loadNative();
// A poll without sched_yield can hold the CPU the main thread was just woken onto (see lane.ts):
// without the addon this thread never polls.
const yieldCpu = native.available ? native.binding.schedYield : null;
const pollMs = yieldCpu ? Number(workerData.pollUs ?? 0) / 1000 : 0;
/** ms from the last answer to the next request: whether polling after an answer may pay. */
let lastGapMs = 0;
let answeredAt = 0;

let seen = Atomics.load(ctl, CTL.REQUEST);
Atomics.store(ctl, CTL.READY, 1);
Atomics.notify(ctl, CTL.READY);

// STOP is checked before every wait: a lane destroyed while this thread was still loading must
// find it here and leave by itself, rather than be terminated in the middle of loading the addon.
while (Atomics.load(ctl, CTL.STOP) !== 1) {
  // Poll before sleeping when the next request came soon last time (see lane.ts): the main
  // thread's work between an answer and the next request is microseconds in group commit.
  if (pollMs > 0 && answeredAt > 0 && lastGapMs <= pollMs) {
    const until = answeredAt + pollMs;
    while (Atomics.load(ctl, CTL.REQUEST) === seen && performance.now() < until) yieldCpu!();
  }
  // WAKE read before the checks: a request or prime made after them has rung it since, and the
  // wait returns at once.
  const bell = Atomics.load(ctl, CTL.WAKE);
  if (Atomics.load(ctl, CTL.REQUEST) === seen && Atomics.load(ctl, CTL.PRIMED) !== 1) Atomics.wait(ctl, CTL.WAKE, bell);
  if (Atomics.load(ctl, CTL.STOP) === 1) break;
  const request = Atomics.load(ctl, CTL.REQUEST);
  if (request === seen) {
    // Woken ahead of a request (FlushLane.prime): awake when it comes, as after an answer.
    if (Atomics.compareExchange(ctl, CTL.PRIMED, 1, 2) === 1) {
      const until = performance.now() + PRIME_POLL_MS;
      while (pollMs > 0 && Atomics.load(ctl, CTL.REQUEST) === seen && performance.now() < until) yieldCpu!();
      Atomics.compareExchange(ctl, CTL.PRIMED, 2, 0);
    }
    continue;
  }
  Atomics.store(ctl, CTL.PRIMED, 0);
  seen = request;
  if (answeredAt > 0) lastGapMs = performance.now() - answeredAt;
  const n = Atomics.load(ctl, CTL.COUNT);
  const engine = Atomics.load(ctl, CTL.ENGINE) === 1 ? 'uring' : 'sync';
  const depth = Atomics.load(ctl, CTL.DEPTH) || undefined;
  const maxWorkers = Atomics.load(ctl, CTL.MAX_WORKERS) || undefined;
  // Copies: the flush code owns its arrays, and starts every entry as ECANCELED itself.
  const res = run({ kind: 'flush', fds: fds.slice(0, n), ops: ops.slice(0, n), engine, depth, maxWorkers }) as EngineFlushResult;
  errnos.set(res.errnos);
  nanos.set(res.nanos);
  times[0] = res.startedAt;
  times[1] = res.endedAt;
  ctl[CTL.NATIVE] = res.backend === 'native' ? 1 : 0;
  ctl[CTL.ENGINE_USED] = res.engine === 'uring' ? 1 : 0;
  // The store of DONE publishes the answer: every write above happens before it.
  Atomics.store(ctl, CTL.DONE, seen);
  Atomics.notify(ctl, CTL.DONE);
  answeredAt = performance.now();
}
