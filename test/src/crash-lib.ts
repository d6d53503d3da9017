// Simulated power cuts. A filesystem on a logging disk (blockdev.ts: the FUSE server records every
// write and every flush of the image, a userspace dm-log-writes) takes batches of new files, new
// directories, renames over old files and copies (copy_file_range); fsync2 acknowledges each batch
// with `parents: true`.
// Afterwards, crash images are rebuilt from the log (the image as mkfs left it, every write up to
// the last flush before the crash point, and a random subset of the writes after it, which a
// disk cache may or may not have kept), mounted (so the journal or log replays), and every file
// acknowledged before the crash point must be there, under its name, with exactly its content.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createSyncer, type Mode, type Strategy, type SyncerOptions, type SyncReport, type SyncTarget } from '@fsync2/core';
import { BlockDevice, mountImage, syncfs, WriteLog, type FsType } from './blockdev.js';

import { rng } from './helpers.js';
export { rng };

export function seedOf(...parts: (string | number)[]): number {
  return crypto.createHash('sha256').update(parts.join('/')).digest().readUInt32LE(0);
}

/**
 * Options for a syncer under test. Strategy 'syncfs' falls back to per-file flushes when other
 * processes hold much dirty data (the noisy-neighbour guard); here the guard is lifted so that the
 * syncfs column and the syncfs fault cases exercise syncfs itself.
 */
export function syncerOptions(strategy: Strategy): SyncerOptions {
  return {
    strategy,
    pool: { minThreads: 1, maxThreads: 8 },
    ...(strategy === 'syncfs' ? { planner: { syncfsMaxForeignMiB: 1_000_000 } } : {}),
  };
}

/** How a file of a batch came to be. */
export type FileKind =
  | 'new' //            a new file in an old directory
  | 'newDir' //         a new file in a directory created in this batch
  | 'rename' //         written to a temporary name, renamed over an old file
  | 'renameSynced' //   the same, with the temporary file fsynced before the rename, and the
//                      target passed with mode 'data': fdatasync then commits nothing (only the
//                      ctime changed), so only the fsync of the directory keeps the rename
  | 'copied'; //        a new file made by fs.copyFile (copy_file_range) from an unflushed one:
//                      on ext4 here its pages are not counted dirty (cachestat, /proc/meminfo),
//                      and syncfs must still write them

const KINDS: readonly FileKind[] = ['new', 'newDir', 'rename', 'renameSynced', 'copied'];

export interface Expected {
  readonly rel: string;
  readonly data: Buffer;
  readonly kind: FileKind;
  readonly round: number;
}

export interface Loss {
  readonly point: number;
  readonly rel: string;
  readonly kind: FileKind;
  readonly round: number;
  readonly why: string;
}

export interface CellResult {
  readonly fs: FsType;
  readonly strategy: Strategy | 'control';
  readonly label: string;
  readonly seed: number;
  /** Plans fsync2 ran (report.filesystems), with how many calls each. */
  readonly plans: Record<string, number>;
  readonly points: number;
  readonly checked: number;
  readonly lost: number;
  readonly losses: readonly Loss[];
  /** Writes after the last flush that the crash images kept / dropped, over all points. */
  readonly kept: number;
  readonly dropped: number;
  readonly logRecords: number;
  readonly seconds: number;
}

/** A random size: empty, small, unaligned, page-sized and multi-extent files. */
function size(r: () => number): number {
  const x = r();
  if (x < 0.05) return 0;
  if (x < 0.35) return 1 + Math.floor(r() * 4095);
  if (x < 0.45) return 4096 * (1 + Math.floor(r() * 4));
  if (x < 0.85) return 4097 + Math.floor(r() * 64 * 1024);
  return 64 * 1024 + Math.floor(r() * 448 * 1024);
}

function content(rel: string, round: number, n: number): Buffer {
  const head = Buffer.from(`${rel} round ${round}\n`);
  const buf = crypto.randomBytes(n);
  head.copy(buf, 0, 0, Math.min(head.length, n));
  return buf;
}

function writeFile(file: string, data: Buffer, fsync = false): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, data);
    if (fsync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

interface Workload {
  readonly mnt: string;
  readonly r: () => number;
  /** Old files, made durable by a syncfs before the first batch: rename targets. */
  readonly old: Map<string, Buffer>;
  nextOld: number;
}

function setup(mnt: string, r: () => number, oldFiles: number): Workload {
  const old = new Map<string, Buffer>();
  fs.mkdirSync(path.join(mnt, 'old'));
  fs.mkdirSync(path.join(mnt, 'noise'));
  for (let i = 0; i < oldFiles; i++) {
    const rel = `old/o${i}`;
    const data = content(rel, 0, 1 + Math.floor(r() * 8192));
    writeFile(path.join(mnt, rel), data);
    old.set(rel, data);
  }
  for (let i = 0; i < 4; i++) writeFile(path.join(mnt, `noise/z${i}`), crypto.randomBytes(16 * 1024));
  if (!syncfs(mnt)) throw new Error('syncfs of the fresh filesystem failed');
  return { mnt, r, old, nextOld: 0 };
}

/** Writes one batch (not yet flushed); returns its files, the directories it created, its targets. */
function writeBatch(w: Workload, round: number, n: number, kinds: readonly FileKind[] = KINDS): { files: Expected[]; dirs: string[]; targets: SyncTarget[] } {
  const files: Expected[] = [];
  const dirs = [`r${round}`, `r${round}/d0`, `r${round}/d0/e`, `r${round}/d1`];
  if (kinds.includes('newDir')) for (const d of dirs) fs.mkdirSync(path.join(w.mnt, d));
  const targets: SyncTarget[] = [];
  const renames: [string, string][] = [];
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % kinds.length]!;
    const len = size(w.r);
    if (kind === 'new' || kind === 'newDir') {
      const rel = kind === 'new' ? `old/n${round}_${i}` : `${dirs[1 + (i % 3)]}/f${i}`;
      const data = content(rel, round, len);
      writeFile(path.join(w.mnt, rel), data);
      files.push({ rel, data, kind, round });
      targets.push(path.join(w.mnt, rel));
    } else if (kind === 'copied') {
      const rel = `old/c${round}_${i}`;
      const data = content(rel, round, len);
      const source = path.join(w.mnt, `noise/s${round}_${i}`);
      writeFile(source, data);
      fs.copyFileSync(source, path.join(w.mnt, rel));
      files.push({ rel, data, kind, round });
      targets.push(path.join(w.mnt, rel));
    } else {
      const rel = `old/o${w.nextOld++}`;
      if (!w.old.has(rel)) throw new Error(`not enough old files for ${rel}`);
      const tmp = path.join(w.mnt, `old/.tmp${round}_${i}`);
      const data = content(rel, round, len);
      writeFile(tmp, data, kind === 'renameSynced');
      renames.push([tmp, path.join(w.mnt, rel)]);
      files.push({ rel, data, kind, round });
      targets.push(kind === 'renameSynced' ? { target: path.join(w.mnt, rel), mode: 'data' } : path.join(w.mnt, rel));
    }
  }
  // The renames after every write: an fsync of a later temporary file would otherwise commit the
  // journal transaction holding the earlier renames (ext4, xfs), and hide a missing directory fsync.
  for (const [from, to] of renames) fs.renameSync(from, to);
  // New directories are targets too: `parents` fsyncs the directory holding each target, so a
  // new directory's own entry (in its parent) is durable only when the directory is a target.
  if (kinds.includes('newDir')) for (const d of dirs) targets.push(path.join(w.mnt, d));
  return { files, dirs, targets };
}

/** Unflushed traffic between batches: overwrites, a create and an unlink, nobody flushes them. */
function noise(w: Workload, round: number): void {
  for (let i = 0; i < 4; i++) {
    if (w.r() < 0.5) writeFile(path.join(w.mnt, `noise/z${i}`), crypto.randomBytes(4096 + Math.floor(w.r() * 65536)));
  }
  const t = path.join(w.mnt, `noise/t${round}`);
  writeFile(t, crypto.randomBytes(8192));
  if (w.r() < 0.5) fs.unlinkSync(t);
}

/** Mounts the crash image for `point` and checks `expected`; returns the losses. */
function check(dev: BlockDevice, log: WriteLog, point: number, expected: Iterable<Expected>, old: Map<string, Buffer>, keep: (i: number) => boolean, tally: { kept: number; dropped: number }): Loss[] {
  const image = path.join(dev.dir, 'crash.img');
  const mnt = path.join(dev.dir, 'crash-mnt');
  const { kept, dropped } = log.buildImage(dev.base!, image, point, keep);
  tally.kept += kept;
  tally.dropped += dropped;
  const losses: Loss[] = [];
  let mounted: { release(): void } | null = null;
  try {
    try {
      mounted = mountImage(dev.fs, image, mnt);
    } catch (err) {
      const why = `the crash image does not mount: ${(err as Error).message.split('\n')[0]}`;
      for (const e of expected) losses.push({ point, rel: e.rel, kind: e.kind, round: e.round, why });
      return losses;
    }
    for (const e of expected) {
      let got: Buffer;
      try {
        got = fs.readFileSync(path.join(mnt, e.rel));
      } catch (err) {
        losses.push({ point, rel: e.rel, kind: e.kind, round: e.round, why: (err as NodeJS.ErrnoException).code ?? String(err) });
        continue;
      }
      if (got.equals(e.data)) continue;
      const why = old.get(e.rel)?.equals(got)
        ? 'the old file is back (the rename was lost)'
        : got.length !== e.data.length
          ? `size ${got.length}, expected ${e.data.length}`
          : 'content differs';
      losses.push({ point, rel: e.rel, kind: e.kind, round: e.round, why });
    }
    return losses;
  } finally {
    mounted?.release();
    fs.rmSync(image, { force: true });
  }
}

export interface CellOptions {
  readonly fs: FsType;
  readonly strategy: Strategy;
  readonly rounds: number;
  readonly files: number;
  readonly points: number;
  readonly seed: number;
  readonly progress?: (line: string) => void;
}

/** One cell of the matrix: a filesystem, a strategy, `rounds` acknowledged batches, `points` crashes. */
export async function runCell(o: CellOptions): Promise<CellResult> {
  const started = performance.now();
  const seed = seedOf(o.seed, o.fs, o.strategy);
  const r = rng(seed);
  const dev = await BlockDevice.create({ fs: o.fs, log: true, name: `crash-${o.strategy}` });
  const syncer = createSyncer(syncerOptions(o.strategy));
  const plans: Record<string, number> = {};
  const acked: { ack: number; files: Expected[] }[] = [];
  let w: Workload;
  let log: WriteLog;
  try {
    try {
      w = setup(dev.mnt, r, o.rounds * o.files);
      for (let round = 1; round <= o.rounds; round++) {
        const batch = writeBatch(w, round, o.files);
        const mode: Mode = round % 2 === 1 ? 'data' : 'full';
        const report: SyncReport = await syncer.sync(batch.targets, { parents: true, mode });
        const ack = dev.status().seq; // the acknowledgement point: everything before it was served
        if (!report.durable) throw new Error(`round ${round}: not durable: ${JSON.stringify(report.filesystems)}`);
        for (const f of report.filesystems) plans[f.plan] = (plans[f.plan] ?? 0) + 1;
        acked.push({ ack, files: batch.files });
        dev.ctl(`mark ack ${round}`);
        noise(w, round);
      }
    } finally {
      await syncer.close();
      await dev.stop(); // unmount: its writes and flushes are the end of the log
    }
    log = new WriteLog(dev.logPath!);

    // Crash points: each acknowledgement point, then random points after the first one.
    const points: number[] = acked.map((a) => a.ack).slice(0, o.points);
    const first = acked[0]!.ack;
    while (points.length < o.points) points.push(first + Math.floor(r() * (log.end - first + 1)));
    const tally = { kept: 0, dropped: 0 };
    const losses: Loss[] = [];
    let checked = 0;
    for (const point of points) {
      const expected = new Map<string, Expected>();
      for (const a of acked) if (a.ack <= point) for (const f of a.files) expected.set(f.rel, f);
      const pr = rng(seedOf(seed, point));
      const lost = check(dev, log, point, expected.values(), w.old, () => pr() < 0.5, tally);
      checked += expected.size;
      losses.push(...lost);
      o.progress?.(`${o.fs} ${o.strategy}: crash at ${point}/${log.end}: ${expected.size} files, ${lost.length} lost`);
    }
    return {
      fs: o.fs, strategy: o.strategy, label: o.strategy, seed, plans, points: points.length, checked, lost: losses.length, losses,
      kept: tally.kept, dropped: tally.dropped, logRecords: log.end, seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await dev.close();
  }
}

export type ControlKind = 'noFlush' | 'renameNoParents';

export const CONTROLS: Record<ControlKind, string> = {
  noFlush: 'no flush at all: a batch written, nothing flushed, crash at that point',
  renameNoParents: "renames over old files, each file fsynced before its rename, then fsync2 with mode 'data' and parents: false (perFile)",
};

/**
 * A control: proves that the harness sees loss when the promise is not kept. The crash images
 * keep none of the unflushed writes (a legal outcome of a power cut).
 */
export async function runControl(fsType: FsType, kind: ControlKind, files: number, seed0: number): Promise<CellResult> {
  const started = performance.now();
  const seed = seedOf(seed0, fsType, kind);
  const r = rng(seed);
  const dev = await BlockDevice.create({ fs: fsType, log: true, name: `control-${kind}` });
  const syncer = createSyncer(syncerOptions('perFile'));
  const plans: Record<string, number> = {};
  let w: Workload;
  let batch: { files: Expected[]; targets: SyncTarget[] };
  let point: number;
  try {
    try {
      w = setup(dev.mnt, r, files);
      if (kind === 'noFlush') {
        batch = writeBatch(w, 1, files);
      } else {
        batch = writeBatch(w, 1, files, ['renameSynced']);
        const report = await syncer.sync(batch.targets, { mode: 'data', parents: false });
        for (const f of report.filesystems) plans[f.plan] = (plans[f.plan] ?? 0) + 1;
      }
      point = dev.status().seq;
    } finally {
      await syncer.close();
      await dev.stop();
    }
    const log = new WriteLog(dev.logPath!);
    const tally = { kept: 0, dropped: 0 };
    const losses = check(dev, log, point, batch.files, w.old, () => false, tally);
    return {
      fs: fsType, strategy: 'control', label: kind, seed, plans, points: 1, checked: batch.files.length, lost: losses.length, losses,
      kept: tally.kept, dropped: tally.dropped, logRecords: log.end, seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await dev.close();
  }
}

function plansText(p: Record<string, number>): string {
  return Object.entries(p).map(([k, v]) => `${k}×${v}`).join(' ') || '–';
}

/** The matrix as a markdown table: strategy × filesystem, then the controls. */
export function matrixMarkdown(cells: readonly CellResult[], controls: readonly CellResult[], skipped: Partial<Record<FsType, string>>): string {
  const fsTypes = [...new Set(cells.map((c) => c.fs))];
  const strategies = [...new Set(cells.map((c) => c.strategy))];
  const lines: string[] = [];
  lines.push(`| strategy | ${fsTypes.join(' | ')} |`);
  lines.push(`|---|${fsTypes.map(() => '---').join('|')}|`);
  for (const s of strategies) {
    const row = fsTypes.map((f) => {
      const c = cells.find((x) => x.fs === f && x.strategy === s);
      return c ? `${c.points} points, ${c.checked} files checked, **${c.lost} lost** (plans: ${plansText(c.plans)})` : 'not run';
    });
    lines.push(`| \`${s}\` | ${row.join(' | ')} |`);
  }
  for (const [f, why] of Object.entries(skipped)) lines.push(`\n${f}: skipped (${why})`);
  if (controls.length) {
    lines.push('');
    lines.push(`| control (must lose files) | ${fsTypes.join(' | ')} |`);
    lines.push(`|---|${fsTypes.map(() => '---').join('|')}|`);
    for (const k of [...new Set(controls.map((c) => c.label))]) {
      const row = fsTypes.map((f) => {
        const c = controls.find((x) => x.fs === f && x.label === k);
        return c ? `${c.lost} of ${c.checked} lost` : 'not run';
      });
      lines.push(`| ${CONTROLS[k as ControlKind] ?? k} | ${row.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

export function lossesText(cells: readonly CellResult[]): string[] {
  const out: string[] = [];
  for (const c of cells) {
    for (const l of c.losses) out.push(`${c.fs} ${c.label} (seed ${c.seed}): crash at ${l.point}: ${l.rel} (${l.kind}, round ${l.round}): ${l.why}`);
  }
  return out;
}
