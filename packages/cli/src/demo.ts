// The main job on an embedded default: generate a sample tree (a few thousand files of mixed
// sizes, nested) in a temp dir, run `fsync2 copy --remove-source` into another, and print its
// report beside the time of a naive Node copy + filehandle.datasync() loop of the same tree.
// Each side copies its own fresh tree: re-flushing the same files would flatter whoever is second.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from './cli.js';

const { values } = parseArgs({
  options: { files: { type: 'string', default: '3000' }, dir: { type: 'string', default: os.tmpdir() } },
});
const count = Number(values.files);
if (!Number.isInteger(count) || count < 1) {
  console.error(`--files must be a positive integer, got ${values.files}`);
  process.exit(2);
}

/** 1 KiB to 64 KiB files, three levels deep, the same for every call. */
function sampleTree(root: string): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `d${i % 10}`, `e${i % 7}`, `g${i % 3}`);
    fs.mkdirSync(dir, { recursive: true });
    const size = 1024 << i % 7;
    fs.writeFileSync(path.join(dir, `f${i}.bin`), Buffer.alloc(size, i & 0xff));
    bytes += size;
  }
  return bytes;
}

async function naiveCopy(src: string, dest: string): Promise<void> {
  for (const entry of await fsp.readdir(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = path.join(dest, entry.name);
    if (entry.isDirectory()) {
      await fsp.mkdir(to);
      await naiveCopy(from, to);
    } else {
      await fsp.copyFile(from, to);
      const fh = await fsp.open(to, 'r');
      await fh.datasync();
      await fh.close();
    }
  }
}

const work = fs.mkdtempSync(path.join(values.dir, 'fsync2-demo-'));
try {
  const fsType = fs.statfsSync(work).type;
  const bytes = sampleTree(path.join(work, 'naive-src'));
  fs.mkdirSync(path.join(work, 'naive-dest'));
  const t0 = performance.now();
  await naiveCopy(path.join(work, 'naive-src'), path.join(work, 'naive-dest'));
  const naiveMs = performance.now() - t0;

  sampleTree(path.join(work, 'src'));
  console.log(`fsync2 demo: ${count} files (${(bytes / 2 ** 20).toFixed(1)} MiB, 1-64 KiB, nested) in ${work} (f_type 0x${fsType.toString(16)})`);
  console.log(`$ fsync2 copy --remove-source ${path.join(work, 'src')} ${path.join(work, 'dest')}`);
  const t1 = performance.now();
  const code = await runCli(['copy', '--remove-source', path.join(work, 'src'), path.join(work, 'dest')], {
    out: (s) => console.log(`  ${s}`),
    err: (s) => console.error(`  ${s}`),
  });
  const fsync2Ms = performance.now() - t1;
  const left = fs.existsSync(path.join(work, 'src'));
  console.log(`fsync2 copy --remove-source: ${fsync2Ms.toFixed(0)} ms (copies, their ${count} files and every new directory durable, sources removed as each copy became durable${left ? '; some sources kept' : ''})`);
  console.log(`naive Node copy + datasync loop: ${naiveMs.toFixed(0)} ms (files only: its directories are not durable, and it removes nothing)`);
  console.log(`fsync2 took ${(fsync2Ms / naiveMs).toFixed(2)}x the naive loop's time (one run on a shared machine; \`pnpm bench\` has medians)`);
  process.exitCode = code;
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
