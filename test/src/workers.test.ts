// The pool: flushes on its own threads (never libuv's), dead threads fail their work, the pool
// keeps serving.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadNative, OPS } from '@fsync2/native';
import { FlushLane, FlushPool, WorkerError, KIND } from '@fsync2/workers';
import { PRIME_POLL_MS } from '../../packages/workers/dist/lane-layout.cjs';
import type { SyncError } from '@fsync2/core';
import { syncerWithPool } from './fake-backend.js';
import { FIXTURES, mkfifo, scratch, writeFiles } from './helpers.js';

const run = promisify(execFile);
const { EBADF } = os.constants.errno;

test('a flush task runs each op on a pool thread and returns every errno', async () => {
  const s = scratch();
  const pool = new FlushPool({ minThreads: 1, maxThreads: 2 });
  try {
    const files = writeFiles(s.dir, 3);
    const fds = files.map((f) => fs.openSync(f, 'r'));
    const res = await pool.flush(Int32Array.of(fds[0]!, fds[1]!, 987654, fds[2]!), Uint8Array.of(OPS.FSYNC, OPS.FDATASYNC, OPS.FSYNC, OPS.FDATASYNC));
    assert.equal([...res.errnos], [0, 0, EBADF, 0]);
    assert.ok(res.endedAt >= res.startedAt);
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

test('a resolve task opens paths, fstats and fstatfs them, and reports open failures', async () => {
  const s = scratch();
  const pool = new FlushPool({ minThreads: 1, maxThreads: 1 });
  try {
    const [file] = writeFiles(s.dir, 1);
    const res = await pool.resolve(Int32Array.of(-1, -1, -1), [file!, path.join(s.dir, 'missing'), s.dir], true);
    const st = fs.statSync(file!, { bigint: true });
    assert.is(res.opened[0], 1);
    assert.is(res.dev[0], st.dev);
    assert.is(res.ino[0], st.ino);
    assert.is(res.kind[0], KIND.FILE);
    assert.is(res.fsType[0], fs.statfsSync(file!).type);
    assert.is(res.failedSyscall[1], 'open');
    assert.is(res.errnos[1], os.constants.errno.ENOENT);
    assert.is(res.kind[2], KIND.DIRECTORY);
    await pool.close(Int32Array.from([res.fds[0]!, res.fds[2]!]));
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

/**
 * Opens `file` until the kernel hands out `fd` again. Usually the first open does (the lowest
 * free number), but another thread of this process may free a lower number meanwhile (CI saw
 * 26 for 27), so the spare numbers are held until the wanted one comes, then closed.
 */
function reopenAs(file: string, fd: number): number {
  const spare: number[] = [];
  try {
    for (let i = 0; i < 256; i++) {
      const n = fs.openSync(file, 'r');
      if (n === fd) return n;
      spare.push(n);
    }
    return -1;
  } finally {
    for (const n of spare) fs.closeSync(n);
  }
}

test('a thread that exits closes no fd it opened for a path: the number may belong to someone else by then', async () => {
  // A path's fd is opened by one thread's resolve task and closed by whichever thread runs the
  // close task. Node's workers close the raw fds they opened when they exit (trackUnmanagedFds),
  // so the opening thread would close that number a second time: here the caller's own file,
  // in the migration example another thread's event loop fd (libuv then aborts the process).
  const s = scratch();
  const pool = new FlushPool({ minThreads: 1, maxThreads: 1 });
  let mine = -1;
  try {
    const [file] = writeFiles(s.dir, 1);
    const res = await pool.resolve(Int32Array.of(-1), [file!], false);
    const fd = res.fds[0]!;
    assert.is(res.opened[0], 1);
    fs.closeSync(fd); // closed by another thread than the one that opened it
    mine = reopenAs(file!, fd);
    assert.is(mine, fd, 'the caller should get the freed fd number back');
    await pool.destroy(); // the pool's only thread exits
    assert.ok(fs.fstatSync(mine).isFile(), 'the caller\'s fd is still open');
  } finally {
    await pool.destroy();
    if (mine >= 0) fs.closeSync(mine); // throws EBADF if the pool closed it
    s.cleanup();
  }
});

test('flushes complete while libuv threadpool is blocked (UV_THREADPOOL_SIZE=1)', async () => {
  const s = scratch();
  try {
    mkfifo(path.join(s.dir, 'fifo'));
    const { stdout } = await run(process.execPath, [path.join(FIXTURES, 'threadpool-blocked.mjs'), s.dir], {
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.is(out.controlRanMeanwhile, false, 'the threadpool was not blocked: the test proves nothing');
    assert.is(out.durable, true);
    assert.is(out.results, 250);
    assert.is(out.released, true);
  } finally {
    s.cleanup();
  }
});

test('a worker that dies mid-plan fails its task with WorkerError; the pool serves the next', async () => {
  const s = scratch();
  const pool = new FlushPool({ minThreads: 1, maxThreads: 1, filename: path.join(FIXTURES, 'dying-worker.cjs'), lane: false });
  try {
    const files = writeFiles(s.dir, 2);
    const fds = files.map((f) => fs.openSync(f, 'r'));
    const die = path.join(s.dir, 'x.die');
    fs.writeFileSync(die, 'x');
    const dieFd = fs.openSync(die, 'r');
    const err = await pool.flush(Int32Array.of(dieFd, fds[0]!), Uint8Array.of(OPS.FSYNC, OPS.FSYNC)).catch((e: unknown) => e);
    fs.closeSync(dieFd);
    assert.instance(err, WorkerError);
    assert.is((err as WorkerError).code, 'ERR_FSYNC2_WORKER');
    assert.match((err as Error).message, /flush task/);
    const next = await pool.flush(Int32Array.from(fds), Uint8Array.of(OPS.FSYNC, OPS.FDATASYNC));
    assert.equal([...next.errnos], [0, 0]);
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

test('through sync(): targets on a dead worker fail with ERR_FSYNC2_WORKER, never durable', async () => {
  const s = scratch();
  const pool = new FlushPool({ minThreads: 1, maxThreads: 1, filename: path.join(FIXTURES, 'dying-worker.cjs'), lane: false });
  const syncer = syncerWithPool({ strategy: 'perFile' }, pool);
  try {
    const files = writeFiles(s.dir, 3);
    const die = path.join(s.dir, 'x.die');
    fs.writeFileSync(die, 'x');
    const fds = files.map((f) => fs.openSync(f, 'r'));
    // One thread: the three files share the task that dies; the closed fd fails before it.
    const err = (await syncer.sync([fds[0]!, die, 987654, fds[1]!]).catch((e: unknown) => e)) as SyncError;
    assert.is(err.code, 'ERR_FSYNC2_SYNC_FAILED');
    assert.ok(err.report.results.every((r) => !r.durable), 'a target on the dead worker was reported durable');
    assert.equal(err.errors.map((e) => e.code), ['ERR_FSYNC2_WORKER', 'ERR_FSYNC2_WORKER', 'EBADF', 'ERR_FSYNC2_WORKER']);
    assert.is(err.errors[1]!.path, die);
    // The lost answers may have been EIO that the kernel will not repeat: those files keep
    // failing (sticky) until reset(); a file that was not on the dead thread is fine.
    const sticky = (await syncer.sync(fds.slice(0, 2)).catch((e: unknown) => e)) as SyncError;
    assert.equal(sticky.errors.map((e) => e.code), ['ERR_FSYNC2_WORKER', 'ERR_FSYNC2_WORKER']);
    assert.ok(sticky.report.results.every((r) => r.sticky));
    assert.ok((await syncer.sync(fds[2]!)).durable);
    assert.is(await syncer.reset([...fds, die]), 3);
    const again = await syncer.sync(fds);
    assert.ok(again.durable);
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test('a worker that cannot load fails each task with a clear WorkerError, without crashing', async () => {
  const s = scratch();
  const pool = new FlushPool({ minThreads: 0, maxThreads: 1, filename: path.join(FIXTURES, 'fails-to-load.cjs'), lane: false });
  try {
    const fd = fs.openSync(s.dir, 'r');
    for (let i = 0; i < 2; i++) {
      const err = await pool.flush(Int32Array.of(fd), Uint8Array.of(OPS.FSYNC)).catch((e: unknown) => e);
      assert.instance(err, WorkerError);
      assert.match((err as Error).message, /simulated worker load failure/);
    }
    fs.closeSync(fd);
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

// This side polls only with sched_yield from the addon, which these tests load (they assert 'native').
const native = loadNative();
const schedYield = native.available ? native.binding.schedYield : null;

async function whenFree(lane: FlushLane): Promise<void> {
  for (let i = 0; i < 400 && !lane.free; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(lane.free, 'the lane thread never became ready');
}

test('the flush lane runs ops on its own thread and returns every errno, one request at a time', async () => {
  const s = scratch();
  const lane = new FlushLane({ pollUs: 250 });
  try {
    await whenFree(lane);
    const files = writeFiles(s.dir, 2);
    const fds = files.map((f) => fs.openSync(f, 'r'));
    const first = lane.flush(Int32Array.of(fds[0]!, 987654, fds[1]!), Uint8Array.of(OPS.FSYNC, OPS.FDATASYNC, OPS.FDATASYNC));
    assert.not.ok(lane.free, 'a lane with a request in flight took another');
    const res = await first;
    assert.equal([...res.errnos], [0, EBADF, 0]);
    assert.is(res.backend, 'native');
    assert.ok(res.endedAt >= res.startedAt);
    assert.ok(lane.free);
    // The answer is a copy: the next request does not rewrite it.
    const next = await lane.flush(Int32Array.of(987654), Uint8Array.of(OPS.FSYNC));
    assert.equal([...next.errnos], [EBADF]);
    assert.equal([...res.errnos], [0, EBADF, 0]);
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await lane.destroy();
    s.cleanup();
  }
});

test('the lane takes io_uring batches too: each says the engine that ran it, and every errno in place', async () => {
  const s = scratch();
  const lane = new FlushLane({ pollUs: 250 });
  try {
    await whenFree(lane);
    const native = loadNative();
    const binding = native.available ? native.binding : null;
    const uring = binding !== null && binding.uringStatus() === 0;
    const fds = writeFiles(s.dir, 300).map((f) => fs.openSync(f, 'r+'));
    const all = Int32Array.from([...fds.slice(0, 150), 987654, ...fds.slice(150)]);
    const ops = new Uint8Array(all.length).fill(OPS.KICK_FDATASYNC);
    const res = await lane.flush(all, ops, { engine: 'uring', depth: 64, maxWorkers: 16 });
    assert.is(res.engine, uring ? 'uring' : 'sync', 'the engine that ran, from the lane thread');
    assert.is(res.errnos.length, 301);
    assert.is(res.errnos[150], EBADF, 'the bad fd answered at its own index');
    assert.ok([...res.errnos].every((e, i) => i === 150 || e === 0));
    const dirty = new Float64Array(300);
    if (binding && binding.cachestatBatch(Int32Array.from(fds), dirty, new Float64Array(300)) === 0) {
      assert.is(dirty.reduce((a, b) => a + b, 0), 0, 'every file flushed: nothing dirty left');
    }
    // The next request, synchronous, is not told the last one's engine.
    const next = await lane.flush(Int32Array.of(fds[0]!), Uint8Array.of(OPS.FDATASYNC));
    assert.is(next.engine, 'sync');
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await lane.destroy();
    s.cleanup();
  }
});

test('a polling lane answers each request with its own result, never the answer of the one before', async () => {
  // The thread picks requests up while it polls (pollUs) as well as after a wake-up, and with
  // `poll` this side looks for each answer while also being woken for it: requests that alternate a
  // slow flush and an instant EBADF show any answer given to the wrong request.
  const s = scratch();
  // Without sched_yield this side would not poll at all, and the test would prove nothing.
  assert.ok(schedYield, 'the addon has no schedYield');
  const lane = new FlushLane({ pollUs: 2000, yieldCpu: schedYield });
  try {
    await whenFree(lane);
    const [file] = writeFiles(s.dir, 1);
    const fd = fs.openSync(file!, 'r+');
    for (let i = 0; i < 300; i++) {
      const good = i % 2 === 1;
      if (good) fs.writeSync(fd, 'x');
      const res = await lane.flush(Int32Array.of(good ? fd : 987654), Uint8Array.of(OPS.FDATASYNC));
      assert.equal([...res.errnos], [good ? 0 : EBADF], `request ${i}`);
    }
    fs.closeSync(fd);
  } finally {
    await lane.destroy();
    s.cleanup();
  }
});

test('a primed lane thread wakes ahead of a request, and answers each request with its own result', async () => {
  // prime() wakes the thread without a request: it must take the prime (poll a while, then sleep
  // again) and never mistake it for a request, whose answer would then be a stale one.
  const s = scratch();
  assert.ok(schedYield, 'the addon has no schedYield');
  const lane = new FlushLane({ pollUs: 250, yieldCpu: schedYield });
  try {
    await whenFree(lane);
    const [file] = writeFiles(s.dir, 1);
    const fd = fs.openSync(file!, 'r+');
    for (let i = 0; i < 40; i++) {
      const primedAt = performance.now();
      lane.prime();
      const state = lane.primed;
      // Gone already is ambiguous only if this thread stalled (a loaded CI VM) for as long as the
      // lane thread polls after taking a prime: it took the prime and gave up on it meanwhile.
      const stalled = performance.now() - primedAt >= PRIME_POLL_MS;
      assert.ok(state !== null || stalled, `prime ${i} was not passed to the thread`);
      for (let t = 0; t < 400 && lane.primed === 'sent'; t++) await new Promise((r) => setTimeout(r, 1));
      assert.is.not(lane.primed, 'sent', `the thread never took prime ${i}`);
      // Half the requests come while the primed thread still polls, half after it slept again.
      if (i % 2 === 0) await new Promise((r) => setTimeout(r, 5));
      const good = i % 4 < 2;
      if (good) fs.writeSync(fd, 'x');
      const res = await lane.flush(Int32Array.of(good ? fd : 987654), Uint8Array.of(OPS.FDATASYNC));
      assert.equal([...res.errnos], [good ? 0 : EBADF], `request ${i}`);
    }
    // A request in flight: the lane is not free, and a prime then is nothing.
    // Primes that were never followed by a request end: the thread sleeps again.
    lane.prime();
    for (let t = 0; t < 400 && lane.primed; t++) await new Promise((r) => setTimeout(r, 1));
    assert.is(lane.primed, null, 'the thread kept polling for a request that never came');
    fs.writeSync(fd, 'x');
    const running = lane.flush(Int32Array.of(fd), Uint8Array.of(OPS.FSYNC));
    lane.prime();
    assert.is(lane.primed, null, 'a prime was passed to a thread busy with a request');
    assert.equal([...(await running).errnos], [0]);
    fs.closeSync(fd);
  } finally {
    await lane.destroy();
    s.cleanup();
  }
});

test('a late wake-up for one lane answer does not eat the wake-up of the next request', async () => {
  // The fixture publishes each answer 20 ms before its notify. Polling sees the answer, the next
  // request begins to wait, and then the old notify wakes it: it must wait again, not hang.
  let yields = 0;
  const yieldCpu = () => (yields++, schedYield!());
  // An 8 ms poll sees an answer published 5 ms after a request the thread takes at once, and gives
  // up on the next one, which the thread takes only after its late notify: requests alternate
  // between answered by the poll and left to a wake-up, and each of the latter is woken first by
  // its predecessor's late notify.
  const lane = new FlushLane({ pollUs: 8000, yieldCpu, thread: path.join(FIXTURES, 'late-notify-lane.cjs') });
  try {
    await whenFree(lane);
    for (let i = 0; i < 6; i++) {
      const res = await Promise.race([
        lane.flush(Int32Array.of(3), Uint8Array.of(OPS.FSYNC)),
        new Promise<null>((r) => setTimeout(() => r(null), 2000)),
      ]);
      assert.ok(res, `request ${i} was never answered`);
      assert.equal([...res!.errnos], [EBADF]);
    }
    // A poll that never yields can keep the thread it just woke off this CPU (lane.ts).
    assert.ok(yields > 0, 'the poll never called sched_yield');
  } finally {
    // destroy() waits for a flush in flight: a request left unanswered would hang it here.
    await Promise.race([lane.destroy(), new Promise((r) => setTimeout(r, 3000))]);
  }
});

test('a lane thread that dies holding a request fails it with WorkerError, never flushed', async () => {
  const s = scratch();
  const lane = new FlushLane({ pollUs: 250, thread: path.join(FIXTURES, 'dying-lane.cjs') });
  try {
    await whenFree(lane);
    const [file] = writeFiles(s.dir, 1);
    const fd = fs.openSync(file!, 'r');
    const err = await lane.flush(Int32Array.of(fd), Uint8Array.of(OPS.FSYNC)).catch((e: unknown) => e);
    fs.closeSync(fd);
    assert.instance(err, WorkerError);
    assert.is((err as WorkerError).code, 'ERR_FSYNC2_WORKER');
    assert.match((err as Error).message, /exited with code 7/);
    assert.ok(lane.dead, 'a dead lane still says it is alive');
    assert.not.ok(lane.free);
  } finally {
    await lane.destroy();
    s.cleanup();
  }
});

test('a lane flush keeps the process alive until it is answered', async () => {
  // Atomics.waitAsync alone holds no event-loop handle: without the lane's ref the process
  // would exit before the answer, and the caller would never learn the flush's result.
  const s = scratch();
  try {
    const [file] = writeFiles(s.dir, 1);
    const { stdout } = await run(process.execPath, [path.join(FIXTURES, 'lane-only.mjs'), file!], { timeout: 60_000 });
    assert.is(stdout.trim(), 'answered 0');
  } finally {
    s.cleanup();
  }
});

test('pools destroyed while their threads may still be loading the addon: the process survives', async () => {
  // A clean-clone CI run once died here with "FATAL ERROR: Error::ThrowAsJavaScriptException
  // napi_throw" inside the addon's registration: a thread stopped mid-load. The addon now swallows
  // what cannot be thrown in a dying thread (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS) and the lane
  // thread leaves by itself. This churn did not reproduce that crash on demand; it guards the path.
  const { stdout } = await run(process.execPath, [path.join(FIXTURES, 'pool-churn.mjs'), '60'], { timeout: 120_000 });
  assert.is(stdout.trim(), 'survived 60');
});

test('pool settings reach piscina', async () => {
  const pool = new FlushPool({ minThreads: 2, maxThreads: 3, idleTimeout: 100, atomics: 'async' });
  try {
    assert.is(pool.maxThreads, 3);
    await new Promise((r) => setTimeout(r, 200));
    assert.is(pool.threads, 2);
  } finally {
    await pool.destroy();
  }
});

test.run();
