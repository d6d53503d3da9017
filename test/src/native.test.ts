// The addon itself: errno values returned, never thrown; loadable in several threads at once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CACHESTAT, loadNative, OPS, SYNC_FILE_RANGE, URING, type NativeBinding } from '@fsync2/native';
import { execFileSync } from 'node:child_process';
import { closedFd, mkfifo, scratch, skipBecause, statfsType, TMPFS, writeFiles } from './helpers.js';

const require = createRequire(import.meta.url);

const { EBADF, EINVAL, ESPIPE } = os.constants.errno;
const status = loadNative();
const native: NativeBinding = status.available ? status.binding : (null as never);

test('the addon is built and its constants match the TypeScript ones', () => {
  // CI and this machine have a compiler: a missing addon here is a build failure, not a skip.
  assert.ok(status.available, status.available ? '' : status.reason);
  assert.equal({ ...native.ops }, { ...OPS });
  assert.equal({ ...native.syncFileRangeFlags }, { ...SYNC_FILE_RANGE });
  assert.equal({ ...native.cachestatFields }, { ...CACHESTAT });
  assert.equal({ ...native.uring }, { ...URING });
});

test('io_uring, cachestat and the page size are there on this kernel (6.18)', () => {
  assert.is(native.uringStatus(), 0);
  assert.is(native.pageSize(), 4096);
  assert.is(native.schedYield(), 0);
  const s = scratch();
  try {
    const [file] = writeFiles(s.dir, 1, 8192);
    const fd = fs.openSync(file!, 'r');
    const out = new BigUint64Array(5);
    assert.is(native.cachestat(fd, out), 0);
    assert.ok(out[CACHESTAT.NR_CACHE]! >= 1n && out[CACHESTAT.NR_CACHE]! <= 2n, `nr_cache ${out[CACHESTAT.NR_CACHE]}`);
    assert.is(native.cachestat(-1, out), EBADF);
    const errnos = new Int32Array(2).fill(-1);
    assert.is(native.flushBatchUring(Int32Array.of(fd, -1), Uint8Array.of(OPS.FDATASYNC, OPS.FSYNC), errnos), 1);
    assert.equal([...errnos], [0, EBADF]);
    assert.is(native.cachestat(fd, out), 0);
    assert.is(out[CACHESTAT.NR_DIRTY]! + out[CACHESTAT.NR_WRITEBACK]!, 0n);
    fs.closeSync(fd);
  } finally {
    s.cleanup();
  }
});

test('single calls return 0 on a real file and errno on bad fds, without throwing', () => {
  const s = scratch();
  try {
    const [file] = writeFiles(s.dir, 1);
    const fd = fs.openSync(file!, 'r');
    assert.is(native.fsync(fd), 0);
    assert.is(native.fdatasync(fd), 0);
    assert.is(native.syncfs(fd), 0);
    assert.is(native.syncFileRange(fd, 0, 0, SYNC_FILE_RANGE.WRITE), 0);
    fs.closeSync(fd);
    assert.is(native.fsync(closedFd()), EBADF);
    assert.is(native.fdatasync(-1), EBADF);
    assert.is(native.syncfs(-1), EBADF);
  } finally {
    s.cleanup();
  }
});

test('pipes: fsync EINVAL, sync_file_range ESPIPE, and syncfs 0 (which proves nothing)', () => {
  const s = scratch();
  try {
    const fifo = path.join(s.dir, 'fifo');
    mkfifo(fifo);
    // Opened read-write, a FIFO never waits for a peer.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR);
    assert.is(native.fsync(fd), EINVAL);
    assert.is(native.fdatasync(fd), EINVAL);
    assert.is(native.syncFileRange(fd, 0, 0, SYNC_FILE_RANGE.WRITE), ESPIPE);
    assert.is(native.syncfs(fd), 0);
    fs.closeSync(fd);
  } finally {
    s.cleanup();
  }
});

test('flushBatch: one crossing, each fd its own errno and duration', () => {
  const s = scratch();
  try {
    const files = writeFiles(s.dir, 3);
    const fds = files.map((f) => fs.openSync(f, 'r'));
    const closed = closedFd();
    const batch = Int32Array.from([fds[0]!, closed, fds[1]!, fds[2]!, fds[0]!]);
    const ops = Uint8Array.from([OPS.FDATASYNC, OPS.FSYNC, OPS.WRITEBACK, OPS.SYNCFS, OPS.NONE]);
    const errnos = new Int32Array(5).fill(-1);
    const nanos = new Float64Array(5);
    assert.is(native.flushBatch(batch, ops, errnos, nanos), 1);
    assert.equal([...errnos], [0, EBADF, 0, 0, 0]);
    assert.ok(nanos.slice(0, 4).every((n) => n > 0), `durations ${[...nanos]}`);
    // An unknown op is an error for that entry, never a silent success.
    const bad = new Int32Array(1);
    assert.is(native.flushBatch(Int32Array.of(fds[0]!), Uint8Array.of(200), bad), 1);
    assert.is(bad[0], EINVAL);
    for (const fd of fds) fs.closeSync(fd);
  } finally {
    s.cleanup();
  }
});

test('flushBatch refuses arrays of different lengths (a caller bug) by throwing', () => {
  assert.throws(() => native.flushBatch(new Int32Array(2), new Uint8Array(1), new Int32Array(2)), /differ in length/);
  assert.throws(() => (native.flushBatch as (...a: unknown[]) => number)([1], new Uint8Array(1), new Int32Array(1)), /flushBatch/);
});

test('fsType: the fstatfs magic of disk and tmpfs, -errno for a closed fd', () => {
  const s = scratch();
  try {
    const [file] = writeFiles(s.dir, 1);
    const fd = fs.openSync(file!, 'r');
    assert.is(native.fsType(fd), statfsType(file!));
    fs.closeSync(fd);
    assert.is(native.fsType(closedFd()), -EBADF);
    const shm = fs.openSync(TMPFS, 'r');
    assert.is(native.fsType(shm), 0x01021994);
    fs.closeSync(shm);
  } finally {
    s.cleanup();
  }
});

test('describeFd: statx identity, mode, f_type and flags in one crossing; errno for a bad fd', () => {
  const s = scratch();
  try {
    const [file] = writeFiles(s.dir, 1);
    const fd = fs.openSync(file!, 'r');
    const out = new BigUint64Array(6);
    assert.is(native.describeFd(fd, out), 0);
    const st = fs.fstatSync(fd, { bigint: true });
    assert.is(out[0], st.dev);
    assert.is(out[1], st.ino);
    assert.is(out[2], st.birthtimeNs);
    assert.is(Number(out[3]), Number(st.mode));
    assert.is(Number(out[4]), statfsType(file!));
    assert.is(Number(out[5]) & 3, fs.constants.O_RDONLY);
    fs.closeSync(fd);
    const pathFd = fs.openSync(file!, native.O_PATH);
    assert.is(native.describeFd(pathFd, out), 0);
    assert.ok((Number(out[5]) & native.O_PATH) !== 0, 'O_PATH shows in the flags');
    fs.closeSync(pathFd);
    assert.is(native.describeFd(closedFd(), out), EBADF);
    assert.throws(() => native.describeFd(0, new BigUint64Array(2) as never), /describeFd/);
  } finally {
    s.cleanup();
  }
});

test('describeFds: describeFd of every fd in one crossing, each with its own errno', () => {
  const s = scratch();
  try {
    const files = writeFiles(s.dir, 3);
    const fds = files.map((f) => fs.openSync(f, 'r'));
    const bad = closedFd();
    const batch = Int32Array.of(fds[0]!, bad, fds[1]!, fds[2]!, fds[0]!);
    const out = new BigUint64Array(6 * batch.length);
    const errnos = new Int32Array(batch.length);
    assert.is(native.describeFds(batch, out, errnos), 1, 'one failure counted');
    assert.equal([...errnos], [0, EBADF, 0, 0, 0]);
    const one = new BigUint64Array(6);
    batch.forEach((fd, i) => {
      if (fd === bad) return;
      assert.is(native.describeFd(fd, one), 0);
      assert.equal([...out.subarray(6 * i, 6 * i + 6)], [...one], `fd ${fd} at ${i}: as describeFd says`);
    });
    assert.is.not(out[6 * 2 + 1], out[6 * 3 + 1], 'each fd its own inode');
    assert.throws(() => native.describeFds(batch, new BigUint64Array(6), errnos), /6 slots per fd/);
    assert.throws(() => native.describeFds(batch, new Float64Array(30) as never, errnos), /describeFds/);
    assert.throws(() => native.describeFds(batch, out, errnos, new Uint8Array(2)), /openedForIo one/);
    assert.throws(() => native.describeFds(batch, out, errnos, new Int8Array(5) as never), /openedForIo\?: Uint8Array/);
    for (const fd of fds) fs.closeSync(fd);
  } finally {
    s.cleanup();
  }
});

test('describeFds openedForIo: a marked fd is taken as open for I/O, its fcntl skipped; an unmarked one is asked', () => {
  const s = scratch();
  try {
    const [file] = writeFiles(s.dir, 1);
    const { O_PATH } = native;
    if (skipBecause('describeFds openedForIo', O_PATH === 0 ? 'no O_PATH on this platform' : null)) return;
    const pathFd = fs.openSync(file!, O_PATH);
    const batch = Int32Array.of(pathFd, pathFd);
    const out = new BigUint64Array(12);
    const errnos = new Int32Array(2);
    // The mark is the caller's proof (cachestat answered the fd, which refuses O_PATH): with it
    // the flags are not read (0), without it fcntl shows O_PATH.
    assert.is(native.describeFds(batch, out, errnos, Uint8Array.of(0, 1)), 0);
    assert.is(Number(out[5]!) & O_PATH, O_PATH, 'unmarked: fcntl read the flags');
    assert.is(out[11], 0n, 'marked: no fcntl');
    assert.equal([...out.subarray(0, 5)], [...out.subarray(6, 11)], 'the same file either way');
    fs.closeSync(pathFd);
  } finally {
    s.cleanup();
  }
});

test('describeFd: f_type stays true when a mount point is reused by another filesystem', () => {
  // The addon caches f_type per mount, keyed by the never-reused unique mount id (Linux 6.8+). A
  // key that a later mount could get again (the plain mount id, st_dev of an anonymous device)
  // would call the new ramfs the tmpfs that had the number: wrong about what is volatile.
  const name = 'describeFd across remounts';
  if (skipBecause(name, process.getuid?.() === 0 ? null : 'needs root to mount tmpfs and ramfs')) return;
  const s = scratch();
  const out = new BigUint64Array(6);
  try {
    const types = [['tmpfs', 0x01021994], ['ramfs', 0x858458f6]] as const;
    for (let round = 0; round < 6; round++) {
      const [type, magic] = types[round % 2]!;
      execFileSync('mount', ['-t', type, 'none', s.dir]);
      try {
        const file = path.join(s.dir, `f${round}`);
        fs.writeFileSync(file, 'x');
        const fd = fs.openSync(file, 'r');
        // Twice: the second answer comes from the cache.
        for (let i = 0; i < 2; i++) {
          assert.is(native.describeFd(fd, out), 0);
          assert.is(Number(out[4]), magic, `round ${round}: ${type}`);
        }
        fs.closeSync(fd);
      } finally {
        execFileSync('umount', [s.dir]);
      }
    }
  } finally {
    s.cleanup();
  }
});

test('context-aware: four worker threads load the addon at once and flush', async () => {
  const s = scratch();
  try {
    const files = writeFiles(s.dir, 4);
    const nativeEntry = require.resolve('@fsync2/native');
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const fs = require('node:fs');
      const { loadNative } = require(${JSON.stringify(nativeEntry)});
      const st = loadNative();
      const fd = fs.openSync(workerData, 'r');
      parentPort.postMessage(st.available ? st.binding.fdatasync(fd) : st.reason);
      fs.closeSync(fd);`;
    const results = await Promise.all(
      files.map(
        (file) =>
          new Promise((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: file });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    assert.equal(results, [0, 0, 0, 0]);
    // The threads have exited and unloaded their instances; the main thread's still works.
    const fd = fs.openSync(files[0]!, 'r');
    assert.is(native.fsync(fd), 0);
    fs.closeSync(fd);
  } finally {
    s.cleanup();
  }
});

test.run();
