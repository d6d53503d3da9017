#!/usr/bin/env node
// The WAL demo: N concurrent appenders, R records each, one durable answer per record; then the
// log is read back and every acknowledged record must be in it.
//   node dist/main.js [--appenders 64] [--records 16] [--dir DIR] [--json]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Wal, readLog, type Appended } from './wal.js';

const { values } = parseArgs({
  options: {
    appenders: { type: 'string', default: '64' },
    records: { type: 'string', default: '16' },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const appenders = Number(values.appenders);
const perAppender = Number(values.records);
if (!Number.isInteger(appenders) || appenders < 1 || !Number.isInteger(perAppender) || perAppender < 1) {
  console.error('usage: main.js [--appenders N] [--records N] [--dir DIR] [--json]');
  process.exit(2);
}

const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fsync2-wal-'));
const file = path.join(dir, 'wal.log');
const wal = await Wal.open(file);
const started = performance.now();
const acked: Array<Appended & { payload: string }> = [];

// Each appender waits for the durable answer to its record before it appends the next one, like
// a server that acknowledges a client's write only once it is on disk.
await Promise.all(
  Array.from({ length: appenders }, async (_, a) => {
    for (let i = 0; i < perAppender; i++) {
      const payload = `appender ${a} record ${i}`;
      const answer = await wal.append(payload);
      acked.push({ ...answer, payload });
    }
  }),
);
const elapsedMs = performance.now() - started;
const stats = wal.syncer.stats();
await wal.close();

const log = await readLog(file);
const byLsn = new Map(log.records.map((r) => [r.lsn, r.payload.toString()]));
const missing = acked.filter((a) => byLsn.get(a.lsn) !== a.payload).length;
const flushes = Object.values(stats.flushes).reduce((a, b) => a + b, 0);
const summary = {
  appends: wal.appends,
  answers: acked.length,
  durable: acked.filter((a) => a.durable).length,
  flushes,
  flushesBySyscall: stats.flushes,
  merged: stats.merged,
  maxServed: Math.max(...acked.map((a) => a.served)),
  latencyMs: stats.latencyMs,
  elapsedMs,
  recordsInLog: log.records.length,
  tornBytes: log.tornBytes,
  missingAcknowledged: missing,
  log: file,
};
if (values.json) {
  console.log(JSON.stringify(summary));
} else {
  console.log(`${summary.answers} appends from ${appenders} appenders in ${elapsedMs.toFixed(1)} ms: ` +
    `${summary.durable} durable answers from ${flushes} flushes (up to ${summary.maxServed} appends per flush)`);
  console.log(`append latency p50 ${stats.latencyMs.p50.toFixed(2)} ms, p99 ${stats.latencyMs.p99.toFixed(2)} ms`);
  console.log(`read back: ${log.records.length} records, ${missing} acknowledged records missing`);
}
if (values.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
process.exitCode = missing === 0 && summary.durable === summary.answers ? 0 : 1;
