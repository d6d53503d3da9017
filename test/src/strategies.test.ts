// Each strategy by name, on real files: the report says what ran, and strace shows that the
// kernel saw exactly those syscalls (so a strategy cannot silently do less than it claims).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSyncer, STRATEGIES } from '@fsync2/core';
import { EXPECTED_BACKEND, FIXTURES, mkfifo, scratch, skipBecause, straceCounts, straceMissing, writeFiles } from './helpers.js';

const run = promisify(execFile);
const native = EXPECTED_BACKEND === 'native';

/** The plans each strategy may produce on a disk filesystem, per backend. */
const EXPECTED_PLAN: Record<(typeof STRATEGIES)[number], readonly string[]> = {
  perFile: ['perFile'],
  writeback: native ? ['writeback'] : ['perFile'],
  uring: native ? ['uring'] : ['perFile'],
  syncfs: native ? ['syncfs'] : ['perFile'],
  auto: native ? ['perFile', 'writeback', 'uring', 'syncfs'] : ['perFile'],
};

for (const strategy of STRATEGIES) {
  test(`strategy ${strategy}: files, a directory and a FIFO in one call`, async () => {
    const s = scratch();
    const syncer = createSyncer({ strategy, pool: { minThreads: 1, maxThreads: 4 } });
    try {
      const files = writeFiles(s.dir, 30);
      const fifo = path.join(s.dir, 'fifo');
      mkfifo(fifo);
      const fifoFd = fs.openSync(fifo, fs.constants.O_RDWR);
      const err = await syncer.sync([...files, s.dir, fifoFd], { parents: true }).catch((e: { report?: unknown }) => e);
      fs.closeSync(fifoFd);
      const report = (err as { report: import('@fsync2/core').SyncReport }).report;
      assert.ok(report, 'a FIFO cannot be synced: the call must reject with a report');
      const results = report.results;
      const fifoResult = results[31]!;
      assert.is(fifoResult.ok, false, 'a FIFO is never reported synced, even under syncfs');
      assert.is(fifoResult.error!.code, 'EINVAL');
      assert.is(fifoResult.error!.fd, fifoFd);
      for (const r of results.slice(0, 31)) {
        assert.ok(r.durable, `${r.path} ${r.error?.message}`);
        assert.ok(EXPECTED_PLAN[strategy].includes(r.plan!), `${strategy} ran ${r.plan}: ${r.reason}`);
      }
      assert.is(results[30]!.kind, 'directory');
      if (results[0]!.plan === 'syncfs') {
        assert.ok(results.slice(0, 31).every((r) => r.syscall === 'syncfs'));
        assert.ok(results[0]!.parents.every((p) => p.syscall === 'syncfs'), 'the syncfs covers the parent too');
      }
      if (!native && strategy !== 'perFile' && strategy !== 'auto') {
        assert.ok(results.every((r) => r.plan === 'perFile'));
        assert.match(report.filesystems[0]!.reason, /addon/);
      }
    } finally {
      await syncer.close();
      s.cleanup();
    }
  });
}

const N = 40;
const EXPECTED_SYSCALLS: Record<string, Record<string, number>> = {
  perFile: { fdatasync: N, fsync: 1, syncfs: 0, sync_file_range: 0 },
  writeback: native ? { fdatasync: N, fsync: 1, syncfs: 0, sync_file_range: N } : { fdatasync: N, fsync: 1, syncfs: 0, sync_file_range: 0 },
  syncfs: native ? { fdatasync: 0, fsync: 0, syncfs: 1, sync_file_range: 0 } : { fdatasync: N, fsync: 1, syncfs: 0, sync_file_range: 0 },
};

for (const strategy of ['perFile', 'writeback', 'syncfs'] as const) {
  test(`strace: strategy ${strategy} issues exactly the syscalls its report counts`, async () => {
    if (skipBecause(`strace ${strategy}`, straceMissing())) return;
    const s = scratch();
    try {
      const trace = path.join(s.dir, 'trace');
      const { stdout } = await run(
        'strace',
        ['-f', '-c', '-o', trace, '-e', 'trace=fsync,fdatasync,syncfs,sync_file_range', process.execPath,
          path.join(FIXTURES, 'strategy-child.mjs'), s.dir, String(N), strategy, 'data', 'parents'],
        { timeout: 60_000 },
      );
      const out = JSON.parse(stdout.trim().split('\n').pop()!);
      const seen = straceCounts(fs.readFileSync(trace, 'utf8'));
      assert.ok(out.durable);
      const expected = EXPECTED_SYSCALLS[strategy]!;
      for (const [call, n] of Object.entries(expected)) {
        assert.is(seen[call] ?? 0, n, `${call}: strace saw ${seen[call] ?? 0}, expected ${n}`);
      }
      const total = Object.values(seen).reduce((a, b) => a + b, 0);
      assert.is(out.syscalls, total, 'report.syscalls counts what the kernel saw');
    } finally {
      s.cleanup();
    }
  });
}


test("the system's dirty data read from /proc/vmstat is meminfo's Dirty: + Writeback:, and sees a write", async () => {
  const { systemDirtyBytes } = await import('../../packages/core/dist/dirty.js');
  const meminfo = () => {
    const text = fs.readFileSync('/proc/meminfo', 'latin1');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)![1]);
    return (kib('Dirty') + kib('Writeback')) * 1024;
  };
  const MIB = 2 ** 20;
  // Both count pages that other processes dirty and clean meanwhile: equal within a few MiB.
  const before = systemDirtyBytes();
  assert.ok(before !== null, 'no /proc/vmstat');
  assert.ok(Math.abs(before! - meminfo()) < 4 * MIB, `vmstat ${before} vs meminfo ${meminfo()}`);
  const { dir, cleanup } = scratch();
  try {
    // 64 MiB of new dirty pages stay dirty for seconds (dirty_expire_centisecs), far below the
    // background threshold of a machine with a few GiB.
    const fd = fs.openSync(path.join(dir, 'dirty'), 'w');
    const chunk = Buffer.alloc(MIB, 0x5a);
    for (let i = 0; i < 64; i++) fs.writeSync(fd, chunk);
    const after = systemDirtyBytes()!;
    assert.ok(after - before! > 32 * MIB, `64 MiB written, dirty data rose by ${((after - before!) / MIB).toFixed(1)} MiB`);
    assert.ok(Math.abs(after - meminfo()) < 4 * MIB, `vmstat ${after} vs meminfo ${meminfo()}`);
    fs.closeSync(fd);
  } finally {
    cleanup();
  }
  // A file in vmstat's format, for tests: the counters are pages.
  const fake = scratch();
  try {
    const file = path.join(fake.dir, 'vmstat');
    fs.writeFileSync(file, 'nr_free_pages 1\nnr_dirty 3\nnr_writeback 2\nnr_dirty_threshold 9\n');
    const page = (await import('@fsync2/native')).loadNative();
    assert.is(systemDirtyBytes(file), 5 * (page.available ? page.binding.pageSize() : 4096));
    fs.writeFileSync(file, 'nr_free_pages 1\n');
    assert.is(systemDirtyBytes(file), null);
  } finally {
    fake.cleanup();
  }
  // A file that cannot be read, asked first in a fresh process, does not cost the real reading.
  const dirty = new URL('../../packages/core/dist/dirty.js', import.meta.url).href;
  const { stdout } = await run(process.execPath, [
    '--input-type=module', '-e',
    `const { systemDirtyBytes } = await import(${JSON.stringify(dirty)}); console.log(systemDirtyBytes('/nonexistent/vmstat'), systemDirtyBytes() !== null);`,
  ]);
  assert.is(stdout.trim(), 'null true');
});

test("a call's own dirty data, by cachestat in chunks: it stops once enough is known, and marks the fds it read", async () => {
  const { localDirtyBytes } = await import('../../packages/core/dist/dirty.js');
  const native = (await import('@fsync2/native')).loadNative();
  if (skipBecause('cachestat in chunks', native.available ? null : 'the addon is not built')) return;
  const { dir, cleanup } = scratch();
  const O_PATH = 0o10000000; // Linux (x86, arm, riscv); Node does not export it
  const files = writeFiles(dir, 2500, 8192);
  const fds = Int32Array.from(files, (f, i) => (i === 3 ? fs.openSync(f, O_PATH) : fs.openSync(f, 'r')));
  fds[4] = -1;
  try {
    const opened = new Uint8Array(fds.length);
    const full = localDirtyBytes(fds, true, opened);
    if (skipBecause('cachestat in chunks', full === null ? 'cachestat(2) is missing (Linux before 6.5)' : null)) return;
    // Each file's two pages are dirty or under writeback for the dirty_expire_centisecs (30 s) after the write.
    const all = 2498 * 8192;
    assert.ok(full! > 0.9 * all && full! <= all, `${full} of ${all} bytes dirty`);
    assert.equal([opened[3], opened[4]], [0, 0], 'an O_PATH fd and -1 are refused by cachestat: not opened for I/O');
    assert.is(opened.reduce((a, b) => a + b, 0), 2498);
    assert.is(localDirtyBytes(fds, false), null, 'without skipFailed one refused fd leaves the share unknown');

    // enough() says yes after the first chunk: the rest is not read, and the mean is extrapolated.
    const asked: number[] = [];
    const early = new Uint8Array(fds.length);
    const estimate = localDirtyBytes(fds, true, early, (bytes) => (asked.push(bytes), true));
    assert.is(asked.length, 1);
    assert.ok(asked[0]! > 0.9 * 1022 * 8192 && asked[0]! <= 1022 * 8192, `first chunk: ${asked[0]} bytes`);
    assert.is(early.reduce((a, b) => a + b, 0), 1022, 'only the first 1,024 fds read (two of them refused)');
    assert.is(early[1023], 1);
    assert.is(early[1024], 0);
    assert.ok(Math.abs(estimate! - full!) < 0.05 * full!, `estimate ${estimate} vs measured ${full}`);

    // enough() never says yes: every fd is read, the answer is the measurement, no estimate.
    const never: number[] = [];
    const measured = localDirtyBytes(fds, true, undefined, (bytes) => (never.push(bytes), false));
    assert.is(never.length, 2, 'asked after the first two chunks, not after the last');
    assert.ok(never[0]! < never[1]!, 'the lower bound grows');
    assert.ok(Math.abs(measured! - full!) < 0.05 * full!, `${measured} vs ${full}`);
  } finally {
    fds.forEach((fd, i) => i !== 4 && fs.closeSync(fd));
    cleanup();
  }
});

test.run();
