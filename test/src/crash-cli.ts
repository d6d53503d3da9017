// The long power-cut run (`pnpm test:crash`): the CI suite's matrix (crash.test.ts) with many more
// crash points, batches and files. Prints progress, the matrix as markdown, every lost file, and
// exits 1 when an acknowledged file was lost or a control lost nothing.
//
//   pnpm test:crash [--points N] [--rounds N] [--files N] [--seed N] [--fs ext4,xfs,btrfs]
//                   [--strategies auto,perFile,writeback,uring,syncfs] [--json FILE]
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { STRATEGIES, type Strategy } from '@fsync2/core';
import { FS_TYPES, requirements, type FsType } from './blockdev.js';
import { CONTROLS, lossesText, matrixMarkdown, runCell, runControl, type CellResult, type ControlKind } from './crash-lib.js';

const { values } = parseArgs({
  options: {
    points: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '4' },
    files: { type: 'string', default: '16' },
    seed: { type: 'string', default: '1' },
    fs: { type: 'string', default: FS_TYPES.join(',') },
    strategies: { type: 'string', default: STRATEGIES.join(',') },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log('pnpm test:crash [--points N] [--rounds N] [--files N] [--seed N] [--fs ext4,xfs,btrfs] [--strategies ...] [--json FILE]');
  process.exit(0);
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${v}`);
    process.exit(2);
  }
  return n;
}

const points = positive('points', values.points);
const rounds = positive('rounds', values.rounds);
const files = positive('files', values.files);
const seed = Number(values.seed);
const fsTypes = values.fs.split(',').filter(Boolean) as FsType[];
const strategies = values.strategies.split(',').filter(Boolean) as Strategy[];
for (const f of fsTypes) if (!FS_TYPES.includes(f)) throw new Error(`unknown filesystem ${f}`);
for (const s of strategies) if (!STRATEGIES.includes(s)) throw new Error(`unknown strategy ${s}`);

const req = requirements();
if (req.reason) {
  console.log(`SKIP crash matrix: ${req.reason}`);
  process.exit(0);
}
if (req.installed.length) console.log(`installed: ${req.installed.join(' ')}`);

const started = Date.now();
const tty = process.stdout.isTTY === true;
const cells: CellResult[] = [];
const controls: CellResult[] = [];
const skipped: Partial<Record<FsType, string>> = {};
let failures = 0;

for (const fsType of fsTypes) {
  const why = req.fsReason[fsType];
  if (why) {
    skipped[fsType] = why;
    console.log(`SKIP ${fsType}: ${why}`);
    continue;
  }
  for (const kind of Object.keys(CONTROLS) as ControlKind[]) {
    let c: CellResult | null = null;
    for (let attempt = 0; attempt < 3 && (!c || c.lost === 0); attempt++) c = await runControl(fsType, kind, files, seed + attempt);
    controls.push(c!);
    console.log(`${fsType} control ${kind}: ${c!.lost} of ${c!.checked} lost`);
    if (kind === 'noFlush' && c!.lost === 0) {
      console.log(`  FAIL: the harness saw no loss without a flush on ${fsType}`);
      failures++;
    }
  }
  for (const strategy of strategies) {
    const c = await runCell({
      fs: fsType, strategy, rounds, files, points, seed,
      progress: tty ? (line) => process.stdout.write(`\r${line}`.padEnd(100)) : undefined,
    });
    if (tty) process.stdout.write('\r'.padEnd(100) + '\r');
    cells.push(c);
    console.log(`${fsType} ${strategy}: ${c.points} crash points, ${c.checked} files checked, ${c.lost} lost, ` +
      `${c.kept}/${c.kept + c.dropped} unflushed writes kept, ${c.logRecords} log records, ${c.seconds.toFixed(1)} s`);
    for (const line of lossesText([c])) console.log(`  LOST ${line}`);
    if (c.lost) failures++;
  }
}

const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\n--points ${points} --rounds ${rounds} --files ${files} --seed ${seed}, ${minutes} min, Linux ${(await import('node:os')).release()}\n`);
console.log(matrixMarkdown(cells, controls, skipped));
if (values.json) fs.writeFileSync(values.json, JSON.stringify({ points, rounds, files, seed, minutes, cells, controls }, null, 2));
console.log(failures ? `\n${failures} failed` : '\nno acknowledged file lost');
process.exit(failures ? 1 : 0);
