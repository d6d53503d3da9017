// sync() on real files: what the report says, merging, parents, volatile filesystems, options.
// Runs twice: through the addon and through the pure-TS path (FSYNC2_NATIVE=off).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSyncer, fsInfo, sync, AbortError, ClosedError, OptionsError, SyncError, type Syncer } from '@fsync2/core';
import { EXPECTED_BACKEND, scratch, statfsType, TMPFS, writeFiles } from './helpers.js';

const test = suite<{ syncer: Syncer; dir: string; cleanup(): void }>('api');

test.before.each((ctx) => {
  const s = scratch();
  ctx.dir = s.dir;
  ctx.cleanup = s.cleanup;
  ctx.syncer = createSyncer({ pool: { minThreads: 1, maxThreads: 4 } });
});
test.after.each(async (ctx) => {
  await ctx.syncer.close();
  ctx.cleanup();
});

test('path targets: durable, with identity, kind, filesystem, mode, plan, syscall and backend', async ({ syncer, dir }) => {
  const files = writeFiles(dir, 20);
  const report = await syncer.sync(files, { mode: 'data', strategy: 'perFile' });
  assert.is(report.ok, true);
  assert.is(report.durable, true);
  assert.is(report.backend, EXPECTED_BACKEND);
  assert.is(syncer.backend, EXPECTED_BACKEND);
  assert.is(report.results.length, 20);
  assert.is(report.syscalls, 20);
  const magic = statfsType(dir);
  report.results.forEach((r, i) => {
    const st = fs.statSync(files[i]!, { bigint: true });
    assert.is(r.index, i);
    assert.is(r.path, files[i]);
    assert.is(r.fd, null);
    assert.is(r.dev, st.dev);
    assert.is(r.ino, st.ino);
    assert.is(r.kind, 'file');
    assert.is(r.mode, 'data');
    assert.is(r.syscall, 'fdatasync');
    assert.is(r.plan, 'perFile');
    assert.is(r.backend, EXPECTED_BACKEND);
    assert.is(r.volatile, false);
    assert.is(r.durable, true);
    assert.ok(r.durationMs > 0);
    assert.is(r.error, null);
  });
  assert.is(report.filesystems.length, 1);
  assert.is(report.filesystems[0]!.fsType, fsInfo(magic)!.name);
  assert.is(report.results[0]!.fsType, fsInfo(magic)!.name);
});

test('a call of many targets after a lone flush gathers them into plans, never flushes them one by one', async ({ syncer, dir }) => {
  // A lone caller's flush (the last plan took one request) lets the next lone request skip
  // planning; a call of many must not take that path for its first targets, each then a lone
  // flush racing the batch's own plan (seen: 8 of 1,000 fds, 140-210 ms each behind a syncfs).
  const [one] = writeFiles(dir, 1, 4096, 'lone');
  const lone = await syncer.sync(one!, { mode: 'data' });
  assert.is(lone.results[0]!.reason, 'one file: one flush on one thread');
  const files = writeFiles(dir, 40);
  const fds = files.map((f) => fs.openSync(f, 'r+'));
  try {
    for (const [what, targets] of [['fds', fds], ['paths', files]] as const) {
      await syncer.sync(one!, { mode: 'data' });
      const report = await syncer.sync([...targets], { mode: 'data', strategy: 'perFile' });
      assert.is(report.durable, true);
      const reasons = new Set(report.results.map((r) => r.reason));
      assert.equal([...reasons].filter((r) => /^one file/.test(r ?? '')), [], `${what}: ${[...reasons].join(' | ')}`);
    }
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
  }
});

test('fd, FileHandle and { target, mode } targets; the default mode is full (fsync)', async ({ syncer, dir }) => {
  const [a, b, c] = writeFiles(dir, 3);
  const fd = fs.openSync(a!, 'r');
  const fh = await fsp.open(b!, 'r');
  try {
    const report = await syncer.sync([fd, fh, { target: c!, mode: 'data' }]);
    assert.equal(report.results.map((r) => r.syscall), ['fsync', 'fsync', 'fdatasync']);
    assert.equal(report.results.map((r) => r.fd), [fd, fh.fd, null]);
    assert.equal(report.results.map((r) => r.mode), ['full', 'full', 'data']);
    assert.ok(report.durable);
  } finally {
    fs.closeSync(fd);
    await fh.close();
  }
});

test('one target without an array, and an empty list', async ({ syncer, dir }) => {
  const [a] = writeFiles(dir, 1);
  const one = await syncer.sync(a!);
  assert.is(one.results.length, 1);
  assert.ok(one.durable);
  const none = await syncer.sync([]);
  assert.is(none.results.length, 0);
  assert.is(none.ok, true);
  assert.is(none.syscalls, 0);
});

test('the same file named by path, fd and FileHandle is flushed once, with the stronger mode', async ({ syncer, dir }) => {
  const [a, b] = writeFiles(dir, 2);
  const fd = fs.openSync(a!, 'r');
  const fh = await fsp.open(a!, 'r');
  try {
    const report = await syncer.sync([{ target: a!, mode: 'data' }, b!, fd, { target: fh, mode: 'full' }, a!], { mode: 'data' });
    assert.is(report.syscalls, 2, 'a and b: one flush each');
    const [r0, r1, r2, r3, r4] = report.results;
    assert.is(r0!.mergedWith, null);
    assert.is(r1!.mergedWith, null);
    assert.equal([r2!.mergedWith, r3!.mergedWith, r4!.mergedWith], [0, 0, 0]);
    assert.is(r0!.syscall, 'fsync', 'the merged flush is the strongest asked for');
    assert.is(r0!.mode, 'full');
    assert.is(r1!.syscall, 'fdatasync');
    assert.ok(report.results.every((r) => r.durable));
    assert.is(r2!.fd, fd);
  } finally {
    fs.closeSync(fd);
    await fh.close();
  }
});

test('parents: each distinct parent directory is fsynced once, after its files', async ({ syncer, dir }) => {
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  const files = [...writeFiles(dir, 3), ...writeFiles(sub, 3)];
  const report = await syncer.sync(files, { parents: true, strategy: 'perFile' });
  assert.is(report.syscalls, 6 + 2);
  for (const r of report.results) {
    assert.is(r.parents.length, 1);
    assert.is(r.parents[0]!.path, path.dirname(r.path!));
    assert.is(r.parents[0]!.ok, true);
    assert.is(r.parents[0]!.syscall, 'fsync');
  }
  const without = await syncer.sync(files);
  assert.ok(without.results.every((r) => r.parents.length === 0));
});

test('parents of a symlink: the link\'s directory and the real file\'s directory', async ({ syncer, dir }) => {
  const real = path.join(dir, 'real');
  const links = path.join(dir, 'links');
  fs.mkdirSync(real);
  fs.mkdirSync(links);
  const [file] = writeFiles(real, 1);
  const link = path.join(links, 'link');
  fs.symlinkSync(file!, link);
  const report = await syncer.sync([link], { parents: true });
  const r = report.results[0]!;
  assert.is(r.ino, fs.statSync(file!, { bigint: true }).ino, 'the link is followed to its file');
  assert.equal(r.parents.map((p) => p.path).sort(), [links, real].sort());
  assert.ok(r.durable);
});

test('tmpfs: flushed, ok, but volatile and never durable', async ({ syncer, dir }) => {
  const shm = scratch('fsync2-test-', TMPFS);
  try {
    const [volatileFile] = writeFiles(shm.dir, 1);
    const [diskFile] = writeFiles(dir, 1);
    const report = await syncer.sync([volatileFile!, diskFile!]);
    const [v, d] = report.results;
    assert.is(report.ok, true);
    assert.is(report.durable, false, 'a batch with a tmpfs file is not durable');
    assert.is(v!.fsType, 'tmpfs');
    assert.is(v!.volatile, true);
    assert.is(v!.durable, false);
    assert.is(v!.ok, true);
    assert.is(d!.durable, true);
    assert.is(report.filesystems.length, 2, 'a mixed batch is planned per filesystem');
    assert.ok(report.filesystems.find((f) => f.fsType === 'tmpfs')!.volatile);
  } finally {
    shm.cleanup();
  }
});

test('100,000 targets in one call: every one answered, windows keep open files bounded', async ({ dir }) => {
  const syncer = createSyncer({ maxOpenFiles: 2048, pool: { minThreads: 1, maxThreads: 4 } });
  try {
    const files = writeFiles(dir, 1000, 512);
    const targets = Array.from({ length: 100_000 }, (_, i) => files[i % files.length]!);
    const report = await syncer.sync(targets, { mode: 'data', strategy: 'perFile' });
    assert.is(report.results.length, 100_000);
    assert.ok(report.durable);
    assert.is(report.syscalls, 1000, 'each distinct file once across all windows');
    assert.is(report.results[99_999]!.mergedWith, 999);
  } finally {
    await syncer.close();
  }
});

test('bad options: createSyncer throws, sync rejects, both naming the option', async ({ syncer }) => {
  const bad = (opts: unknown, name: RegExp) => {
    const err = (() => {
      try {
        createSyncer(opts as never);
      } catch (e) {
        return e;
      }
    })();
    assert.instance(err, OptionsError);
    assert.is((err as OptionsError).code, 'ERR_FSYNC2_INVALID_OPTION');
    assert.match((err as Error).message, name);
  };
  bad({ strategy: 'fastest' }, /options\.strategy/);
  bad({ mode: 'meta' }, /options\.mode/);
  bad({ pool: { maxThreads: 0 } }, /options\.pool\.maxThreads/);
  bad({ pool: { minThreads: 9, maxThreads: 2 } }, /options\.pool\.minThreads/);
  bad({ pool: { atomics: 'maybe' } }, /options\.pool\.atomics/);
  bad({ threads: 4 }, /threads/);
  bad({ maxOpenFiles: 1.5 }, /options\.maxOpenFiles/);
  const pending = syncer.sync([], { mode: 'everything' as never });
  const err = await pending.catch((e: unknown) => e);
  assert.instance(err, OptionsError);
  assert.match((err as Error).message, /sync options\.mode/);
});

test('AbortSignal: aborted before the call rejects; aborted mid-call stops at the next window', async ({ dir }) => {
  const syncer = createSyncer({ maxOpenFiles: 50, pool: { minThreads: 1, maxThreads: 2 } });
  try {
    const files = writeFiles(dir, 500, 512);
    const before = await syncer.sync(files, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    assert.instance(before, AbortError);
    const ac = new AbortController();
    const call = syncer.sync(files, { signal: ac.signal });
    ac.abort();
    const during = await call.catch((e: unknown) => e);
    assert.instance(during, AbortError);
    assert.is((during as AbortError).code, 'ABORT_ERR');
    // Fds of the aborted windows were closed: a later call still works.
    assert.ok((await syncer.sync(files)).durable);
  } finally {
    await syncer.close();
  }
});

test('close(): waits for calls in flight; later calls reject with ClosedError', async ({ dir }) => {
  const syncer = createSyncer({ pool: { minThreads: 1, maxThreads: 2 } });
  const files = writeFiles(dir, 50);
  const inflight = syncer.sync(files);
  const closing = syncer.close();
  assert.ok((await inflight).durable);
  await closing;
  const err = await syncer.sync(files).catch((e: unknown) => e);
  assert.instance(err, ClosedError);
  assert.is((err as ClosedError).code, 'ERR_FSYNC2_CLOSED');
  await syncer[Symbol.asyncDispose]();
});

test('the default instance: import { sync } works for one-off calls', async ({ dir }) => {
  const files = writeFiles(dir, 5);
  const report = await sync(files);
  assert.ok(report.durable);
});

test('a failed target rejects with SyncError; the others are still flushed and reported', async ({ syncer, dir }) => {
  const files = writeFiles(dir, 3);
  const err = (await syncer.sync([files[0]!, path.join(dir, 'missing'), files[1]!, files[2]!]).catch((e: unknown) => e)) as SyncError;
  assert.instance(err, SyncError);
  assert.instance(err, AggregateError);
  assert.is(err.errors.length, 1);
  const e = err.errors[0]!;
  assert.is(e.code, 'ENOENT');
  assert.is(e.syscall, 'open');
  assert.is(e.path, path.join(dir, 'missing'));
  assert.is(e.index, 1);
  assert.match(e.message, /missing/);
  assert.equal(err.report.results.map((r) => r.durable), [true, false, true, true]);
});

test.run();
