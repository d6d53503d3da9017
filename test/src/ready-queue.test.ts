// The scheduler's ready queue against a Set, its model: same members, same order, under a seeded
// random mix of add, delete and take, including items deleted and queued again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReadyQueue } from '../../packages/core/dist/ready-queue.js';
import { rng } from './helpers.js';

interface Item {
  readonly id: number;
  readySeq: number;
}

test('oldest first; an item queued twice keeps its place; a deleted one queued again goes to the end', () => {
  const q = new ReadyQueue<Item>();
  const [a, b, c] = [0, 1, 2].map((id) => ({ id, readySeq: 0 }));
  q.add(a!);
  q.add(b!);
  q.add(a!);
  q.add(c!);
  assert.is(q.size, 3);
  q.delete(a!);
  q.delete(a!);
  assert.is(q.size, 2);
  q.add(a!);
  assert.equal(q.take(2).map((x) => x.id), [1, 2]);
  assert.equal(q.take(5).map((x) => x.id), [0]);
  assert.is(q.size, 0);
  assert.equal(q.take(1), []);
  assert.is(a!.readySeq, 0, 'a taken item is no longer queued');
});

test('20,000 random operations agree with a Set', () => {
  const random = rng(5);
  const q = new ReadyQueue<Item>();
  const model = new Set<Item>();
  const items = Array.from({ length: 300 }, (_, id) => ({ id, readySeq: 0 }));
  for (let i = 0; i < 20_000; i++) {
    const r = random();
    const x = items[Math.floor(random() * items.length)]!;
    if (r < 0.5) {
      q.add(x);
      model.add(x);
    } else if (r < 0.8) {
      q.delete(x);
      model.delete(x);
    } else {
      const n = 1 + Math.floor(random() * 40);
      const want = [...model].slice(0, n);
      for (const y of want) model.delete(y);
      assert.equal(q.take(n).map((y) => y.id), want.map((y) => y.id), `step ${i}`);
    }
    assert.is(q.size, model.size, `step ${i}`);
  }
  assert.equal(q.take(1000).map((y) => y.id), [...model].map((y) => y.id));
});

test.run();
