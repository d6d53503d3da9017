// The scoreboard's smoke test: `bench --quick` runs end to end and writes output a program can
// read. It never asserts a timing: CI machines differ, and a benchmark is not a pass/fail test.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

// This file runs as test/dist/bench-smoke.test.js.
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = path.join(REPO, 'bench', 'dist', 'bench.js');
const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7'];

interface Row {
  id: string;
  samples: number[];
  median: number;
}
interface Doc {
  schema: string;
  rounds: number;
  machine: { kernel: string; cpus: number; node: string; scratch: { fsType: string } };
  skipped: Array<{ workload: string; reason: string }>;
  cases: Array<{
    id: string;
    workload: string;
    metrics: Array<{ key: string; rows: Row[] }>;
    contenders: Array<{ id: string; family: string; skipped?: string; notApplicable?: string; error?: string }>;
  }>;
}

test('bench --quick exits 0, prints the table, writes latest.json with samples and latest.svg', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fsync2-bench-smoke-'));
  try {
    // A generous safety net only, far above the minute --quick takes: not a timing assertion.
    const res = spawnSync(process.execPath, [BENCH, '--quick', '--out', out], { encoding: 'utf8', timeout: 10 * 60_000 });
    assert.is(res.status, 0, `bench exited ${res.status ?? res.signal}:\n${res.stderr}`);
    assert.ok(res.stdout.includes('W1'), 'the table is printed on stdout');

    const doc = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8')) as Doc;
    assert.is(doc.schema, 'fsync2-bench/1');
    assert.type(doc.machine.kernel, 'string');
    assert.ok(doc.machine.cpus > 0);
    assert.ok(doc.rounds > 0);

    // Every workload either ran or says why not (W7 needs root and loop devices).
    for (const w of WORKLOADS) {
      const ran = doc.cases.some((c) => c.workload === w);
      const why = doc.skipped.find((s) => s.workload === w);
      assert.ok(ran || (why && why.reason.length > 0), `${w} neither ran nor gave a reason`);
      if (!ran) console.log(`SKIP bench ${w}: ${why!.reason}`);
    }

    for (const c of doc.cases) {
      for (const who of c.contenders) assert.not.ok(who.error, `${c.id} ${who.id} failed: ${who.error}`);
      assert.ok(c.metrics.length > 0, `${c.id} has metrics`);
      for (const m of c.metrics) {
        assert.ok(m.rows.length > 0, `${c.id} ${m.key} has rows`);
        assert.ok(m.rows.some((r) => r.id.startsWith('fsync2-')), `${c.id} ${m.key} measured fsync2`);
        for (const r of m.rows) {
          assert.is(r.samples.length, doc.rounds, `${c.id} ${m.key} ${r.id}: one sample per round`);
          for (const s of r.samples) {
            assert.ok(typeof s === 'number' && Number.isFinite(s) && s > 0, `${c.id} ${m.key} ${r.id}: sample ${s}`);
          }
        }
      }
    }

    const svg = fs.readFileSync(path.join(out, 'latest.svg'), 'utf8');
    assert.ok(svg.startsWith('<svg'), 'latest.svg starts with <svg');
    assert.ok(svg.trimEnd().endsWith('</svg>'), 'latest.svg is complete');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test.run();
