// io_uring batch flushes and cachestat, on real files (the disk and tmpfs): the addon's calls,
// one ring per thread, the fallbacks, and the pool's flushWith / probe / dirty tasks.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CACHESTAT, loadNative, OPS, type NativeBinding } from '@fsync2/native';
import { FlushPool } from '@fsync2/workers';
import { localDirtyBytes } from '../../packages/core/dist/dirty.js';
import { BlockDevice, FS_TYPES, fallocate, skipUnlessReady, syncfs as syncfsDir } from './blockdev.js';
import { closedFd, mkfifo, scratch, skipBecause, straceCounts, straceMissing, TMPFS, writeFiles } from './helpers.js';

const require = createRequire(import.meta.url);
const run = promisify(execFile);

const { EBADF, EINVAL, ENOSYS, EPERM, ESPIPE } = os.constants.errno;
const status = loadNative();
const native: NativeBinding = status.available ? status.binding : (null as never);
const cores = os.availableParallelism();

function openAll(files: readonly string[]): Int32Array {
  return Int32Array.from(files, (f) => fs.openSync(f, 'r'));
}

function closeAll(fds: Int32Array): void {
  for (const fd of fds) fs.closeSync(fd);
}

/** Dirty + writeback pages of a file, from cachestat: what a flush must bring to 0. */
function unflushed(fd: number): number {
  const out = new Float64Array(5);
  const err = native.cachestat(fd, out);
  if (err !== 0) throw new Error(`cachestat: errno ${err}`);
  return out[CACHESTAT.NR_DIRTY]! + out[CACHESTAT.NR_WRITEBACK]!;
}

/** io_uring instances this process holds open (each ring is an anon inode fd). */
function ringFds(): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[io_uring]') n++;
    } catch {
      // the fd of readdir itself, closed by now
    }
  }
  return n;
}

/** io-wq workers serving the main thread's ring: the kernel names them iou-wrk-<tid>. */
// Rings Node's own event loops hold: libuv itself uses io_uring from Node 22 on (none on Node 20;
// on Node 24, three in the main thread and one more per worker thread). Counted before this file
// touches io_uring, so that the assertions below count fsync2's rings only.
const RUNTIME_RINGS = ringFds();

/** Rings a new worker thread's event loop adds by itself, without fsync2 (0 on Node 20). */
async function loopRingsPerThread(): Promise<number> {
  const before = ringFds();
  const w = new Worker("require('node:worker_threads').parentPort.postMessage('up'); setInterval(() => {}, 1000);", { eval: true });
  await new Promise((r) => w.once('message', r));
  const n = ringFds() - before;
  await w.terminate();
  return n;
}

function mainThreadIoWorkers(): number {
  let n = 0;
  for (const task of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === `iou-wrk-${process.pid}`) n++;
    } catch {
      // the thread exited meanwhile
    }
  }
  return n;
}

function batch(n: number, op: number): { ops: Uint8Array; errnos: Int32Array; nanos: Float64Array } {
  return { ops: new Uint8Array(n).fill(op), errnos: new Int32Array(n).fill(-1), nanos: new Float64Array(n) };
}

test('io_uring works here: uringStatus() is 0 and the thread holds one ring', () => {
  assert.ok(status.available, status.available ? '' : status.reason);
  assert.is(status.available && status.uringOff, null);
  assert.is(native.uringStatus(), 0);
  assert.is(ringFds(), RUNTIME_RINGS + 1, 'one ring for the main thread, set up by the probe');
  assert.is(native.uringStatus(), 0);
  assert.is(ringFds(), RUNTIME_RINGS + 1, 'the ring is reused, not set up again');
});

test('flushBatchUring: 500 fresh files on the disk all flushed (cachestat: nothing dirty after), each with a duration', () => {
  const s = scratch();
  try {
    const fds = openAll(writeFiles(s.dir, 500));
    const before = fds.reduce((sum, fd) => sum + unflushed(fd), 0);
    assert.ok(before > 0, 'the fresh files had no dirty pages: the test would prove nothing');
    const { ops, errnos, nanos } = batch(500, OPS.FDATASYNC);
    assert.is(native.flushBatchUring(fds, ops, errnos, nanos), 0);
    assert.ok(errnos.every((e) => e === 0), `errnos ${[...new Set(errnos)]}`);
    assert.ok(nanos.every((n) => n > 0), 'every entry has a duration');
    for (const fd of fds) assert.is(unflushed(fd), 0, `fd ${fd} still has dirty or writeback pages`);
    // FSYNC entries too (IORING_OP_FSYNC without IORING_FSYNC_DATASYNC).
    const again = openAll(writeFiles(s.dir, 50, 4096, 'g'));
    const full = batch(50, OPS.FSYNC);
    assert.is(native.flushBatchUring(again, full.ops, full.errnos, full.nanos), 0);
    for (const fd of again) assert.is(unflushed(fd), 0);
    closeAll(fds);
    closeAll(again);
  } finally {
    s.cleanup();
  }
});

test('flushBatchUring on tmpfs: fsync returns 0 there too (and makes nothing durable)', () => {
  const s = scratch('fsync2-uring-', TMPFS);
  try {
    const fds = openAll(writeFiles(s.dir, 20));
    const { ops, errnos } = batch(20, OPS.FSYNC);
    assert.is(native.flushBatchUring(fds, ops, errnos), 0);
    assert.ok(errnos.every((e) => e === 0));
    closeAll(fds);
  } finally {
    s.cleanup();
  }
});

test('flushBatchUring: a closed fd gives EBADF for its entry only; a pipe gives EINVAL (ESPIPE for a kick)', () => {
  const s = scratch();
  try {
    const fds = openAll(writeFiles(s.dir, 4));
    mkfifo(path.join(s.dir, 'fifo'));
    const pipe = fs.openSync(path.join(s.dir, 'fifo'), fs.constants.O_RDWR);
    const closed = closedFd();
    const batchFds = Int32Array.of(fds[0]!, closed, fds[1]!, pipe, fds[2]!, pipe, -1, pipe, fds[3]!);
    const ops = Uint8Array.of(OPS.FDATASYNC, OPS.FDATASYNC, OPS.FSYNC, OPS.FSYNC, OPS.FDATASYNC, OPS.FDATASYNC, OPS.FSYNC, OPS.WRITEBACK, OPS.FSYNC);
    const errnos = new Int32Array(batchFds.length).fill(-1);
    assert.is(native.flushBatchUring(batchFds, ops, errnos), 5);
    assert.equal([...errnos], [0, EBADF, 0, EINVAL, 0, EINVAL, EBADF, ESPIPE, 0]);
    // The same answers as the synchronous loop: the engines are interchangeable.
    const sync = new Int32Array(batchFds.length);
    native.flushBatch(batchFds, ops, sync);
    assert.equal([...sync], [...errnos]);
    fs.closeSync(pipe);
    closeAll(fds);
  } finally {
    s.cleanup();
  }
});

test('flushBatchUring: mixed ops (WRITEBACK, SYNCFS, NONE, unknown) each answered', () => {
  const s = scratch();
  try {
    const fds = openAll(writeFiles(s.dir, 6, 64 * 1024));
    const ops = Uint8Array.of(OPS.WRITEBACK, OPS.SYNCFS, OPS.NONE, OPS.FDATASYNC, 200, OPS.FSYNC);
    const errnos = new Int32Array(6).fill(-1);
    const nanos = new Float64Array(6).fill(-1);
    assert.is(native.flushBatchUring(fds, ops, errnos, nanos), 1);
    assert.equal([...errnos], [0, 0, 0, 0, EINVAL, 0]);
    assert.ok(nanos.every((n) => n >= 0), `durations ${[...nanos]}`);
    // The syncfs and the two flushes leave their files clean; a kick alone need not.
    for (const i of [1, 3, 5]) assert.is(unflushed(fds[i]!), 0, `entry ${i}`);
    closeAll(fds);
  } finally {
    s.cleanup();
  }
});

test('kicked flushes (KICK_FDATASYNC, KICK_FSYNC): every file clean on both engines; the errno is the flush\'s alone', () => {
  const s = scratch();
  try {
    for (const [engine, run] of [
      ['uring', (f: Int32Array, o: Uint8Array, e: Int32Array, n: Float64Array) => native.flushBatchUring(f, o, e, n, 64)],
      ['sync', (f: Int32Array, o: Uint8Array, e: Int32Array, n: Float64Array) => native.flushBatch(f, o, e, n)],
    ] as const) {
      const fds = openAll(writeFiles(s.dir, 100, 16 * 1024, `k-${engine}-`));
      assert.ok(fds.every((fd) => unflushed(fd) > 0), 'fresh files are dirty: the test would prove nothing');
      const ops = Uint8Array.from(fds, (_, i) => (i % 2 ? OPS.KICK_FSYNC : OPS.KICK_FDATASYNC));
      const errnos = new Int32Array(fds.length).fill(-1);
      const nanos = new Float64Array(fds.length).fill(-1);
      assert.is(run(fds, ops, errnos, nanos), 0, engine);
      assert.ok(errnos.every((e) => e === 0), `${engine}: errnos ${[...new Set(errnos)]}`);
      assert.ok(nanos.every((n) => n > 0), `${engine}: every entry has the duration of its flush`);
      for (const fd of fds) assert.is(unflushed(fd), 0, `${engine}: fd ${fd} still has dirty or writeback pages`);
      closeAll(fds);
    }
    // A kick that fails (a pipe: ESPIPE; a closed fd: EBADF) is ignored: each entry answers with
    // its flush's errno, the same on both engines, and a healthy file beside them is flushed.
    mkfifo(path.join(s.dir, 'fifo'));
    const pipe = fs.openSync(path.join(s.dir, 'fifo'), fs.constants.O_RDWR);
    const [good] = openAll(writeFiles(s.dir, 1, 4096, 'good-'));
    const fds = Int32Array.of(pipe, closedFd(), good!, -1);
    const ops = Uint8Array.of(OPS.KICK_FDATASYNC, OPS.KICK_FSYNC, OPS.KICK_FDATASYNC, OPS.KICK_FDATASYNC);
    const ring = new Int32Array(4).fill(-1);
    const sync = new Int32Array(4).fill(-1);
    assert.is(native.flushBatchUring(fds, ops, ring), 3);
    assert.equal([...ring], [EINVAL, EBADF, 0, EBADF]);
    native.flushBatch(fds, ops, sync);
    assert.equal([...sync], [...ring]);
    assert.is(unflushed(good!), 0);
    fs.closeSync(pipe);
    fs.closeSync(good!);
  } finally {
    s.cleanup();
  }
});

// The uring+kick plan's promise: a kick never hides a writeback error from the flush after it.
// One failing-device case per filesystem and engine: a's data sits on blocks the FUSE server fails
// to write, b's on healthy ones (layout as in faults.test.ts's writebackCase).
for (const fsType of FS_TYPES) {
  test(`kicked flushes on ${fsType}: writeback EIO started by the kick is reported by the flush, on both engines`, async () => {
    if (skipUnlessReady('kicked flushes under EIO', fsType)) return;
    const L = 64 * 1024;
    const dev = await BlockDevice.create({ fs: fsType, name: `kick-${fsType}` });
    const fds: number[] = [];
    try {
      const names = ['ua', 'ub', 'sa', 'sb'].map((n) => path.join(dev.mnt, n));
      for (const f of names) fallocate(f, 3 * L);
      assert.ok(syncfsDir(dev.mnt), 'syncfs after fallocate');
      for (const f of [names[0]!, names[2]!]) for (const r of dev.physicalRanges(f, L, L)) dev.ctl(`fail-writes ${r.offset} ${r.length}`);
      for (const f of names) fds.push(fs.openSync(f, 'r+'));
      for (const fd of fds) fs.writeSync(fd, Buffer.alloc(L, 0x5a), 0, L, L);
      const ops = Uint8Array.of(OPS.KICK_FDATASYNC, OPS.KICK_FSYNC);
      const ring = new Int32Array(2).fill(-1);
      native.flushBatchUring(Int32Array.of(fds[0]!, fds[1]!), ops, ring, undefined, 64);
      const sync = new Int32Array(2).fill(-1);
      native.flushBatch(Int32Array.of(fds[2]!, fds[3]!), ops, sync);
      assert.ok(dev.status().failedWrites > 0, 'the server failed the writeback');
      assert.equal([...ring], [os.constants.errno.EIO, 0], `uring engine: ${[...ring]}`);
      assert.equal([...sync], [os.constants.errno.EIO, 0], `sync engine: ${[...sync]}`);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      await dev.close();
    }
  });
}

test('localDirtyBytes: the planner\'s cachestat on the calling thread, for small batches', () => {
  const s = scratch();
  try {
    const fds = openAll(writeFiles(s.dir, 10, 8192));
    const dirty = localDirtyBytes(fds);
    assert.ok(dirty !== null && dirty >= 10 * 8192 * 0.5, `dirty ${dirty}`);
    const e = new Int32Array(10);
    native.flushBatch(fds, new Uint8Array(10).fill(OPS.FDATASYNC), e);
    assert.is(localDirtyBytes(fds), 0);
    assert.is(localDirtyBytes(Int32Array.of(fds[0]!, closedFd())), null, 'one bad fd: the share is unknown');
    closeAll(fds);
  } finally {
    s.cleanup();
  }
});

test('flushBatchUring: depth 8 (and 1) with 100 entries completes every entry; a larger depth grows the ring', () => {
  const s = scratch();
  try {
    for (const depth of [8, 1]) {
      const fds = openAll(writeFiles(s.dir, 100, 4096, `d${depth}-`));
      const { ops, errnos, nanos } = batch(100, OPS.FDATASYNC);
      assert.is(native.flushBatchUring(fds, ops, errnos, nanos, depth), 0);
      assert.ok(errnos.every((e) => e === 0));
      assert.ok(nanos.every((n) => n > 0));
      for (const fd of fds) assert.is(unflushed(fd), 0);
      closeAll(fds);
    }
    const fds = openAll(writeFiles(s.dir, 600, 4096, 'big-'));
    const { ops, errnos } = batch(600, OPS.FDATASYNC);
    assert.is(native.flushBatchUring(fds, ops, errnos, undefined, 1000), 0);
    for (const fd of fds) assert.is(unflushed(fd), 0);
    assert.is(ringFds(), RUNTIME_RINGS + 1, 'the old ring was closed when the larger one replaced it');
    // An empty batch is a no-op.
    assert.is(native.flushBatchUring(new Int32Array(0), new Uint8Array(0), new Int32Array(0)), 0);
    closeAll(fds);
  } finally {
    s.cleanup();
  }
});

test('flushBatchUring: maxWorkers raises the io-wq cap (iou-wrk threads), the default keeps 4 x CPUs', () => {
  const s = scratch();
  try {
    const cap = Math.min(256, 4 * cores);
    const fds = openAll(writeFiles(s.dir, 500, 4096, 'a'));
    const a = batch(500, OPS.FDATASYNC);
    assert.is(native.flushBatchUring(fds, a.ops, a.errnos), 0);
    const byDefault = mainThreadIoWorkers();
    assert.ok(byDefault >= 1 && byDefault <= cap, `${byDefault} io-wq workers with the default cap ${cap}`);
    const more = openAll(writeFiles(s.dir, 500, 4096, 'b'));
    const b = batch(500, OPS.FDATASYNC);
    assert.is(native.flushBatchUring(more, b.ops, b.errnos, undefined, 256, 64), 0);
    assert.ok(b.errnos.every((e) => e === 0));
    for (const fd of more) assert.is(unflushed(fd), 0);
    const raised = mainThreadIoWorkers();
    assert.ok(raised > cap && raised <= 64, `${raised} io-wq workers after maxWorkers 64 (default cap ${cap})`);
    closeAll(fds);
    closeAll(more);
  } finally {
    s.cleanup();
  }
});

test('flushBatchUring refuses bad arrays by throwing (a caller bug), like flushBatch', () => {
  assert.throws(() => native.flushBatchUring(new Int32Array(2), new Uint8Array(1), new Int32Array(2)), /differ in length/);
  assert.throws(() => native.flushBatchUring(new Int32Array(1), new Uint8Array(1), new Int32Array(1), new Float64Array(2)), /differ in length/);
  assert.throws(() => (native.flushBatchUring as (...a: unknown[]) => number)([1], new Uint8Array(1), new Int32Array(1)), /flushBatchUring/);
  assert.throws(() => (native.flushBatchUring as (...a: unknown[]) => number)(new Int32Array(1), new Uint8Array(1), new Int32Array(1), new Int32Array(1)), /flushBatchUring/);
});

/** Runs `body` (CommonJS, with `native`, `fs`, `OPS`, `workerData` in scope) in a worker thread. */
function inWorker<T>(body: string, workerData: unknown, env?: NodeJS.ProcessEnv): { result: Promise<T>; worker: Worker } {
  const nativeEntry = require.resolve('@fsync2/native');
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    const { loadNative, OPS } = require(${JSON.stringify(nativeEntry)});
    const status = loadNative();
    const native = status.binding;
    (async () => { ${body} })().then((r) => parentPort.postMessage(r), (e) => parentPort.postMessage({ error: String(e) }));`;
  const worker = new Worker(code, { eval: true, workerData, ...(env ? { env } : {}) });
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (m: T & { error?: string }) => (m && m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.once('error', reject);
  });
  return { result, worker };
}

test('four worker threads flush at once, each on its own ring, closed when the thread exits', async () => {
  const s = scratch();
  const workers: Worker[] = [];
  try {
    const groups = [0, 1, 2, 3].map((g) => writeFiles(s.dir, 50, 4096, `w${g}-`));
    const perThread = await loopRingsPerThread();
    const base = ringFds();
    const gate = new Int32Array(new SharedArrayBuffer(8));
    const started = groups.map((files) =>
      inWorker<{ status: number; failed: number; errnos: number[]; clean: boolean }>(
        `
        const [files, gate] = workerData;
        const status0 = native.uringStatus();
        // Start together: every thread has its ring before any submits.
        Atomics.add(gate, 0, 1);
        while (Atomics.load(gate, 0) < 4) Atomics.wait(gate, 0, Atomics.load(gate, 0), 10);
        const fds = Int32Array.from(files, (f) => fs.openSync(f, 'r'));
        const errnos = new Int32Array(fds.length).fill(-1);
        const failed = native.flushBatchUring(fds, new Uint8Array(fds.length).fill(OPS.FDATASYNC), errnos, undefined, 16);
        const out = new Float64Array(5);
        const clean = [...fds].every((fd) => native.cachestat(fd, out) === 0 && out[1] + out[2] === 0);
        fds.forEach((fd) => fs.closeSync(fd));
        parentPort.postMessage({ status: status0, failed, errnos: [...errnos], clean });
        // Stay alive (holding the ring) until the main thread has counted the rings.
        await new Promise((r) => parentPort.once('message', r));
        return null;`,
        [files, gate],
      ),
    );
    workers.push(...started.map((w) => w.worker));
    const results = await Promise.all(started.map((w) => w.result));
    for (const r of results) {
      assert.is(r.status, 0);
      assert.is(r.failed, 0);
      assert.ok(r.errnos.every((e) => e === 0));
      assert.ok(r.clean, 'a file was left dirty');
    }
    assert.is(ringFds(), base + 4 * (1 + perThread), 'each thread has its own ring (instance data, not a global)');
    const exits = started.map((w) => new Promise((r) => w.worker.once('exit', r)));
    for (const w of started) w.worker.postMessage('exit');
    await Promise.all(exits);
    assert.is(ringFds(), base, "each thread's ring was unmapped and closed by the instance-data finalizer");
    assert.is(native.uringStatus(), 0, "the main thread's ring still works");
  } finally {
    // A failed assertion above must not leave the threads waiting for 'exit' forever.
    await Promise.all(workers.map((w) => w.terminate()));
    s.cleanup();
  }
});

test('FSYNC2_URING=off: no ring, uringStatus() EPERM, flushBatchUring falls back with the same answers', async () => {
  const s = scratch();
  try {
    const files = writeFiles(s.dir, 30);
    const perThread = await loopRingsPerThread();
    const base = ringFds();
    const { result } = inWorker<{ uringOff: string; status: number; failed: number; errnos: number[]; clean: boolean; rings: number }>(
      `
      const [files, closed] = workerData;
      const fds = Int32Array.from(files, (f) => fs.openSync(f, 'r'));
      const all = Int32Array.from([...fds, closed]);
      const errnos = new Int32Array(all.length).fill(-1);
      const failed = native.flushBatchUring(all, new Uint8Array(all.length).fill(OPS.FDATASYNC), errnos, undefined, 4);
      const out = new Float64Array(5);
      const clean = [...fds].every((fd) => native.cachestat(fd, out) === 0 && out[1] + out[2] === 0);
      const rings = fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[io_uring]'; } catch { return false; } }).length;
      fds.forEach((fd) => fs.closeSync(fd));
      return { uringOff: status.uringOff, status: native.uringStatus(), failed, errnos: [...errnos], clean, rings };`,
      [files, closedFd()],
      { ...process.env, FSYNC2_URING: 'off' },
    );
    const r = await result;
    assert.match(r.uringOff, /FSYNC2_URING=off/);
    assert.is(r.status, EPERM);
    assert.is(r.failed, 1);
    assert.equal(r.errnos, [...new Array(30).fill(0), EBADF]);
    assert.ok(r.clean, 'the fallback flushed every file');
    assert.is(r.rings, base + perThread, 'the thread never set up a ring');
  } finally {
    s.cleanup();
  }
});

test('disableUring(): closes the thread ring at once; uringStatus() then reports the errno given', async () => {
  const s = scratch();
  try {
    const files = writeFiles(s.dir, 5);
    const { result } = inWorker<{ before: number; after: number; failed: number; ringsBefore: number; ringsAfter: number }>(
      `
      const count = () => fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[io_uring]'; } catch { return false; } }).length;
      const before = native.uringStatus();
      const ringsBefore = count();
      native.disableUring(${ENOSYS});
      const ringsAfter = count();
      const fds = Int32Array.from(workerData, (f) => fs.openSync(f, 'r'));
      const failed = native.flushBatchUring(fds, new Uint8Array(fds.length).fill(OPS.FSYNC), new Int32Array(fds.length));
      fds.forEach((fd) => fs.closeSync(fd));
      return { before, after: native.uringStatus(), failed, ringsBefore, ringsAfter };`,
      files,
    );
    const r = await result;
    assert.is(r.before, 0);
    assert.is(r.after, ENOSYS);
    assert.is(r.failed, 0);
    assert.is(r.ringsAfter, r.ringsBefore - 1);
  } finally {
    s.cleanup();
  }
});

test('cachestat: 1 MiB freshly written is dirty or under writeback; after fdatasync none is (exact)', () => {
  const s = scratch();
  try {
    const file = path.join(s.dir, 'mib');
    const fd = fs.openSync(file, 'w+');
    fs.writeSync(fd, Buffer.alloc(1 << 20, 0x61));
    const page = native.pageSize();
    assert.is(page, 4096);
    const big = new BigUint64Array(5);
    assert.is(native.cachestat(fd, big), 0);
    const pending = Number(big[CACHESTAT.NR_DIRTY]! + big[CACHESTAT.NR_WRITEBACK]!);
    assert.ok(pending > 0, `nothing dirty right after writing: ${big}`);
    assert.ok(pending <= (1 << 20) / page && Number(big[CACHESTAT.NR_CACHE]!) >= pending, `counts ${big}`);
    assert.is(native.fdatasync(fd), 0);
    const after = new Float64Array(5);
    assert.is(native.cachestat(fd, after), 0);
    assert.is(after[CACHESTAT.NR_DIRTY]! + after[CACHESTAT.NR_WRITEBACK]!, 0, `after fdatasync: ${after}`);
    fs.closeSync(fd);
    assert.is(native.cachestat(closedFd(), after), EBADF);
    assert.throws(() => native.cachestat(0, new Float64Array(4)), /cachestat/);
    assert.throws(() => native.cachestat(0, new Int32Array(5) as never), /cachestat/);
  } finally {
    s.cleanup();
  }
});

test('cachestatBatch: dirty and writeback pages per fd, -1 and the first errno where one fails', () => {
  const s = scratch();
  try {
    const fds = openAll(writeFiles(s.dir, 2, 256 * 1024));
    const all = Int32Array.of(fds[0]!, closedFd(), fds[1]!);
    const dirty = new Float64Array(3);
    const writeback = new Float64Array(3);
    assert.is(native.cachestatBatch(all, dirty, writeback), EBADF);
    assert.is(dirty[1], -1);
    assert.is(writeback[1], -1);
    assert.ok(dirty[0]! + writeback[0]! > 0 && dirty[0]! + writeback[0]! <= 64, `file 0: ${dirty[0]} + ${writeback[0]}`);
    assert.ok(dirty[2]! + writeback[2]! > 0);
    const errnos = new Int32Array(2);
    assert.is(native.flushBatchUring(fds, new Uint8Array(2).fill(OPS.FDATASYNC), errnos), 0);
    assert.is(native.cachestatBatch(fds, dirty.subarray(0, 2), writeback.subarray(0, 2)), 0);
    assert.equal([...dirty.subarray(0, 2), ...writeback.subarray(0, 2)], [0, 0, 0, 0]);
    assert.throws(() => native.cachestatBatch(fds, new Float64Array(1), new Float64Array(2)), /differ in length/);
    closeAll(fds);
  } finally {
    s.cleanup();
  }
});

test('pool: flushWith uring says engine uring, flush() says sync; probe and dirty measure in a flush thread', async () => {
  const s = scratch();
  const pool = new FlushPool({ minThreads: 1, maxThreads: 1 });
  try {
    const probe = await pool.probe();
    assert.equal(probe, { backend: 'native', uring: 0, cachestat: 0, pageSize: 4096 });
    const fds = openAll(writeFiles(s.dir, 100));
    const dirty = await pool.dirty(fds);
    assert.is(dirty.errno, 0);
    const pending = dirty.dirtyBytes.reduce((a, b) => a + b, 0) + dirty.writebackBytes.reduce((a, b) => a + b, 0);
    assert.ok(pending > 0 && pending <= 100 * 4096, `pending ${pending} bytes`);
    assert.ok(dirty.dirtyBytes.every((b) => b % 4096 === 0), 'bytes are whole pages');
    const ops = new Uint8Array(100).fill(OPS.FDATASYNC);
    const res = await pool.flushWith(fds, ops, { engine: 'uring', depth: 32, maxWorkers: 16 });
    assert.is(res.engine, 'uring');
    assert.is(res.backend, 'native');
    assert.ok(res.errnos.every((e) => e === 0));
    assert.ok(res.nanos.every((n) => n > 0));
    assert.ok(res.endedAt >= res.startedAt);
    const clean = await pool.dirty(fds);
    assert.equal([...clean.dirtyBytes, ...clean.writebackBytes], new Array(200).fill(0));
    const bad = await pool.dirty(Int32Array.of(fds[0]!, closedFd()));
    assert.is(bad.errno, EBADF);
    assert.equal([...bad.dirtyBytes], [0, -1]);
    const sync = await pool.flush(fds, ops);
    assert.is(sync.engine, 'sync');
    const explicit = await pool.flushWith(fds, ops, { engine: 'sync' });
    assert.is(explicit.engine, 'sync');
    closeAll(fds);
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

/** A pool whose threads start with `env` added (they copy process.env when they start). */
function poolWithEnv(env: Record<string, string>): FlushPool {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return new FlushPool({ minThreads: 1, maxThreads: 1 });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('pool with FSYNC2_URING=off: flushWith uring falls back and says engine sync; probe says EPERM', async () => {
  const s = scratch();
  const pool = poolWithEnv({ FSYNC2_URING: 'off' });
  try {
    const fds = openAll(writeFiles(s.dir, 20));
    const all = Int32Array.from([...fds, closedFd()]);
    const res = await pool.flushWith(all, new Uint8Array(all.length).fill(OPS.FDATASYNC), { engine: 'uring' });
    assert.is(res.engine, 'sync');
    assert.equal([...res.errnos], [...new Array(20).fill(0), EBADF]);
    for (const fd of fds) assert.is(unflushed(fd), 0);
    const probe = await pool.probe();
    assert.is(probe.uring, EPERM);
    assert.is(probe.cachestat, 0);
    closeAll(fds);
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

test('pool on the pure-TS path: flushWith uring runs fs.fdatasyncSync (engine sync); probe and dirty say ENOSYS', async () => {
  const s = scratch();
  const pool = poolWithEnv({ FSYNC2_NATIVE: 'off' });
  try {
    const fds = openAll(writeFiles(s.dir, 10));
    const res = await pool.flushWith(fds, new Uint8Array(10).fill(OPS.FDATASYNC), { engine: 'uring' });
    assert.is(res.backend, 'js');
    assert.is(res.engine, 'sync');
    assert.ok(res.errnos.every((e) => e === 0));
    for (const fd of fds) assert.is(unflushed(fd), 0);
    const probe = await pool.probe();
    assert.equal(probe, { backend: 'js', uring: ENOSYS, cachestat: ENOSYS, pageSize: 4096 });
    const dirty = await pool.dirty(fds);
    assert.is(dirty.errno, ENOSYS);
    assert.ok(dirty.dirtyBytes.every((b) => b === -1) && dirty.writebackBytes.every((b) => b === -1));
    closeAll(fds);
  } finally {
    await pool.destroy();
    s.cleanup();
  }
});

test('strace: a 200-file uring batch issues io_uring_enter and not one fsync, fdatasync or sync_file_range syscall', async () => {
  if (skipBecause('strace of the uring engine', straceMissing())) return;
  const s = scratch();
  try {
    const workers = pathToFileURL(require.resolve('@fsync2/workers')).href;
    const script = path.join(s.dir, 'child.mjs');
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';
       import { FlushPool } from ${JSON.stringify(workers)};
       const [dir, engine] = process.argv.slice(2);
       const fds = Int32Array.from(fs.readdirSync(dir).filter((f) => f.startsWith('f')), (f) => fs.openSync(dir + '/' + f, 'r'));
       const pool = new FlushPool({ minThreads: 1, maxThreads: 1 });
       if (engine === 'kicked') {
         // The uring+kick plan's one task: every file kicked on the thread, then flushed on the ring.
         const res = await pool.flushWith(fds, new Uint8Array(fds.length).fill(6), { engine: 'uring' });
         await pool.destroy();
         console.log(JSON.stringify({ n: fds.length, engine: res.engine === 'uring' ? 'kicked' : res.engine, failed: res.errnos.filter((e) => e !== 0).length }));
         process.exit(0);
       }
       if (engine === 'none') {
         // The baseline: the same process and threads, one empty task, no flush at all.
         await pool.flushWith(new Int32Array(0), new Uint8Array(0), { engine: 'sync' });
         await pool.destroy();
         console.log(JSON.stringify({ n: fds.length, engine, failed: 0 }));
         process.exit(0);
       }
       // The writeback strategy's two tasks: kick every file (OPS.WRITEBACK), then flush (FDATASYNC).
       const kick = await pool.flushWith(fds, new Uint8Array(fds.length).fill(4), { engine });
       if (kick.errnos.some((e) => e !== 0) || kick.engine !== engine) throw new Error('kick failed');
       const res = await pool.flushWith(fds, new Uint8Array(fds.length).fill(2), { engine });
       await pool.destroy();
       console.log(JSON.stringify({ n: fds.length, engine: res.engine, failed: res.errnos.filter((e) => e !== 0).length }));`,
    );
    const counts: Record<string, Record<string, number>> = {};
    for (const engine of ['uring', 'sync', 'none', 'kicked'] as const) {
      const dir = path.join(s.dir, engine);
      fs.mkdirSync(dir);
      writeFiles(dir, 200);
      const out = path.join(s.dir, `${engine}.strace`);
      const { stdout } = await run('strace', ['-f', '-c', '-o', out, '-e', 'trace=io_uring_enter,fsync,fdatasync,sync_file_range', process.execPath, script, dir, engine], {
        timeout: 120_000,
      });
      assert.equal(JSON.parse(stdout.trim().split('\n').pop()!), { n: 200, engine, failed: 0 });
      counts[engine] = straceCounts(fs.readFileSync(out, 'utf8'));
    }
    // Node's own event loops enter their io_uring too (from Node 22 on): the baseline run counts those.
    const runtimeEnters = counts.none!['io_uring_enter'] ?? 0;
    const uring = counts.uring!;
    assert.ok((uring['io_uring_enter'] ?? 0) > runtimeEnters, `uring: ${JSON.stringify(uring)}, runtime: ${runtimeEnters}`);
    assert.is(uring['fsync'] ?? 0, 0, 'the uring engine issued fsync syscalls');
    assert.is(uring['fdatasync'] ?? 0, 0, 'the uring engine issued fdatasync syscalls');
    assert.is(uring['sync_file_range'] ?? 0, 0, 'the uring engine issued sync_file_range syscalls');
    // The control: the same count on the sync engine sees the 200 flushes, so the 0 above is real.
    const sync = counts.sync!;
    assert.is(sync['fdatasync'], 200, `sync: ${JSON.stringify(sync)}`);
    assert.is(sync['sync_file_range'], 200, `sync: ${JSON.stringify(sync)}`);
    assert.is(sync['io_uring_enter'] ?? 0, runtimeEnters, 'the sync engine entered no ring of its own');
    // A kicked batch on the ring: the kicks are real sync_file_range syscalls, the flushes are not.
    const kicked = counts.kicked!;
    assert.is(kicked['sync_file_range'], 200, `kicked: ${JSON.stringify(kicked)}`);
    assert.is(kicked['fdatasync'] ?? 0, 0, 'the kicked uring batch issued fdatasync syscalls');
    assert.ok((kicked['io_uring_enter'] ?? 0) > runtimeEnters, `kicked: ${JSON.stringify(kicked)}`);
  } finally {
    s.cleanup();
  }
});

test.run();
