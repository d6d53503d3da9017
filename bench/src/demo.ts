// The main job until the CLI lands: write a few thousand files in a temp dir, make them durable
// with fsync2, and time Node's own answer (a loop of filehandle.datasync()) on a fresh set of
// files of the same sizes. Fresh files for each side: rewriting the same ones would let ext4's
// auto_da_alloc start writeback early and flatter whoever runs second.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createSyncer, SyncError, type SyncReport } from '@fsync2/core';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '3000' },
    dir: { type: 'string', default: os.tmpdir() },
  },
});
const count = Number(values.files);
if (!Number.isInteger(count) || count < 1) {
  console.error(`--files must be a positive integer, got ${values.files}`);
  process.exit(2);
}

/** Mixed sizes, nested two levels deep: 1 KiB to 64 KiB, repeatable from the index. */
function tree(root: string): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `d${i % 10}`, `e${i % 7}`);
    fs.mkdirSync(dir, { recursive: true });
    const size = 1024 << i % 7;
    const file = path.join(dir, `f${i}.bin`);
    fs.writeFileSync(file, Buffer.alloc(size, i & 0xff));
    files.push(file);
    bytes += size;
  }
  return { files, bytes };
}

async function nodeLoop(files: string[]): Promise<number> {
  const t0 = performance.now();
  for (const file of files) {
    const fh = await fsp.open(file, 'r');
    await fh.datasync();
    await fh.close();
  }
  return performance.now() - t0;
}

const work = fs.mkdtempSync(path.join(values.dir, 'fsync2-demo-'));
const syncer = createSyncer({ mode: 'data' });
try {
  const fsType = fs.statfsSync(work).type;
  const a = tree(path.join(work, 'node'));
  const nodeMs = await nodeLoop(a.files);

  const b = tree(path.join(work, 'fsync2'));
  let report: SyncReport;
  try {
    report = await syncer.sync(b.files, { parents: true });
  } catch (err) {
    if (!(err instanceof SyncError)) throw err;
    report = err.report;
    for (const e of err.errors.slice(0, 10)) console.error(`  not durable: ${e.message}`);
  }
  const durable = report.results.filter((r) => r.durable).length;
  const dirs = new Set(report.results.flatMap((r) => r.parents.map((p) => p.path))).size;
  const mib = (b.bytes / 2 ** 20).toFixed(1);
  console.log(`fsync2 demo: ${count} new files (${mib} MiB, 1-64 KiB each) in ${work} (f_type 0x${fsType.toString(16)})`);
  console.log(`  backend ${report.backend}${report.nativeReason ? ` (${report.nativeReason})` : ''}, strategy ${report.strategy}`);
  for (const f of report.filesystems) console.log(`  filesystem ${f.fsType} (dev ${f.dev}): plan ${f.plan}: ${f.reason}`);
  console.log(`  fsync2:  ${report.durationMs.toFixed(1).padStart(8)} ms  ${durable}/${count} files durable, ${dirs} parent directories fsynced, ${report.syscalls} flush syscalls`);
  console.log(`  node:    ${nodeMs.toFixed(1).padStart(8)} ms  loop of open + filehandle.datasync() + close (files only, no directories)`);
  console.log(`  fsync2 took ${(report.durationMs / nodeMs).toFixed(2)}x the time of Node's loop (one run on a shared machine: see \`pnpm bench\` for medians)`);
  process.exitCode = report.durable ? 0 : 1;
} finally {
  await syncer.close();
  fs.rmSync(work, { recursive: true, force: true });
}
