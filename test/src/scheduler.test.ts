// The scheduler on real files: group commit counted by strace, backpressure, each(), group-commit
// options, diagnostics events, abort. The rule itself is model-checked in scheduler-model.test.ts.
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AbortError, createSyncer, QueueFullError, SyncError, type PlanEvent, type Syncer, type TargetResult } from '@fsync2/core';
import { FlushPool, type FdInfo } from '@fsync2/workers';
import { Planner } from '../../packages/core/dist/planner.js';
import { syncerWithPool } from './fake-backend.js';
import { EXPECTED_BACKEND, FIXTURES, scratch, skipBecause, straceCounts, straceMissing, TMPFS, writeFiles } from './helpers.js';

const run = promisify(execFile);

test('1,000 concurrent sync() on one fd while another process appends: a handful of fdatasync, counted by strace', async () => {
  if (skipBecause('group commit under strace', straceMissing())) return;
  const s = scratch();
  try {
    const trace = path.join(s.dir, 'trace');
    const { stdout } = await run('strace', ['-f', '-c', '-o', trace, '-e', 'trace=fsync,fdatasync,syncfs,sync_file_range',
      process.execPath, path.join(FIXTURES, 'group-commit-child.mjs'), path.join(s.dir, 'log')], { timeout: 120_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    const table = fs.readFileSync(trace, 'utf8');
    const seenCounts = straceCounts(table);
    const count = (name: string) => seenCounts[name] ?? 0;
    const seen = count('fdatasync');
    console.log(`group commit: 1000 requests, ${seen} fdatasync seen by strace, stats ${JSON.stringify(out.flushes)}, merged ${out.merged}`);
    assert.ok(out.durable);
    assert.is(out.requests, 1000);
    for (const name of ['fdatasync', 'fsync', 'syncfs', 'sync_file_range']) {
      assert.is(count(name), out.flushes[name], `stats() counts the ${name} calls the kernel saw`);
    }
    const total = Object.values(out.flushes as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.is(out.distinctSyscalls, total, 'every syscall served some call');
    const flushes = seen + out.flushes.syncfs + out.flushes.io_uring_fdatasync;
    assert.is(out.merged, 1000 - flushes);
    assert.ok(flushes >= 1 && flushes <= 100, `${flushes} flushes for 1000 requests is not group commit`);
  } finally {
    s.cleanup();
  }
});

// A real pool that counts the statx crossings the syncer asks of it.
class CountingPool extends FlushPool {
  describes = 0;
  /** Calls of describeFd or describeFds. */
  crossings = 0;
  override describeFd(fd: number): FdInfo {
    this.describes++;
    this.crossings++;
    return super.describeFd(fd);
  }
  override describeFds(fds: Int32Array, openedForIo?: Uint8Array): FdInfo[] {
    this.describes += fds.length;
    this.crossings++;
    return super.describeFds(fds, openedForIo);
  }
}

test('an fd is described once per burst of requests on it, and again once they have all settled', async () => {
  const s = scratch();
  const pool = new CountingPool({ minThreads: 1, maxThreads: 2 });
  const syncer = syncerWithPool({ mode: 'data' }, pool);
  try {
    const fd = fs.openSync(path.join(s.dir, 'log'), 'w');
    fs.writeSync(fd, 'x');
    const reports = await Promise.all(Array.from({ length: 64 }, () => syncer.sync(fd)));
    assert.ok(reports.every((r) => r.durable));
    assert.is(pool.describes, 1, 'requests arriving while one on the same fd is pending reuse its answer');
    await syncer.sync(fd);
    assert.is(pool.describes, 2, 'nothing was pending: the fd is asked again');
    // A call of many fds describes the unpinned ones in one crossing and pins none of them; an
    // fd pinned by a pending request answers from its pin, and that pin is released once.
    const others = writeFiles(s.dir, 3).map((f) => fs.openSync(f, 'r+'));
    pool.crossings = 0;
    const lone = syncer.sync(fd);
    const bulk = syncer.sync([fd, ...others, others[0]!]);
    const [loneReport, bulkReport] = await Promise.all([lone, bulk]);
    assert.ok(loneReport.durable && bulkReport.durable);
    assert.is(pool.describes, 2 + 1 + 4, 'the lone fd once; the bulk call its other four targets (the repeat too), its pinned first none');
    assert.is(pool.crossings, 2, 'one for the lone target, one for the bulk call\'s unpinned targets');
    assert.is(bulkReport.results[4]!.mergedWith, 1, 'the repeated fd shares its first mention');
    assert.is(bulkReport.results[0]!.ino, loneReport.results[0]!.ino);
    await syncer.sync(fd);
    assert.is(pool.describes, 8, 'both requests on the pinned fd settled: it is asked again');
    await Promise.all([syncer.sync(others), syncer.sync(others[1]!)]);
    assert.is(pool.describes, 8 + 3 + 1, 'a bulk call pins no fd but its first: a request on another while it is pending asks again');
    for (const o of others) fs.closeSync(o);
    fs.closeSync(fd);
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

/**
 * Opens `file` under the number `fd` just closed. The kernel hands out the lowest free number,
 * but a pool thread still starting opens (and closes) its module files meanwhile and may take it
 * for a moment (seen under Node 24: 38 instead of 28): open again until the number is free.
 */
async function openAs(fd: number, file: string): Promise<number> {
  for (let i = 0; i < 80; i++) {
    const got = fs.openSync(file, 'r+');
    if (got === fd) return got;
    fs.closeSync(got);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`fd ${fd} stayed taken: the test cannot reuse its number`);
}

test('an fd number closed and reused for another file between calls names the new file', async () => {
  const s = scratch();
  const syncer = createSyncer({ mode: 'data' });
  try {
    const [a, b] = writeFiles(s.dir, 2, 100);
    const fdA = fs.openSync(a!, 'r+');
    const first = await syncer.sync(fdA);
    assert.is(first.results[0]!.ino, fs.statSync(a!, { bigint: true }).ino);
    fs.closeSync(fdA);
    const fdB = await openAs(fdA, b!);
    const second = await syncer.sync(fdB);
    assert.is(second.results[0]!.ino, fs.statSync(b!, { bigint: true }).ino, 'not the closed file remembered');
    fs.closeSync(fdB);
    // A failed describe is not remembered either: a bad fd fails every time, then works once open.
    const bad = await syncer.sync(fdB).catch((e: unknown) => e as Error);
    assert.instance(bad, Error);
    const again = await openAs(fdB, a!);
    assert.is((await syncer.sync(again)).results[0]!.ino, fs.statSync(a!, { bigint: true }).ino);
    fs.closeSync(again);
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

/**
 * Resolves once `syncer` knows its pool threads' capabilities, which an early syncfs needs and a
 * fresh syncer learns from a thread that may still be starting (a fixed sleep was not always
 * enough: on a quick `sync` the 400-fd test's call came first and took the usual path). A
 * one-file syncfs waits for them on the plan path, and feeds no cost model (its dirty data is
 * not read). Run it before the test writes its files: it flushes the whole filesystem.
 */
async function capabilitiesKnown(syncer: ReturnType<typeof createSyncer>, dir: string): Promise<void> {
  const [file] = writeFiles(dir, 1, 1, 'caps');
  const fd = fs.openSync(file!, 'r');
  try {
    await syncer.sync(fd, { strategy: 'syncfs' });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * One call of `fds` and the first fd again, with the syncfs and fdatasync calls it cost; null
 * (and a visible skip) on a filesystem that never takes syncfs.
 */
async function callNamingFirstTwice(syncer: ReturnType<typeof createSyncer>, fds: number[]) {
  const before = syncer.stats().flushes;
  // A call with failed targets rejects with its report: the tests read the report either way.
  const report = await syncer.sync([...fds, fds[0]!]).catch((e: unknown) => {
    if (e instanceof SyncError) return e.report;
    throw e;
  });
  const after = syncer.stats().flushes;
  const fsType = report.results[0]!.fsType;
  if (skipBecause('early syncfs', fsType === 'btrfs' || report.results[0]!.volatile ? `${fsType} never takes syncfs` : null)) return null;
  return { report, syncfs: after.syncfs! - before.syncfs!, fdatasync: after.fdatasync! - before.fdatasync! };
}

test("a big call's syncfs starts at its first target, and every target of the call on that filesystem joins it", async () => {
  const s = scratch();
  // The guard off: the machine's own dirty data must not decide whether this test runs the path.
  const syncer = createSyncer({ mode: 'data', planner: { syncfsMaxForeignMiB: 1e9, explore: 0 } });
  try {
    await capabilitiesKnown(syncer, s.dir);
    // The planner weighs syncfs by the machine's dirty data: start from a clean page cache (see
    // the model test).
    await run('sync');
    // Enough files that the planner's first guesses (no measurements yet) favour syncfs.
    const fds = writeFiles(s.dir, 400, 4096).map((f) => fs.openSync(f, 'r+'));
    const call = await callNamingFirstTwice(syncer, fds);
    if (!call) return;
    const { report, syncfs, fdatasync } = call;
    assert.ok(report.durable);
    assert.equal(report.filesystems.map((f) => f.plan), ['syncfs']);
    assert.match(report.filesystems[0]!.reason, /started while the call's targets were still being described/);
    assert.is(syncfs, 1, 'one syncfs for the call');
    assert.is(fdatasync, 0, 'no file flushed on its own');
    const ids = new Set(report.results.map((r) => r.syscallIds.join()));
    assert.is(ids.size, 1, 'every target names the same syncfs');
    assert.is(report.results[400]!.mergedWith, 0, 'the repeated fd merged with its first mention');
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test('maxQueue: a call past it rejects at once with ERR_FSYNC2_QUEUE_FULL; the others are unaffected', async () => {
  const s = scratch();
  const syncer = createSyncer({ maxQueue: 10, pool: { minThreads: 1, maxThreads: 2 } });
  try {
    const files = writeFiles(s.dir, 12);
    const tooMany = syncer.sync(files.slice(0, 11));
    const first = syncer.sync(files.slice(0, 6));
    const second = syncer.sync(files.slice(6, 12));
    const [a, b, c] = await Promise.allSettled([tooMany, first, second]);
    assert.is(a.status, 'rejected');
    assert.instance((a as PromiseRejectedResult).reason, QueueFullError);
    assert.is((a as PromiseRejectedResult).reason.code, 'ERR_FSYNC2_QUEUE_FULL');
    assert.is(b.status, 'fulfilled');
    assert.is(c.status, 'rejected', 'second call: 6 + 6 > 10');
    assert.is((c as PromiseRejectedResult).reason.code, 'ERR_FSYNC2_QUEUE_FULL');
    assert.is(syncer.stats().queueDepth, 0);
    assert.ok((await syncer.sync(files.slice(6, 12))).durable, 'room again once the first call is answered');
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test('1,000,000 requests through one syncer with maxQueue: every request ends, memory stays bounded', async () => {
  const s = scratch();
  const syncer = createSyncer({ maxQueue: 5000, mode: 'data', pool: { minThreads: 2, maxThreads: 4 } });
  const N = Number(process.env.FSYNC2_MILLION ?? 1_000_000);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const heapAfterGc = () => {
    gc();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  try {
    const fds = writeFiles(s.dir, 8, 128).map((f) => fs.openSync(f, 'r+'));
    let accepted = 0;
    let answered = 0;
    let refused = 0;
    let early = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      // Keeps a little more in flight than maxQueue allows, so that some calls are refused and
      // retried: the backpressure path is part of the test.
      const pump = () => {
        while (accepted - answered < 5100 && accepted < N) {
          accepted++;
          syncer.sync(fds[accepted % fds.length]!).then(
            () => {
              answered++;
              if (answered === Math.floor(N / 10)) early = heapAfterGc();
              if (answered === N) resolve();
              else if (answered % 1000 === 0) setImmediate(pump);
            },
            (err: unknown) => {
              if (!(err instanceof QueueFullError)) return reject(err);
              refused++;
              accepted--;
            },
          );
        }
      };
      pump();
    });
    const late = heapAfterGc();
    const stats = syncer.stats();
    console.log(`${N} requests in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${refused} refused at maxQueue, ` +
      `fdatasync ${stats.flushes.fdatasync}, heap after GC ${early.toFixed(0)} MiB at 10%, ${late.toFixed(0)} MiB at the end`);
    assert.is(answered, N);
    assert.ok(refused > 0, 'the test must push past maxQueue');
    assert.is(stats.queueDepth, 0);
    assert.is(stats.queued + stats.inflight, 0);
    assert.ok(late < early + 32, `heap grew from ${early} to ${late} MiB: something is kept per request`);
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test('each(): every target once, as it completes; a failure is yielded, not thrown', async () => {
  const s = scratch();
  const shm = scratch('fsync2-test-', TMPFS);
  const syncer = createSyncer({ pool: { minThreads: 1, maxThreads: 4 } });
  try {
    const files = [...writeFiles(s.dir, 30), ...writeFiles(shm.dir, 2), path.join(s.dir, 'missing')];
    const seen: TargetResult[] = [];
    for await (const r of syncer.each(files, { parents: true })) seen.push(r);
    assert.equal(seen.map((r) => r.index).sort((a, b) => a - b), files.map((_, i) => i));
    assert.is(seen.filter((r) => r.durable).length, 30);
    assert.is(seen.filter((r) => r.volatile).length, 2);
    const missing = seen.find((r) => r.index === 32)!;
    assert.is(missing.error!.code, 'ENOENT');
  } finally {
    await syncer.close();
    s.cleanup();
    shm.cleanup();
  }
});

test("a fresh syncer's first big call starts its syncfs early too, before the pool threads' probe has answered", async () => {
  const s = scratch();
  // The guard off, and a clean page cache, as in the test above.
  await run('sync');
  const fds = writeFiles(s.dir, 400, 4096).map((f) => fs.openSync(f, 'r+'));
  // Made and called in one synchronous stretch: the probe (a pool thread's answer) cannot have
  // arrived, so the early path must decide without it.
  const syncer = createSyncer({ mode: 'data', planner: { syncfsMaxForeignMiB: 1e9, explore: 0 } });
  try {
    const call = await callNamingFirstTwice(syncer, fds);
    if (!call) return;
    const { report, syncfs, fdatasync } = call;
    assert.ok(report.durable);
    const reason = report.filesystems[0]!.reason;
    assert.match(reason, /started while the call's targets were still being described/);
    assert.match(reason, /chosen before the pool's probe answered/);
    assert.is(syncfs, 1, 'one syncfs for the call');
    assert.is(fdatasync, 0, 'no file flushed on its own');
    assert.is(new Set(report.results.map((r) => r.syscallIds.join())).size, 1);
    // That syncfs waited for the threads to start: its time must not teach the planner that
    // syncfs is slow. Learnt, it made the later calls of the process flush per file. (Only the
    // next call tells: from then on the planner learns from real syncfs times, as it should.)
    await run('sync');
    const more = writeFiles(s.dir, 400, 4096, 'next-').map((f) => fs.openSync(f, 'r+'));
    fds.push(...more);
    const next = await syncer.sync(more);
    assert.equal(next.filesystems.map((f) => f.plan), ['syncfs'], `the next call: ${next.filesystems[0]!.reason}`);
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
    await syncer.close();
    s.cleanup();
  }
});

test('a call of more fds than maxBatch on a dirty system: its share measured, one early syncfs per maxBatch of targets', async () => {
  const s = scratch();
  // Past 1 MiB of dirty data on the system the guard asks who owns it; any share passes, so the
  // test exercises the measuring, not this machine's background writers.
  const syncer = createSyncer({
    mode: 'data',
    groupCommit: { windowUs: 0, maxBatch: 150 },
    planner: { syncfsMaxForeignMiB: 1, syncfsMinShare: 0.0001, explore: 0 },
  });
  try {
    await capabilitiesKnown(syncer, s.dir);
    await run('sync');
    const fds = writeFiles(s.dir, 400, 16384).map((f) => fs.openSync(f, 'r+'));
    const call = await callNamingFirstTwice(syncer, fds);
    if (!call) return;
    const { report, syncfs, fdatasync } = call;
    assert.ok(report.durable);
    const reason = report.filesystems[0]!.reason;
    assert.ok(/started while the call's targets were still being described/.test(reason), `not started early: ${reason}`);
    assert.match(reason, /batch owns [\d.]+ of [\d.]+ MiB dirty/, 'the share was measured before the syncfs started');
    assert.is(syncfs, 3, '400 files in plans of at most 150: three syncfs');
    assert.is(fdatasync, 0, 'no file flushed on its own');
    assert.is(new Set(report.results.map((r) => r.syscallIds.join())).size, 3, 'each target names its own segment\'s syncfs');
    assert.is(report.results[400]!.mergedWith, 0);
    assert.equal(report.results[400]!.syscallIds, report.results[0]!.syscallIds, 'the repeated fd shares its first mention\'s syncfs');
    fds.forEach((fd) => fs.closeSync(fd));
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test('a call no syncfs can serve describes its fds without their flags: an O_PATH fd fails alone, and a file it shares with an open fd is flushed through that one', async () => {
  const s = scratch();
  const syncer = createSyncer({ mode: 'data', planner: { allowSyncfs: false } });
  const O_PATH = 0o10000000; // Linux (x86, arm, riscv); Node does not export it
  const fds: number[] = [];
  try {
    const files = writeFiles(s.dir, 300, 4096);
    // Target 1 is an O_PATH fd of file 0, which the head (described with its flags) names open.
    // Target 100 is an O_PATH fd of file 100 and target 150 an open fd of it: the O_PATH one comes
    // first, so the flush's fd must be chosen by asking. 299 is an O_PATH fd alone.
    for (let i = 0; i < 300; i++) fds.push(fs.openSync(files[i]!, i === 299 || i === 100 ? O_PATH : 'r+'));
    fs.closeSync(fds[1]!);
    fds[1] = fs.openSync(files[0]!, O_PATH);
    fs.closeSync(fds[150]!);
    fds[150] = fs.openSync(files[100]!, 'r+');
    const report = await syncer.sync(fds).catch((e: unknown) => {
      if (e instanceof SyncError) return e.report;
      throw e;
    });
    assert.is(report.durable, false);
    const bad = report.results.filter((r) => !r.durable).map((r) => r.index);
    const volatile = report.results[0]!.volatile;
    if (!volatile) assert.equal(bad, [299], 'only the lone O_PATH fd fails');
    assert.is(report.results[299]!.error?.code, 'EBADF', `${report.results[299]!.error?.message ?? 'durable'}`);
    for (const i of [1, 100, 150]) {
      const r = report.results[i]!;
      assert.is(r.error, null, `target ${i} (its file named by an O_PATH fd and an open one): ${r.error?.message}`);
    }
    assert.is(report.results[1]!.mergedWith, 0);
    assert.is(report.results[150]!.mergedWith, 100);
    assert.ok(report.filesystems.every((f) => f.plan !== 'syncfs'));
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
    await syncer.close();
    s.cleanup();
  }
});

test('strace: describing a call that no syncfs can serve asks no fd for its flags; one that may be served by syncfs asks each', async () => {
  const why = EXPECTED_BACKEND === 'js' ? 'the pure-TS path reads an fd\'s flags from /proc, never skips them' : straceMissing();
  if (skipBecause('describe under strace', why)) return;
  const s = scratch();
  try {
    const fcntls = async (strategy: string, allow: string) => {
      const trace = path.join(s.dir, `trace-${strategy}-${allow}`);
      const { stdout } = await run('strace', ['-f', '-c', '-o', trace, '-e', 'trace=fcntl', process.execPath,
        path.join(FIXTURES, 'fd-call-child.mjs'), s.dir, '400', strategy, allow], { timeout: 60_000 });
      const out = JSON.parse(stdout.trim().split('\n').pop()!);
      assert.ok(out.durable || out.plans.length > 0, stdout);
      assert.is(out.results, 400);
      return straceCounts(fs.readFileSync(trace, 'utf8')).fcntl ?? 0;
    };
    // The same process otherwise: Node's own fcntl calls at start-up and exit are in both counts.
    const forbidden = await fcntls('auto', 'no');
    const syncfs = await fcntls('syncfs', 'yes');
    console.log(`fcntl calls: ${forbidden} with syncfs forbidden, ${syncfs} with strategy syncfs (400 fds)`);
    assert.ok(syncfs - forbidden >= 390, `syncfs: ${syncfs}, forbidden: ${forbidden}`);
  } finally {
    s.cleanup();
  }
});

test('a measured early syncfs: O_PATH fds among its fds, read by its cachestat or not, get EBADF; the rest join the syncfs', async () => {
  const s = scratch();
  // Past 1 MiB of dirty data on the system the guard measures the call's share; any share passes,
  // so the first 1,024 fds settle it and the rest are described without having been read.
  const syncer = createSyncer({ mode: 'data', planner: { syncfsMaxForeignMiB: 1, syncfsMinShare: 0.0001, explore: 0 } });
  const O_PATH = 0o10000000; // Linux (x86, arm, riscv); Node does not export it
  const pathAt = [5, 2000];
  let fds: number[] = [];
  try {
    await capabilitiesKnown(syncer, s.dir);
    const files = writeFiles(s.dir, 2500, 8192);
    fds = files.map((f, i) => fs.openSync(f, pathAt.includes(i) ? O_PATH : 'r+'));
    const call = await callNamingFirstTwice(syncer, fds);
    if (!call) return;
    const { report, syncfs, fdatasync } = call;
    assert.is(report.durable, false);
    const reason = report.filesystems[0]!.reason;
    assert.ok(/started while the call's targets were still being described/.test(reason), `not started early: ${reason}`);
    assert.match(reason, /batch owns [\d.]+ of [\d.]+ MiB dirty/);
    assert.is(syncfs, 1);
    assert.is(fdatasync, 0);
    for (const i of pathAt) {
      const r = report.results[i]!;
      assert.is(r.error?.code, 'EBADF', `fd ${fds[i]} (O_PATH) at ${i}: ${r.error?.message ?? 'durable'}`);
      assert.is(r.durable, false);
    }
    const durable = report.results.filter((r) => r.durable);
    assert.is(durable.length, 2501 - pathAt.length, 'every other target durable');
    assert.is(new Set(durable.map((r) => r.syscallIds.join())).size, 1, 'all through the one syncfs');
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
    await syncer.close();
    s.cleanup();
  }
});

test('each(): results stream before the call ends, and leaving early drops the rest', async () => {
  const s = scratch();
  const syncer = createSyncer({ maxOpenFiles: 10, pool: { minThreads: 1, maxThreads: 2 } });
  try {
    const files = writeFiles(s.dir, 200, 1024);
    let count = 0;
    for await (const r of syncer.each(files)) {
      assert.ok(r.durable);
      if (++count === 5) break;
    }
    // Windows of 10: breaking after 5 leaves at most the running window to finish.
    await new Promise((r) => setTimeout(r, 200));
    const stats = syncer.stats();
    assert.ok(stats.requests < 200, `${stats.requests} requests: the rest were not dropped`);
    assert.is(stats.queueDepth, 0);
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

/** A plan is published after its last answer, which may settle the call first. */
const published = () => new Promise((r) => setTimeout(r, 20));

/**
 * `n` new files of `dir` opened into `fds` (the caller closes them), and the syncer's
 * capabilities known: a plan then starts without waiting for the pool's probe.
 */
async function openWarm(syncer: Syncer, dir: string, n: number, fds: number[]): Promise<void> {
  for (const f of writeFiles(dir, n, 512)) fds.push(fs.openSync(f, 'r+'));
  await syncer.sync(fds[0]!);
  await published();
}

test('a call of many fds starts flushing its first targets while its later ones are still being described', async () => {
  const s = scratch();
  const plans: PlanEvent[] = [];
  const listen = (e: unknown) => plans.push(e as PlanEvent);
  const syncer = createSyncer({ mode: 'data', strategy: 'perFile' });
  const fds: number[] = [];
  try {
    await openWarm(syncer, s.dir, 5000, fds);
    subscribe('fsync2:plan', listen);
    // The first file again at the end: a later chunk's mention of a file already in flight.
    const call = syncer.sync([...fds, fds[0]!]);
    const returnedAt = performance.timeOrigin + performance.now();
    const report = await call;
    await published();
    assert.is(report.results.length, 5001);
    assert.ok(report.results.every((r) => r.ok && r.plan === 'perFile'), 'every target flushed per file');
    assert.is(report.results[5000]!.mergedWith, 0, 'the repeated fd is the first target again');
    plans.sort((a, b) => a.startedAt - b.startedAt);
    const sizes = JSON.stringify(plans.map((p) => p.files));
    assert.ok(plans.length >= 2, sizes);
    assert.is(plans.reduce((n, p) => n + p.requests, 0), 5001, `every request in one plan: ${sizes}`);
    assert.is(plans[0]!.files, 1025, `the first plan takes the first target and the first chunk: ${sizes}`);
    assert.ok(plans[0]!.startedAt < returnedAt, 'the first plan started before sync() had described every target');
    // A later chunk's plan starts while the first one holds the threads: it still runs at the width
    // it was planned for (queued in the pool), not as one task on the first thread to free up.
    // The repeated fd's own flush may be a lone one ('one file: one flush on one thread'): 1 task.
    for (const p of plans) {
      const width = p.files === 1 ? 1 : Number(/perFile\/(\d+)/.exec(p.reason)?.[1] ?? NaN);
      assert.is(p.tasks, Math.min(width, p.files), `${p.files} files planned as ${p.reason}: ${p.tasks} tasks`);
    }
  } finally {
    unsubscribe('fsync2:plan', listen);
    await syncer.close();
    for (const fd of fds) fs.closeSync(fd);
    s.cleanup();
  }
});

test("a pipelined call's chunk plans share one choice and teach the cost model once", async () => {
  const s = scratch();
  const plans: PlanEvent[] = [];
  const listen = (e: unknown) => plans.push(e as PlanEvent);
  const observed: Array<{ x: number; ms: number }> = [];
  const observe = Planner.prototype.observe;
  // The syncer's own planner: the same module as this import (symlinks resolve to one file).
  Planner.prototype.observe = function (this: Planner, dev, choice, ms) {
    observed.push({ x: choice.x, ms });
    observe.call(this, dev, choice, ms);
  };
  // syncfs forbidden: no early syncfs, so the call goes in chunks.
  const syncer = createSyncer({ mode: 'data', planner: { allowSyncfs: false, explore: 0 } });
  const fds: number[] = [];
  try {
    await openWarm(syncer, s.dir, 5000, fds);
    observed.length = 0;
    subscribe('fsync2:plan', listen);
    const report = await syncer.sync(fds);
    await published();
    assert.ok(report.ok);
    plans.sort((a, b) => a.startedAt - b.startedAt);
    const arms = plans.map((p) => /^auto: (\S+) predicted/.exec(p.reason)?.[1] ?? p.reason);
    assert.ok(plans.length >= 2, `chunks: ${plans.map((p) => p.files)}`);
    assert.is(new Set(arms).size, 1, `one arm for the whole call: ${arms.join(', ')}`);
    // The chunks overlap (describing 4,000 fds takes a few ms, flushing the first 1,025 longer).
    assert.equal(observed.map((o) => o.x), [5000], `one measurement of the call's 5,000 files: ${JSON.stringify(observed)}`);
    for (const p of plans.slice(1)) assert.match(p.reason, "as chosen for the call's first plan here");
    const first = plans[0]!.startedAt;
    const last = Math.max(...plans.map((p) => p.startedAt + p.durationMs));
    assert.ok(Math.abs(observed[0]!.ms - (last - first)) < 1, `measured ${observed[0]!.ms} ms, plans spanned ${last - first}`);
  } finally {
    Planner.prototype.observe = observe;
    unsubscribe('fsync2:plan', listen);
    await syncer.close();
    for (const fd of fds) fs.closeSync(fd);
    s.cleanup();
  }
});

test('groupCommit.windowUs gathers calls made over time into one plan; maxBatch caps a plan', async () => {
  const s = scratch();
  const plans: PlanEvent[] = [];
  const listen = (e: unknown) => plans.push(e as PlanEvent);
  subscribe('fsync2:plan', listen);
  try {
    const files = writeFiles(s.dir, 10);
    const wide = createSyncer({ groupCommit: { windowUs: 2_000_000, maxBatch: 100 } });
    const calls = [];
    for (const f of files) {
      calls.push(wide.sync(f));
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(calls);
    await wide.close();
    assert.is(plans.length, 1, `${plans.length} plans for 10 calls within the window`);
    assert.is(plans[0]!.files, 10);
    assert.is(plans[0]!.requests, 10);
    assert.ok(plans[0]!.durationMs >= 0 && plans[0]!.fsType !== null);

    plans.length = 0;
    const capped = createSyncer({ groupCommit: { windowUs: 50_000, maxBatch: 3 } });
    await Promise.all(writeFiles(s.dir, 10, 512, 'g').map((f) => capped.sync(f)));
    await capped.close();
    assert.ok(plans.every((p) => p.files <= 3), JSON.stringify(plans.map((p) => p.files)));
    assert.is(plans.reduce((n, p) => n + p.files, 0), 10);
  } finally {
    unsubscribe('fsync2:plan', listen);
    s.cleanup();
  }
});

test('abort removes queued requests (AbortError) without touching the running flush', async () => {
  const s = scratch();
  // One thread: a large dirty file keeps it busy while the second call waits in the queue.
  const syncer = createSyncer({ mode: 'data', strategy: 'perFile', pool: { minThreads: 1, maxThreads: 1 } });
  try {
    const big = path.join(s.dir, 'big');
    fs.writeFileSync(big, Buffer.alloc(256 * 2 ** 20, 1));
    const [small] = writeFiles(s.dir, 1);
    const running = syncer.sync(big);
    // Wait until the big file's flush runs (its path is resolved on the same thread first): a
    // request made before then could join the big file's plan.
    let settled = false;
    void running.finally(() => (settled = true)).catch(() => {});
    while (syncer.stats().inflight === 0 && !settled) await new Promise((r) => setTimeout(r, 1));
    const ac = new AbortController();
    const queued = syncer.sync(small!, { signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    const err = await queued.catch((e: unknown) => e);
    assert.instance(err, AbortError);
    assert.ok((await running).durable, 'the running flush completed');
    assert.is(syncer.stats().flushes.fdatasync, 1, 'the aborted request never reached a flush');
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test('stats(): requests, merged, flushes, latency percentiles', async () => {
  const s = scratch();
  const syncer = createSyncer({ strategy: 'perFile', pool: { minThreads: 1, maxThreads: 2 } });
  try {
    const [a, b] = writeFiles(s.dir, 2);
    await syncer.sync([a!, a!, b!]);
    await syncer.sync(a!);
    const st = syncer.stats();
    assert.is(st.requests, 4);
    assert.is(st.flushes.fsync, 3);
    assert.is(st.merged, 1, 'the two requests for a in one call shared a flush');
    assert.is(st.latencyMs.samples, 4);
    assert.ok(st.latencyMs.p50 > 0 && st.latencyMs.p99 >= st.latencyMs.p50 && st.latencyMs.max >= st.latencyMs.p99);
  } finally {
    await syncer.close();
    s.cleanup();
  }
});

test.run();
