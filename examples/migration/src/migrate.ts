// A migration on fsync2's public API: copy a tree to its new home and delete each source file as
// soon as its copy is durable, never before. The order that makes that true:
//
//   1. Create the destination directories, and make them durable with their own entries in their
//      parents (`parents: true`), before any source is touched: a copy whose directory entry can
//      vanish in a crash is not a copy.
//   2. Copy the files, a batch at a time.
//   3. `syncer.each(copies, { parents: true })` yields each copy as soon as its data, metadata and
//      directory entry are on stable storage (or failed), in completion order; a durable copy whose
//      size matches its source lets that source go at once. A copy that failed, or that sits on a
//      volatile filesystem (tmpfs: flushed, never durable), keeps its source.
//
// Source directories are left in place (empty); removing a source is never a durability concern:
// should a crash undo an unlink, the file is merely still there.
import fs from 'node:fs/promises';
import path from 'node:path';
import { createSyncer, type Syncer } from '@fsync2/core';

export type MigrationEvent =
  | { readonly type: 'copied'; readonly path: string }
  | { readonly type: 'durable'; readonly path: string; readonly syscall: string | null }
  | { readonly type: 'removed'; readonly path: string }
  | { readonly type: 'kept'; readonly path: string; readonly reason: string };

export interface MigrateOptions {
  /** The syncer to flush with; by default the migration makes its own and closes it. */
  readonly syncer?: Syncer;
  /** Files copied and flushed per round (at most this many copies wait for their flush at once). */
  readonly batch?: number;
  /** Called for every step of every file, in the order they happen. */
  readonly onEvent?: (event: MigrationEvent) => void;
}

export interface MigrationResult {
  /** Regular files found under the source. */
  readonly files: number;
  /** Sources deleted (each after its copy was durable and the right size). */
  readonly removed: number;
  /** Sources kept, with why (relative path → reason). */
  readonly kept: ReadonlyArray<{ readonly path: string; readonly reason: string }>;
  readonly bytes: number;
  readonly durationMs: number;
}

interface Job {
  readonly rel: string;
  readonly src: string;
  readonly dest: string;
  readonly size: number;
}

export async function migrate(srcRoot: string, destRoot: string, options: MigrateOptions = {}): Promise<MigrationResult> {
  const started = performance.now();
  const syncer = options.syncer ?? createSyncer();
  const emit = options.onEvent ?? (() => {});
  const batch = options.batch ?? 512;
  const kept: Array<{ path: string; reason: string }> = [];
  const keep = (rel: string, reason: string) => {
    kept.push({ path: rel, reason });
    emit({ type: 'kept', path: rel, reason });
  };
  let removed = 0;
  let bytes = 0;
  let files = 0;
  try {
    const { dirs, jobs, others } = await walk(srcRoot, destRoot);
    files = jobs.length;
    for (const rel of others) keep(rel, 'not a regular file');

    // 1. Directories, durable with their entries before any source is touched.
    const broken = new Map<string, string>();
    const made: string[] = [];
    for (const rel of ['', ...dirs]) {
      const dest = path.join(destRoot, rel);
      try {
        const first = await fs.mkdir(dest, { recursive: true });
        // The destination's own ancestors that mkdir had to create need durable entries too.
        if (rel === '' && first !== undefined) {
          for (let d = path.resolve(dest, '..'); d.length >= path.resolve(first).length; d = path.dirname(d)) made.push(d);
        }
        made.push(dest);
      } catch (err) {
        broken.set(rel, `cannot create ${dest}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    // A failed flush rejects (SyncError, with every directory's result): no source is touched.
    // Directories on a volatile filesystem are flushed and reported `volatile`; so are the files
    // in them, which step 3 then keeps.
    await syncer.sync(made, { parents: true });

    // 2 and 3, a batch at a time.
    const ready = jobs.filter((j) => {
      const why = brokenAncestor(j.rel, broken);
      if (why) keep(j.rel, why);
      return !why;
    });
    for (let i = 0; i < ready.length; i += batch) {
      const copied: Job[] = [];
      for (const job of ready.slice(i, i + batch)) {
        try {
          await fs.copyFile(job.src, job.dest);
          copied.push(job);
          emit({ type: 'copied', path: job.rel });
        } catch (err) {
          keep(job.rel, `copy failed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
      }
      for await (const r of syncer.each(copied.map((j) => j.dest), { parents: true })) {
        const job = copied[r.index]!;
        if (!r.durable) {
          keep(job.rel, r.error ? `flush failed: ${r.error.code} (${r.error.syscall})` : `copy on volatile filesystem ${r.fsType}`);
          continue;
        }
        emit({ type: 'durable', path: job.rel, syscall: r.syscall });
        const size = (await fs.stat(job.dest)).size;
        if (size !== job.size) {
          keep(job.rel, `copy has ${size} bytes, source ${job.size}`);
          continue;
        }
        await fs.unlink(job.src);
        removed++;
        bytes += size;
        emit({ type: 'removed', path: job.rel });
      }
    }
  } finally {
    if (!options.syncer) await syncer.close();
  }
  return { files, removed, kept, bytes, durationMs: performance.now() - started };
}

async function walk(srcRoot: string, destRoot: string): Promise<{ dirs: string[]; jobs: Job[]; others: string[] }> {
  const dirs: string[] = [];
  const jobs: Job[] = [];
  const others: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(srcRoot, rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        dirs.push(r);
        await visit(r);
      } else if (entry.isFile()) {
        const src = path.join(srcRoot, r);
        jobs.push({ rel: r, src, dest: path.join(destRoot, r), size: (await fs.stat(src)).size });
      } else {
        others.push(r);
      }
    }
  };
  await visit('');
  return { dirs, jobs, others };
}

function brokenAncestor(rel: string, broken: ReadonlyMap<string, string>): string | null {
  for (let d = path.dirname(rel); d !== '.' && d !== ''; d = path.dirname(d)) {
    const why = broken.get(d);
    if (why) return why;
  }
  return broken.get('') ?? null;
}
