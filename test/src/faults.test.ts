// Real I/O errors from a real kernel: ext4, xfs and btrfs on a loop device whose image a FUSE
// server (test/fuse/blockfs.py) serves, failing chosen writes (EIO at writeback) or every fsync
// of the image (EIO at flush). For every strategy: each affected file is reported failed with its
// path or fd and its code, and never durable afterwards (not in a later call, not through a new
// fd, not after a syncfs); unaffected files still succeed. Needs root, /dev/fuse and loop
// devices; installs the Debian packages it needs (as root), or prints a SKIP line with the reason.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSyncer, STRATEGIES, SyncError, type Strategy, type SyncReport, type Syncer, type TargetResult } from '@fsync2/core';
import { BlockDevice, FS_TYPES, fallocate, loopsUnder, mountsUnder, requirements, skipUnlessReady, syncfs, workRoot, type FsType, type Range } from './blockdev.js';
import { syncerOptions } from './crash-lib.js';
import { scratch } from './helpers.js';

/** Each test file's data: 64 KiB in the middle of a 192 KiB allocation (see writebackCase). */
const L = 64 * 1024;

interface Outcome {
  readonly report: SyncReport;
  readonly error: SyncError | null;
}

async function attempt(call: Promise<SyncReport>): Promise<Outcome> {
  try {
    return { report: await call, error: null };
  } catch (err) {
    if (!(err instanceof SyncError)) throw err;
    return { report: err.report, error: err };
  }
}

function pwrite(file: string, data: Buffer, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, data, 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

function what(r: TargetResult): string {
  return `${r.path ?? `fd ${r.fd}`}: plan ${r.plan}, ${r.durable ? 'durable' : `${r.error?.code} (${r.error?.syscall}${r.sticky ? ', sticky' : ''})`}`;
}

/** The target failed with one of `codes`, naming its path or fd, and is not durable. */
function assertFailed(r: TargetResult, codes: readonly string[], who: { path?: string; fd?: number }, sticky?: boolean): void {
  assert.is(r.durable, false, `must not be durable: ${what(r)}`);
  assert.is(r.ok, false, what(r));
  assert.ok(r.error, `failed without an error: ${what(r)}`);
  assert.ok(codes.includes(r.error.code), `${what(r)}: expected ${codes.join(' or ')}`);
  if (who.path !== undefined) assert.is(r.error.path, who.path, `the error names the path: ${r.error.message}`);
  if (who.fd !== undefined) assert.is(r.error.fd, who.fd, `the error names the fd: ${r.error.message}`);
  // A file that cannot even be opened or fstat'ed (xfs after a shutdown: EIO) has no identity
  // (dev + ino) to be remembered by; it fails all the same.
  const unidentified = r.ino === null || ['open', 'fstat', 'statx'].includes(r.error.syscall ?? '');
  if (sticky !== undefined && !(sticky && unidentified)) assert.is(r.sticky, sticky, `sticky should be ${sticky}: ${what(r)}`);
}

function assertDurable(r: TargetResult): void {
  assert.ok(r.durable, `must be durable: ${what(r)} ${r.error?.message ?? ''}`);
}

function readRanges(dev: BlockDevice, ranges: readonly Range[]): Buffer {
  return Buffer.concat(ranges.map((r) => dev.readImage(r)));
}

function touches(a: readonly Range[], b: readonly Range[], slack: number): boolean {
  return a.some((x) => b.some((y) => x.offset < y.offset + y.length + slack && y.offset < x.offset + x.length + slack));
}

const syncers: Syncer[] = [];
function newSyncer(strategy: Strategy): Syncer {
  const s = createSyncer(syncerOptions(strategy));
  syncers.push(s);
  return s;
}
async function closeSyncers(): Promise<void> {
  await Promise.all(syncers.splice(0).map((s) => s.close()));
}


/**
 * EIO at writeback. Files a, b, c, d get 192 KiB of allocated, unwritten extents (fallocate, made
 * durable), then 64 KiB of data in the middle: the dirty pages of one file never sit next to
 * another file's, so the block layer cannot merge them into one failing request. The server
 * fails every write to the device blocks behind a's and c's data; b and d are healthy, e lives on
 * the machine's own disk. a and b are passed by path, c and d by an fd opened before the write.
 */
async function writebackCase(fsType: FsType, strategy: Strategy): Promise<void> {
  const host = scratch();
  const fds: number[] = [];
  const dev = await BlockDevice.create({ fs: fsType, name: `wb-${strategy}` });
  try {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => path.join(dev.mnt, n)) as [string, string, string, string];
    for (const f of [a, b, c, d]) fallocate(f, 3 * L);
    assert.ok(syncfs(dev.mnt), 'syncfs after fallocate');
    const ranges = new Map([a, b, c, d].map((f) => [f, dev.physicalRanges(f, L, L)]));
    const faulty = [...ranges.get(a)!, ...ranges.get(c)!];
    const healthy = [...ranges.get(b)!, ...ranges.get(d)!];
    assert.not.ok(touches(faulty, healthy, 4096), `allocations interleave: ${JSON.stringify([...ranges])}`);
    for (const r of faulty) dev.ctl(`fail-writes ${r.offset} ${r.length}`);

    const fdC = fs.openSync(c, 'r+');
    const fdD = fs.openSync(d, 'r+');
    fds.push(fdC, fdD);
    const data = new Map([a, b, c, d].map((f) => [f, crypto.randomBytes(L)]));
    pwrite(a, data.get(a)!, L);
    pwrite(b, data.get(b)!, L);
    fs.writeSync(fdC, data.get(c)!, 0, L, L);
    fs.writeSync(fdD, data.get(d)!, 0, L, L);
    const e = path.join(host.dir, 'e');
    fs.writeFileSync(e, crypto.randomBytes(4096));

    const syncer = newSyncer(strategy);
    const first = await attempt(syncer.sync([a, b, fdC, fdD, e]));
    const [ra, rb, rc, rd, re] = first.report.results as [TargetResult, TargetResult, TargetResult, TargetResult, TargetResult];
    const plan = ra.plan!;
    console.log(`${fsType} ${strategy}: plan ${plan} (${ra.reason}); ${first.report.results.map(what).join('; ')}`);
    assert.ok(first.error, 'the call rejects');
    assert.ok(dev.status().failedWrites > 0, 'the server failed the writeback');
    assertFailed(ra, ['EIO'], { path: a }, false);
    assertFailed(rc, ['EIO'], { fd: fdC }, false);
    if (plan === 'syncfs') {
      // A failed syncfs names no file: it fails every file it covered (documented).
      assertFailed(rb, ['EIO'], { path: b });
      assertFailed(rd, ['EIO'], { fd: fdD });
      assert.is(ra.syscall, 'syncfs');
    } else {
      assertDurable(rb);
      assertDurable(rd);
    }
    assertDurable(re);
    const errored = first.error.errors.map((x) => x.index).sort();
    assert.ok(errored.includes(0) && errored.includes(2), `SyncError.errors holds a and c: ${errored}`);
    assert.ok(first.error.errors.every((x) => x.code === 'EIO'));

    // The data never reached the disk, and the ranges were the right ones: b's data is where
    // FIEMAP said (the kernel wrote it there), a's is not.
    assert.ok(readRanges(dev, ranges.get(b)!).equals(data.get(b)!), 'b is where FIEMAP put it');
    assert.not.ok(readRanges(dev, ranges.get(a)!).equals(data.get(a)!), 'a never reached the disk');
    assert.not.ok(readRanges(dev, ranges.get(c)!).equals(data.get(c)!), 'c never reached the disk');

    // Later calls on the same syncer: sticky, by path, by the same fd, by a new fd, by syncfs.
    const again = await attempt(syncer.sync([a, fdC]));
    assertFailed(again.report.results[0]!, ['EIO'], { path: a }, true);
    assertFailed(again.report.results[1]!, ['EIO'], { fd: fdC }, true);
    const fdA2 = fs.openSync(a, 'r');
    fds.push(fdA2);
    const newFd = await attempt(syncer.sync([fdA2, c]));
    assertFailed(newFd.report.results[0]!, ['EIO'], { fd: fdA2 }, true);
    assertFailed(newFd.report.results[1]!, ['EIO'], { path: c }, true);
    syncfs(dev.mnt); // someone else's syncfs: may consume the filesystem's error; a stays failed
    const bySyncfs = await attempt(syncer.sync([a, fdC, b], { strategy: 'syncfs' }));
    assertFailed(bySyncfs.report.results[0]!, ['EIO'], { path: a }, true);
    assertFailed(bySyncfs.report.results[1]!, ['EIO'], { fd: fdC }, true);
    if (plan !== 'syncfs') assertDurable(bySyncfs.report.results[2]!);
    for await (const r of syncer.each([a])) assertFailed(r, ['EIO'], { path: a }, true);

    // The kernel's limit (not fsync2's): the error was reported once, so a syncer with no memory
    // of it gets 0 for the same plan, although a's data is still not on the disk.
    const fresh = newSyncer(plan);
    const forgot = await attempt(fresh.sync([a, fdC]));
    assertDurable(forgot.report.results[0]!);
    assertDurable(forgot.report.results[1]!);
    assert.not.ok(readRanges(dev, ranges.get(a)!).equals(data.get(a)!), 'a is still not on the disk');

    // reset() forgets a (only a), and a rewrite with the fault removed makes it durable.
    assert.is(await syncer.reset(a), 1);
    dev.ctl('clear');
    const rewrite = crypto.randomBytes(L);
    pwrite(a, rewrite, L);
    const healed = await attempt(syncer.sync([a]));
    assertDurable(healed.report.results[0]!);
    assert.ok(readRanges(dev, dev.physicalRanges(a, L, L)).equals(rewrite), 'the rewrite is on the disk');
    const stillC = await attempt(syncer.sync([fdC]));
    assertFailed(stillC.report.results[0]!, ['EIO'], { fd: fdC }, true);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
    await closeSyncers();
    await dev.close();
    host.cleanup();
  }
}

/**
 * EIO at flush: the server fails every fsync of the image until cleared. Every file of the batch
 * on that filesystem depended on a device flush, so each must be reported failed (ext4 turns
 * read-only at the first one, so its later flushes say EROFS); the file on the machine's own
 * disk still succeeds. Afterwards the filesystem may be read-only or shut down; fsync2 keeps
 * every one of them failed until reset().
 */
async function flushCase(fsType: FsType, strategy: Strategy): Promise<string> {
  const host = scratch();
  const fds: number[] = [];
  const dev = await BlockDevice.create({ fs: fsType, name: `flush-${strategy}` });
  try {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => path.join(dev.mnt, n)) as [string, string, string];
    for (const f of [a, b, c]) fs.writeFileSync(f, crypto.randomBytes(20_000 + crypto.randomInt(50_000)));
    const fdC = fs.openSync(c, 'r');
    fds.push(fdC);
    const e = path.join(host.dir, 'e');
    fs.writeFileSync(e, crypto.randomBytes(4096));
    const codes = ['EIO', 'EROFS'];

    dev.ctl('fail-fsync -1');
    const syncer = newSyncer(strategy);
    const first = await attempt(syncer.sync([a, b, fdC, e]));
    const [ra, rb, rc, re] = first.report.results as [TargetResult, TargetResult, TargetResult, TargetResult];
    console.log(`${fsType} ${strategy} flush EIO: ${first.report.results.map(what).join('; ')}`);
    assert.ok(dev.status().failedFsyncs > 0, 'the server failed a flush');
    assertFailed(ra, codes, { path: a }, false);
    assertFailed(rb, codes, { path: b }, false);
    assertFailed(rc, codes, { fd: fdC }, false);
    assertDurable(re);
    dev.ctl('clear');

    const again = await attempt(syncer.sync([a, b, fdC]));
    assertFailed(again.report.results[0]!, codes, { path: a }, true);
    assertFailed(again.report.results[1]!, codes, { path: b }, true);
    assertFailed(again.report.results[2]!, codes, { fd: fdC }, true);
    const bySyncfs = await attempt(syncer.sync([a, fdC], { strategy: 'syncfs' }));
    assertFailed(bySyncfs.report.results[0]!, codes, { path: a }, true);
    assertFailed(bySyncfs.report.results[1]!, codes, { fd: fdC }, true);
    let fdA2: number | null = null;
    try {
      fdA2 = fs.openSync(a, 'r');
      fds.push(fdA2);
    } catch {
      // xfs shuts down: even open fails, and no durable report can come of it
    }
    if (fdA2 !== null) {
      const newFd = await attempt(syncer.sync([fdA2]));
      assertFailed(newFd.report.results[0]!, codes, { fd: fdA2 }, true);
    }

    // What the kernel says to a syncer that never saw the failure (recorded, not asserted).
    const fresh = newSyncer(ra.plan ?? strategy);
    const forgot = await attempt(fresh.sync([a, b, fdC]));
    return forgot.report.results.map((r) => `${r.path ? path.basename(r.path) : 'c (fd)'} ${r.durable ? 'durable' : r.error?.code}`).join(', ');
  } finally {
    for (const fd of fds) fs.closeSync(fd);
    await closeSyncers();
    await dev.close();
    host.cleanup();
  }
}

const kernelAfterFlushEio: string[] = [];

// FSYNC2_FAULTS=ext4,uring runs only the cases of the filesystems and strategies named (a list
// without filesystems means all of them; the same for strategies).
const only = (process.env.FSYNC2_FAULTS ?? '').split(',').filter(Boolean);
const onlyFs = only.filter((o) => (FS_TYPES as readonly string[]).includes(o));
const onlyStrategies = only.filter((o) => (STRATEGIES as readonly string[]).includes(o));
const picked = (fsType: FsType, strategy: Strategy): boolean =>
  (onlyFs.length === 0 || onlyFs.includes(fsType)) && (onlyStrategies.length === 0 || onlyStrategies.includes(strategy));

for (const fsType of FS_TYPES) {
  for (const strategy of STRATEGIES) {
    if (!picked(fsType, strategy)) continue;
    test(`writeback EIO on ${fsType}, strategy ${strategy}`, async () => {
      if (skipUnlessReady('faults', fsType)) return;
      await writebackCase(fsType, strategy);
    });
  }
  for (const strategy of STRATEGIES) {
    if (!picked(fsType, strategy)) continue;
    test(`flush EIO on ${fsType}, strategy ${strategy}`, async () => {
      if (skipUnlessReady('faults', fsType)) return;
      const kernel = await flushCase(fsType, strategy);
      kernelAfterFlushEio.push(`${fsType} ${strategy}: a fresh syncer after the flush EIO: ${kernel}`);
    });
  }
}

test('nothing is left mounted or attached', () => {
  for (const line of kernelAfterFlushEio) console.log(line);
  if (requirements().reason) return;
  const dir = workRoot();
  assert.equal(mountsUnder(dir), [], 'mounts left');
  assert.equal(loopsUnder(dir), [], 'loop devices left');
});

test.run();
