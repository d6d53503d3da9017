// The chunk plans of one pipelined call are one batch to the cost model: plans that overlap in time
// on a device are measured together (their files, first start to last answer), and a failure in
// the group teaches nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Pipeline } from '../../packages/core/dist/pipeline.js';
import type { Choice } from '../../packages/core/dist/planner.js';

const choice = (reason: string): Choice => ({ arm: { plan: 'perFile', width: 8 }, regime: 'quiet', reason, x: 10_000, dataMs: 0 });

test('overlapping plans on a device are measured as one: their files, from the first start to the last answer', () => {
  const p = new Pipeline(10_000);
  const first = choice('first');
  assert.is(p.choiceFor(1n), undefined);
  p.started(1n, first, 1025, 100);
  p.started(1n, choice('second'), 2048, 110);
  assert.is(p.choiceFor(1n), first, "the device's later plans take the first plan's choice");
  assert.is(p.ended(1n, 300, false), null, 'one plan still running');
  p.started(1n, first, 4096, 320);
  assert.is(p.ended(1n, 250, false), null, 'an answer earlier than the last one seen');
  assert.equal(p.ended(1n, 400, false), { files: 1025 + 2048 + 4096, ms: 300 });
  // After a gap, a new group: measured on its own.
  p.started(1n, first, 2831, 500);
  assert.equal(p.ended(1n, 560, false), { files: 2831, ms: 60 });
});

test('devices are apart; a failed plan keeps its whole group from teaching', () => {
  const p = new Pipeline(6);
  const a = choice('a');
  const b = choice('b');
  p.started(1n, a, 3, 0);
  p.started(2n, b, 3, 0);
  assert.is(p.choiceFor(2n), b);
  p.started(1n, a, 2, 5);
  assert.is(p.ended(1n, 10, true), null);
  assert.is(p.ended(2n, 40, false)?.ms, 40);
  assert.is(p.ended(1n, 20, false), null, 'the group held a failed plan');
  assert.is(p.ended(1n, 30, false), null, 'nothing left running there');
});

test.run();
