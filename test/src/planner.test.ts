// The planner's choices, pure: which plans are eligible where, the noisy-neighbour guard, and the
// cost model learning from what plans cost. (The plans themselves run in strategies.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fsInfo } from '@fsync2/core';
import { Planner, type Capabilities, type PlanInput } from '../../packages/core/dist/planner.js';
import { syncfsReportsErrors } from '../../packages/core/dist/plan.js';

const MIB = 2 ** 20;
const caps: Capabilities = { native: true, uring: true, syncfsReportsErrors: true, maxThreads: 8 };
const ext4 = fsInfo(0xef53);
const policy = { allowSyncfs: true, syncfsMinShare: 0.5, syncfsMaxForeignBytes: 8 * MIB, explore: 0 };
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  dev: 1n, fs: ext4, files: 1000, strategy: 'auto', ownDirtyBytes: 4 * MIB, systemDirtyBytes: 5 * MIB, ...over,
});

test('syncfs reports errors only from Linux 5.8', () => {
  assert.is(syncfsReportsErrors('4.19.0'), false);
  assert.is(syncfsReportsErrors('5.7.19'), false);
  assert.is(syncfsReportsErrors('5.8.0'), true);
  assert.is(syncfsReportsErrors('6.18.44-fc-v669'), true);
});

test('a batch that owns the dirty data, nothing else dirty: auto picks syncfs first', () => {
  const c = new Planner(policy).choose(input(), caps);
  assert.is(c.arm.plan, 'syncfs');
  assert.match(c.reason, /auto: syncfs predicted/);
  assert.match(c.reason, /batch owns 4\.0 of 5\.0 MiB dirty/);
});

test('noisy neighbour: 512 MiB of someone else\'s dirty data keeps syncfs out', () => {
  const c = new Planner(policy).choose(input({ ownDirtyBytes: 0.4 * MIB, systemDirtyBytes: 512 * MIB }), caps);
  assert.is.not(c.arm.plan, 'syncfs');
  assert.match(c.reason, /noisy neighbour/);
  // The batch's share unknown (no cachestat): only a nearly clean system allows syncfs.
  const unknown = new Planner(policy).choose(input({ ownDirtyBytes: null, systemDirtyBytes: 64 * MIB }), caps);
  assert.is.not(unknown.arm.plan, 'syncfs');
  const clean = new Planner(policy).choose(input({ ownDirtyBytes: null, systemDirtyBytes: 2 * MIB }), caps);
  assert.is(clean.arm.plan, 'syncfs');
  // Owning most of a large amount keeps syncfs eligible; whether it wins is the cost model's call.
  const mostly = new Planner(policy).choose(input({ ownDirtyBytes: 300 * MIB, systemDirtyBytes: 400 * MIB }), caps);
  assert.not.match(mostly.reason, /noisy/);
  const nearlyAll = new Planner(policy).choose(input({ ownDirtyBytes: 300 * MIB, systemDirtyBytes: 305 * MIB }), caps);
  assert.is(nearlyAll.arm.plan, 'syncfs');
});

test('syncfs is never offered where it is not trusted, nor when forbidden, nor before 5.8', () => {
  for (const magic of [0x65735546, 0x6969, 0x794c7630, 0x1234]) {
    const c = new Planner(policy).choose(input({ fs: fsInfo(magic) }), caps);
    assert.is.not(c.arm.plan, 'syncfs', fsInfo(magic)!.name);
    const asked = new Planner(policy).choose(input({ fs: fsInfo(magic), strategy: 'syncfs' }), caps);
    assert.is(asked.arm.plan, 'perFile');
    assert.match(asked.reason, /not trusted/);
  }
  // Named explicitly, syncfs runs even beside a noisy neighbour: the guard is auto's.
  const named = new Planner(policy).choose(input({ strategy: 'syncfs', ownDirtyBytes: 0, systemDirtyBytes: 512 * MIB }), caps);
  assert.is(named.arm.plan, 'syncfs');
  const forbidden = new Planner({ ...policy, allowSyncfs: false }).choose(input(), caps);
  assert.is.not(forbidden.arm.plan, 'syncfs');
  const old = new Planner(policy).choose(input({ strategy: 'syncfs' }), { ...caps, syncfsReportsErrors: false });
  assert.is(old.arm.plan, 'perFile');
  assert.match(old.reason, /before Linux 5\.8/);
});

test('volatile filesystems: per-file flushes for the errors, said so', () => {
  const c = new Planner(policy).choose(input({ fs: fsInfo(0x01021994), strategy: 'syncfs' }), caps);
  assert.is(c.arm.plan, 'perFile');
  assert.match(c.reason, /tmpfs is volatile/);
});

test('without the addon only per-file flushes exist; asked-for plans say why not', () => {
  const js = { ...caps, native: false, uring: false };
  for (const strategy of ['writeback', 'uring', 'syncfs'] as const) {
    const c = new Planner(policy).choose(input({ strategy }), js);
    assert.is(c.arm.plan, 'perFile');
    assert.match(c.reason, /addon/);
  }
  assert.is(new Planner(policy).choose(input(), js).arm.plan, 'perFile');
});

test('the cost model learns: measured costs replace the priors, per device', () => {
  const p = new Planner(policy);
  const first = p.choose(input(), caps);
  assert.is(first.arm.plan, 'syncfs');
  // This device's syncfs turns out slow (a busy journal) and parallel fdatasync fast.
  for (let i = 0; i < 5; i++) {
    p.observe(1n, first, 400);
    p.observe(1n, { arm: { plan: 'perFile', width: 8 }, reason: '', x: 1000, dataMs: 0 }, 40);
  }
  const later = p.choose(input(), caps);
  assert.is.not(later.arm.plan, 'syncfs');
  // Another device has learned nothing yet: the prior still says syncfs.
  assert.is(p.choose(input({ dev: 2n }), caps).arm.plan, 'syncfs');
});

test('the cost model picks the width that measured fastest', () => {
  const p = new Planner({ ...policy, allowSyncfs: false });
  const arm = (width: number) => ({ arm: { plan: 'perFile' as const, width }, reason: '', x: 200, dataMs: 0 });
  for (let i = 0; i < 4; i++) {
    for (const w of [1, 2, 4, 8]) p.observe(1n, arm(w), w === 4 ? 10 : 50);
    for (const d of [64, 512]) p.observe(1n, { arm: { plan: 'uring', depth: d }, reason: '', x: 200, dataMs: 0 }, 60);
    for (const w of [1, 2, 4, 8]) p.observe(1n, { arm: { plan: 'writeback', width: w }, reason: '', x: 200, dataMs: 0 }, 60);
  }
  const c = p.choose(input({ files: 200 }), caps);
  assert.equal(c.arm, { plan: 'perFile', width: 4 });
});

test('exploration tries another eligible plan, rarely, and only on big batches', () => {
  const always = new Planner({ ...policy, explore: 1 }, () => 0.5);
  const c = always.choose(input(), caps);
  assert.is.not(c.arm.plan, 'syncfs');
  assert.match(c.reason, /exploring/);
  const small = always.choose(input({ files: 3 }), caps);
  assert.not.match(small.reason, /exploring/);
});

test('whether a dirty-data probe is worth a round trip', () => {
  const p = new Planner(policy);
  assert.ok(p.mayUseSyncfs({ fs: ext4, files: 1000, strategy: 'auto' }, caps));
  assert.not.ok(p.mayUseSyncfs({ fs: ext4, files: 3, strategy: 'auto' }, caps));
  assert.not.ok(p.mayUseSyncfs({ fs: ext4, files: 3, strategy: 'syncfs' }, caps), 'a named syncfs needs no guard');
  assert.not.ok(p.mayUseSyncfs({ fs: ext4, files: 1000, strategy: 'perFile' }, caps));
  assert.not.ok(p.mayUseSyncfs({ fs: fsInfo(0x65735546), files: 1000, strategy: 'auto' }, caps));
});

test('the cachestat round trip is skipped when the system is nearly clean', () => {
  const p = new Planner(policy);
  assert.not.ok(p.needsOwnDirty(4 * MIB));
  assert.ok(p.needsOwnDirty(64 * MIB));
  assert.not.ok(p.needsOwnDirty(null), 'without /proc/meminfo syncfs is excluded anyway');
});

test.run();
