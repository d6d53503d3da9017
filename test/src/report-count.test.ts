// report.syscalls counts distinct syscall ids, however far apart they are: the dense path (a byte
// per id of their range) and the sparse one (a Set) must agree with a plain count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TargetResult } from '@fsync2/core';
import { makeReport } from '../../packages/core/dist/results.js';
import { rng } from './helpers.js';

const pool = { backend: 'native' as const, nativeReason: null };

function result(ids: number[], parentIds: number[][] = []): TargetResult {
  const parents = parentIds.map((p) => ({ path: '/p', ok: true, syscall: 'fsync', code: null, errno: null, syscallIds: p }));
  return { ok: true, durable: true, dev: null, plan: null, syscallIds: ids, parents } as unknown as TargetResult;
}

function count(results: TargetResult[]): number {
  return new Set(results.flatMap((r) => [...r.syscallIds, ...r.parents.flatMap((p) => p.syscallIds)])).size;
}

test('distinct ids, dense and sparse, parents included', () => {
  const cases: TargetResult[][] = [
    [result([])],
    [result([]), result([])],
    [result([3]), result([3]), result([4, 5])],
    [result([1]), result([1e9]), result([1e9, 7], [[1], [2e9]])],
    [result([Number.MAX_SAFE_INTEGER]), result([1])],
  ];
  const random = rng(9);
  for (let k = 0; k < 50; k++) {
    const base = Math.floor(random() * 1e6);
    const spread = random() < 0.5 ? 50 : 1e7;
    cases.push(Array.from({ length: 1 + Math.floor(random() * 200) }, () =>
      result(Array.from({ length: Math.floor(random() * 3) }, () => base + Math.floor(random() * spread)),
        random() < 0.2 ? [[base + Math.floor(random() * spread)]] : [])));
  }
  for (const results of cases) {
    assert.is(makeReport(results, 'auto', pool, performance.now()).syscalls, count(results), JSON.stringify(results.map((r) => r.syscallIds)));
  }
});

test.run();
