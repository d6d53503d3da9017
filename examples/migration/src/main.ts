#!/usr/bin/env node
// The migration demo.
//   node dist/main.js SRC DEST [--json]     migrate a real tree: SRC's files end up in DEST, SRC's files are deleted
//   node dist/main.js [--files 2000] [--json]  the same on a generated tree in a temp dir, checked byte for byte
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { migrate, type MigrationEvent } from './migrate.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { files: { type: 'string', default: '2000' }, json: { type: 'boolean', default: false } },
});

let src: string;
let dest: string;
let expected: Map<string, string> | null = null;
let temp: string | null = null;
if (positionals.length === 2) {
  [src, dest] = positionals as [string, string];
} else if (positionals.length === 0) {
  temp = fs.mkdtempSync(path.join(os.tmpdir(), 'fsync2-migration-'));
  src = path.join(temp, 'old');
  dest = path.join(temp, 'new');
  expected = generate(src, Number(values.files));
} else {
  console.error('usage: main.js [SRC DEST] [--files N] [--json]');
  process.exit(2);
}

let firstRemovalAt = -1;
let durableSoFar = 0;
const onEvent = (e: MigrationEvent) => {
  if (e.type === 'durable') durableSoFar++;
  if (e.type === 'removed' && firstRemovalAt < 0) firstRemovalAt = durableSoFar;
};
const result = await migrate(src, dest, { onEvent });

let mismatched = 0;
if (expected) {
  for (const [rel, hash] of expected) {
    const copy = path.join(dest, rel);
    if (!fs.existsSync(copy) || sha256(fs.readFileSync(copy)) !== hash) mismatched++;
  }
}
const summary = { ...result, firstRemovalAfterDurable: firstRemovalAt, mismatched: expected ? mismatched : null };
if (values.json) {
  console.log(JSON.stringify(summary));
} else {
  console.log(`${result.removed} of ${result.files} sources removed after their copies were durable ` +
    `(${(result.bytes / 2 ** 20).toFixed(1)} MiB in ${result.durationMs.toFixed(1)} ms); ${result.kept.length} kept`);
  for (const k of result.kept.slice(0, 20)) console.log(`  kept ${k.path}: ${k.reason}`);
  if (expected) console.log(`copies checked byte for byte: ${expected.size - mismatched} equal, ${mismatched} different`);
}
if (temp) fs.rmSync(temp, { recursive: true, force: true });
process.exitCode = result.kept.length === 0 && mismatched === 0 ? 0 : 1;

/** n files of mixed sizes in nested directories; returns relative path → sha256. */
function generate(root: string, n: number): Map<string, string> {
  const hashes = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const rel = path.join(`d${i % 7}`, `e${i % 3}`, `file${i}.bin`);
    const size = [0, 100, 4096, 20_000, 70_000][i % 5]!;
    const data = Buffer.alloc(size, `${i}:`);
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
    hashes.set(rel, sha256(data));
  }
  return hashes;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
