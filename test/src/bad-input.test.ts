// Bad input: each bad target gets its own clear, typed error naming it (fd or path) with the
// errno, in the same call as good targets, which are still flushed. Nothing crashes; nothing that
// is not on stable storage is reported durable. Runs on both backends.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSyncer, STRATEGIES, SyncError, type SyncReport, type Syncer, type TargetResult } from '@fsync2/core';
import { closedFd, mkfifo, scratch, writeFiles } from './helpers.js';

async function outcome(syncer: Syncer, targets: unknown[], strategy?: (typeof STRATEGIES)[number]): Promise<SyncReport> {
  try {
    return await syncer.sync(targets as never, strategy ? { strategy } : {});
  } catch (err) {
    assert.instance(err, SyncError, `sync() rejected with ${String(err)}`);
    return (err as SyncError).report;
  }
}

function expectError(r: TargetResult, code: string, syscall: string | null, names: RegExp): void {
  assert.is(r.ok, false, `target ${r.index} must fail`);
  assert.is(r.durable, false);
  assert.ok(r.error, `target ${r.index} has no error`);
  assert.is(r.error!.code, code, `target ${r.index}: ${r.error!.message}`);
  assert.is(r.error!.syscall, syscall);
  assert.is(r.error!.index, r.index);
  assert.match(r.error!.message, names);
}

for (const strategy of STRATEGIES) {
  const test = suite<{ syncer: Syncer; dir: string; cleanup(): void }>(`bad input, strategy ${strategy}`);
  test.before.each((ctx) => {
    const s = scratch();
    ctx.dir = s.dir;
    ctx.cleanup = s.cleanup;
    ctx.syncer = createSyncer({ strategy, pool: { minThreads: 1, maxThreads: 3 } });
  });
  test.after.each(async (ctx) => {
    await ctx.syncer.close();
    ctx.cleanup();
  });

  test('fds: closed, negative, too large, not integers; a good file in the same call is durable', async ({ syncer, dir }) => {
    const [good] = writeFiles(dir, 1);
    const closed = closedFd();
    const report = await outcome(syncer, [closed, -1, 2 ** 31, 1.5, NaN, Infinity, good!]);
    const [rClosed, rNeg, rBig, rFrac, rNaN, rInf, rGood] = report.results;
    expectError(rClosed!, 'EBADF', 'fstat', new RegExp(`fd ${closed}\\b`));
    assert.is(rClosed!.fd, closed);
    expectError(rNeg!, 'EBADF', 'fstat', /fd -1\b/);
    expectError(rBig!, 'EBADF', 'fstat', /fd 2147483648\b/);
    expectError(rFrac!, 'ERR_FSYNC2_INVALID_TARGET', null, /fd 1\.5 is not an integer/);
    expectError(rNaN!, 'ERR_FSYNC2_INVALID_TARGET', null, /NaN/);
    expectError(rInf!, 'ERR_FSYNC2_INVALID_TARGET', null, /Infinity/);
    assert.is(rGood!.durable, true);
    assert.is(report.results.length, 7);
  });

  test('values that are not targets at all', async ({ syncer, dir }) => {
    const [good] = writeFiles(dir, 1);
    const report = await outcome(syncer, [null, undefined, {}, [], true, '', 'a\0b', { target: good!, mode: 'meta' }, good!]);
    for (const r of report.results.slice(0, 8)) expectError(r, 'ERR_FSYNC2_INVALID_TARGET', null, /invalid target/);
    assert.match(report.results[7]!.error!.message, /mode must be 'data' or 'full'/);
    assert.is(report.results[8]!.durable, true);
  });

  test('paths: missing file, FIFO, /proc, /dev/null, sysfs, a directory, a read-only file', async ({ syncer, dir }) => {
    const [good] = writeFiles(dir, 1);
    const fifo = path.join(dir, 'fifo');
    mkfifo(fifo);
    const readonly = path.join(dir, 'readonly');
    fs.writeFileSync(readonly, 'x');
    fs.chmodSync(readonly, 0o444);
    const missing = path.join(dir, 'missing');
    const targets = [missing, fifo, '/proc/self/status', '/dev/null', '/sys/kernel/mm/transparent_hugepage/enabled', dir, readonly, good!];
    const report = await outcome(syncer, targets);
    const [rMissing, rFifo, rProc, rNull, rSys, rDir, rRo, rGood] = report.results;
    expectError(rMissing!, 'ENOENT', 'open', new RegExp(missing));
    assert.is(rMissing!.error!.path, missing);
    const flush = (r: TargetResult) => (r.mode === 'full' ? 'fsync' : 'fdatasync');
    expectError(rFifo!, 'EINVAL', flush(rFifo!), /fifo/);
    assert.is(rFifo!.kind, 'fifo');
    expectError(rProc!, 'EINVAL', flush(rProc!), /\/proc\/self\/status/);
    expectError(rNull!, 'EINVAL', flush(rNull!), /\/dev\/null/);
    if (fs.existsSync(targets[4]!)) {
      // sysfs accepts fsync and keeps nothing: ok, but never durable.
      assert.is(rSys!.ok, true);
      assert.is(rSys!.volatile, true);
      assert.is(rSys!.durable, false);
      assert.is(rSys!.fsType, 'sysfs');
    }
    assert.is(rDir!.durable, true);
    assert.is(rDir!.kind, 'directory');
    assert.is(rRo!.durable, true, 'fsync works on a read-only fd');
    assert.is(rGood!.durable, true);
    assert.is(report.durable, false);
  });

  test('a pipe and a socket by fd: EINVAL, named by fd', async ({ syncer, dir }) => {
    const sock = path.join(dir, 'sock');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    const client = net.connect(sock);
    await new Promise((r) => client.once('connect', r));
    const fifo = path.join(dir, 'pipe');
    mkfifo(fifo);
    const pipeFd = fs.openSync(fifo, fs.constants.O_RDWR);
    try {
      const sockFd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      const [good] = writeFiles(dir, 1);
      const report = await outcome(syncer, [sockFd, pipeFd, good!]);
      const [rSock, rPipe, rGood] = report.results;
      assert.is(rSock!.kind, 'socket');
      expectError(rSock!, 'EINVAL', rSock!.mode === 'full' ? 'fsync' : 'fdatasync', new RegExp(`fd ${sockFd}\\b`));
      expectError(rPipe!, 'EINVAL', rPipe!.mode === 'full' ? 'fsync' : 'fdatasync', new RegExp(`fd ${pipeFd}\\b`));
      assert.is(rGood!.durable, true);
    } finally {
      fs.closeSync(pipeFd);
      client.destroy();
      server.close();
    }
  });

  test('an O_PATH fd names a file but can do no I/O: EBADF, never covered by a syncfs', async ({ syncer, dir }) => {
    const [good, other] = writeFiles(dir, 2);
    const O_PATH = 0o10000000; // Linux (x86, arm, riscv); Node does not export it
    const pathFd = fs.openSync(other!, O_PATH);
    try {
      const report = await outcome(syncer, [pathFd, good!]);
      expectError(report.results[0]!, 'EBADF', report.results[0]!.mode === 'full' ? 'fsync' : 'fdatasync', new RegExp(`fd ${pathFd}\\b`));
      assert.is(report.results[1]!.durable, true);
      // Named by a real fd too, the file is flushed through that one and both are durable.
      const both = await outcome(syncer, [pathFd, other!]);
      assert.equal(both.results.map((r) => r.durable), [true, true]);
      assert.is(both.results[1]!.mergedWith, 0);
    } finally {
      fs.closeSync(pathFd);
    }
  });

  test('duplicates of a bad target each get their own error', async ({ syncer, dir }) => {
    const missing = path.join(dir, 'nope');
    const report = await outcome(syncer, [missing, missing, -5, -5]);
    assert.equal(report.results.map((r) => r.error?.code), ['ENOENT', 'ENOENT', 'EBADF', 'EBADF']);
    assert.equal(report.results.map((r) => r.error?.index), [0, 1, 2, 3]);
  });

  test.run();
}
