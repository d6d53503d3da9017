// The consumer examples (examples/wal, examples/migration), run on real files through their public
// entry points and as the commands a user would start.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSyncer } from '@fsync2/core';
import { Wal, readLog, encode, HEADER_BYTES, type Appended } from '@fsync2/example-wal';
import { migrate, type MigrationEvent } from '@fsync2/example-migration';
import { REPO, TMPFS, scratch, skipBecause } from './helpers.js';

const run = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const totalFlushes = (f: Readonly<Record<string, number>>) => Object.values(f).reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------- the write-ahead log

test('wal: 64 concurrent appenders each get a durable answer; far fewer flushes than appends; every acknowledged record is in the log', async () => {
  const s = scratch();
  try {
    const file = path.join(s.dir, 'wal.log');
    const wal = await Wal.open(file);
    const flushesAtOpen = totalFlushes(wal.syncer.stats().flushes);
    const acked: Array<Appended & { payload: string }> = [];
    await Promise.all(
      Array.from({ length: 64 }, async (_, a) => {
        for (let i = 0; i < 8; i++) {
          const payload = `appender ${a} record ${i} ${'x'.repeat((a * 7 + i) % 50)}`;
          acked.push({ ...(await wal.append(payload)), payload });
        }
      }),
    );
    const stats = wal.syncer.stats();
    await wal.close();

    assert.is(acked.length, 512);
    assert.ok(acked.every((a) => a.durable), 'every answer says durable');
    assert.equal([...new Set(acked.map((a) => a.lsn))].sort((x, y) => x - y), Array.from({ length: 512 }, (_, i) => i), 'one lsn each, no gaps');
    const flushes = totalFlushes(stats.flushes) - flushesAtOpen;
    assert.ok(flushes >= 1);
    assert.ok(flushes * 4 <= acked.length, `group commit: ${flushes} flushes for ${acked.length} appends`);
    assert.ok(stats.merged >= acked.length / 2, `merged ${stats.merged}`);
    assert.ok(Math.max(...acked.map((a) => a.served)) > 1, 'some flush served several appenders');

    const log = await readLog(file);
    assert.is(log.tornBytes, 0);
    const byLsn = new Map(log.records.map((r) => [r.lsn, r]));
    for (const a of acked) {
      const r = byLsn.get(a.lsn);
      assert.ok(r, `acknowledged lsn ${a.lsn} is in the log`);
      assert.is(r!.payload.toString(), a.payload);
      assert.is(r!.offset, a.offset);
    }
  } finally {
    s.cleanup();
  }
});

test('wal: reopening cuts off a torn tail and continues the sequence', async () => {
  const s = scratch();
  try {
    const file = path.join(s.dir, 'wal.log');
    let wal = await Wal.open(file);
    for (const p of ['a', 'b', 'c']) await wal.append(p);
    await wal.close();
    const whole = fs.statSync(file).size;
    // A crash in the middle of the next record's write: its header and half its payload.
    const torn = encode(3, Buffer.from('lost in the crash'));
    fs.appendFileSync(file, torn.subarray(0, HEADER_BYTES + 4));
    assert.is((await readLog(file)).tornBytes, HEADER_BYTES + 4);

    wal = await Wal.open(file);
    assert.is(fs.statSync(file).size, whole, 'torn tail cut off');
    const next = await wal.append('d');
    await wal.close();
    assert.is(next.lsn, 3);
    const log = await readLog(file);
    assert.equal(log.records.map((r) => r.payload.toString()), ['a', 'b', 'c', 'd']);
    assert.is(log.tornBytes, 0);
  } finally {
    s.cleanup();
  }
});

test('wal: on tmpfs every append is flushed and answered, and none says durable', async () => {
  if (skipBecause('wal on tmpfs', fs.existsSync(TMPFS) ? null : `${TMPFS} does not exist`)) return;
  const s = scratch('fsync2-wal-', TMPFS);
  try {
    const wal = await Wal.open(path.join(s.dir, 'wal.log'));
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => wal.append(`r${i}`)));
    await wal.close();
    assert.is(answers.length, 16);
    assert.ok(answers.every((a) => !a.durable), 'a log on tmpfs is never durable');
  } finally {
    s.cleanup();
  }
});

test('wal: the demo command runs 64 appenders and finds every acknowledged record', async () => {
  const main = path.join(REPO, 'examples/wal/dist/main.js');
  const { stdout } = await run(process.execPath, [main, '--appenders', '64', '--records', '4', '--json'], { timeout: 120_000 });
  const out = JSON.parse(stdout);
  assert.is(out.appends, 256);
  assert.is(out.durable, 256);
  assert.is(out.missingAcknowledged, 0);
  assert.is(out.recordsInLog, 256);
  assert.ok(out.flushes * 4 <= out.appends, `${out.flushes} flushes for ${out.appends} appends`);
});

// ---------------------------------------------------------------- the migration

/** A nested tree of n files of mixed sizes; relative path → sha256. */
function tree(root: string, n: number): Map<string, string> {
  const want = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const rel = path.join(`a${i % 4}`, `b${i % 3}`, `f${i}`);
    const data = Buffer.alloc([0, 1, 4096, 30_000][i % 4]!, `${i}-`);
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
    want.set(rel, sha(data));
  }
  return want;
}

test('migration: every source is deleted, each only after its copy was durable; copies equal the originals', async () => {
  const s = scratch();
  try {
    const src = path.join(s.dir, 'old');
    const dest = path.join(s.dir, 'new');
    const want = tree(src, 150);
    const events: MigrationEvent[] = [];
    const durableBefore = new Map<string, boolean>();
    const result = await migrate(src, dest, {
      batch: 64,
      onEvent: (e) => {
        events.push(e);
        // At the moment of each removal: fsync2 said the copy is durable, and it holds the source's content.
        if (e.type === 'removed') {
          const copy = path.join(dest, e.path);
          durableBefore.set(e.path, events.some((x) => x.type === 'durable' && x.path === e.path) && sha(fs.readFileSync(copy)) === want.get(e.path));
        }
      },
    });
    assert.is(result.files, 150);
    assert.is(result.removed, 150);
    assert.equal(result.kept, []);
    for (const [rel, hash] of want) {
      assert.not.ok(fs.existsSync(path.join(src, rel)), `source ${rel} removed`);
      assert.is(sha(fs.readFileSync(path.join(dest, rel))), hash, `copy ${rel} equal`);
      assert.is(durableBefore.get(rel), true, `${rel} removed after its durable answer, its copy complete`);
    }
    // Streaming: with batches of 64, the first source goes before the last copy is made.
    const firstRemoved = events.findIndex((e) => e.type === 'removed');
    const lastCopied = events.map((e) => e.type).lastIndexOf('copied');
    assert.ok(firstRemoved >= 0 && firstRemoved < lastCopied, 'removals start before all copies are made');
  } finally {
    s.cleanup();
  }
});

test('migration: a destination whose ancestors do not exist yet: each new directory is flushed with its parent', async () => {
  const s = scratch();
  const real = createSyncer();
  try {
    const src = path.join(s.dir, 'old');
    tree(src, 8);
    const dest = path.join(s.dir, 'x', 'y', 'new');
    // The migration's syncer, recording what it is asked to flush with parents: true.
    const flushed = new Set<string>();
    const syncer = new Proxy(real, {
      get(target, prop) {
        if (prop === 'sync' || prop === 'each') {
          return (targets: string[], options?: { parents?: boolean }) => {
            if (options?.parents) for (const t of targets) flushed.add(path.resolve(t));
            return (target[prop] as (...a: unknown[]) => unknown).call(target, targets, options);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const result = await migrate(src, dest, { syncer });
    assert.is(result.removed, 8);
    for (const d of [path.join(s.dir, 'x'), path.join(s.dir, 'x', 'y'), dest]) {
      assert.ok(flushed.has(d), `${d} flushed with its entry in its parent (${[...flushed].filter((f) => !f.includes('old')).join(', ')})`);
    }
  } finally {
    await real.close();
    s.cleanup();
  }
});

test('migration: copies on tmpfs are flushed but never durable, so no source is deleted', async () => {
  if (skipBecause('migration to tmpfs', fs.existsSync(TMPFS) ? null : `${TMPFS} does not exist`)) return;
  const s = scratch();
  const t = scratch('fsync2-migration-', TMPFS);
  try {
    const src = path.join(s.dir, 'old');
    const want = tree(src, 20);
    const result = await migrate(src, path.join(t.dir, 'new'));
    assert.is(result.removed, 0);
    assert.is(result.kept.length, 20);
    assert.ok(result.kept.every((k) => /volatile filesystem tmpfs/.test(k.reason)), JSON.stringify(result.kept[0]));
    for (const rel of want.keys()) assert.ok(fs.existsSync(path.join(src, rel)), `source ${rel} kept`);
  } finally {
    s.cleanup();
    t.cleanup();
  }
});

test('migration: a copy that cannot be made keeps its source; the others move', async () => {
  const s = scratch();
  try {
    const src = path.join(s.dir, 'old');
    const dest = path.join(s.dir, 'new');
    const want = tree(src, 24);
    // The destination has a regular file where the tree needs directory a1: its files cannot be copied.
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(dest, 'a1'), 'in the way');
    const syncer = createSyncer();
    const result = await migrate(src, dest, { syncer });
    await syncer.close();
    const blocked = [...want.keys()].filter((rel) => rel.startsWith(`a1${path.sep}`));
    assert.is(blocked.length, 6);
    assert.is(result.removed, 24 - blocked.length);
    assert.equal(result.kept.map((k) => k.path).sort(), blocked.sort());
    assert.ok(result.kept.every((k) => /ENOTDIR|EEXIST/.test(k.reason)), result.kept[0]?.reason);
    for (const rel of want.keys()) {
      assert.is(fs.existsSync(path.join(src, rel)), blocked.includes(rel), rel);
    }
  } finally {
    s.cleanup();
  }
});

test('migration: the demo command moves a generated tree and checks it byte for byte', async () => {
  const main = path.join(REPO, 'examples/migration/dist/main.js');
  const { stdout } = await run(process.execPath, [main, '--files', '600', '--json'], { timeout: 120_000 });
  const out = JSON.parse(stdout);
  assert.is(out.files, 600);
  assert.is(out.removed, 600);
  assert.is(out.mismatched, 0);
  assert.equal(out.kept, []);
});

test.run();
