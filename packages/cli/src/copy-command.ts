// `fsync2 copy SRC… DEST`: copy files and trees, make the copies and their directories durable,
// verify them, and only then (--remove-source) remove each source whose copy is durable and
// verified, as each completes. An interrupt stops the removals: a source is never removed before
// its copy is known durable.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Mode, Strategy, Syncer, TargetResult } from '@fsync2/core';
import { UsageError } from './config.js';
import { failureOf, filesystemLines, filesystemsOf, json, mib, printFailures, type Failure } from './output.js';
import { progress } from './progress.js';
import type { Io } from './sync-command.js';
import { walk } from './walk.js';

export interface CopyFlags {
  readonly mode: Mode;
  readonly strategy?: Strategy;
  readonly json: boolean;
  readonly follow: boolean;
  readonly removeSource: boolean;
  readonly verify: boolean;
}

/** Set by SIGINT/SIGTERM: finish what runs, start no more removals. */
export interface Stop {
  requested: boolean;
}

interface Job {
  readonly src: string;
  readonly dest: string;
  readonly size: number;
}

const COPY_CONCURRENCY = 16;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function copyOne(job: Job): Promise<void> {
  const st = await fs.stat(job.src);
  await fs.copyFile(job.src, job.dest);
  await fs.chmod(job.dest, st.mode & 0o7777);
  await fs.utimes(job.dest, st.atime, st.mtime);
}

export async function copyCommand(
  syncer: Syncer,
  sources: readonly string[],
  destination: string,
  flags: CopyFlags,
  io: Io,
  stop: Stop,
): Promise<number> {
  const started = performance.now();
  const dest = path.resolve(destination);
  const intoDir = await isDir(dest);
  if (!intoDir && sources.length > 1) throw new UsageError(`copying ${sources.length} sources needs DEST to be an existing directory: ${dest}`);
  if (!intoDir && !(await isDir(path.dirname(dest)))) throw new UsageError(`the directory of DEST does not exist: ${path.dirname(dest)}`);

  const failures: Failure[] = [];
  const jobs: Job[] = [];
  const dirs: Array<{ src: string; dest: string }> = [];
  const sourceDirs: string[] = [];
  const links: Array<{ src: string; dest: string }> = [];
  for (const source of sources) {
    const root = path.resolve(source);
    const target = intoDir ? path.join(dest, path.basename(root)) : dest;
    if (target === root || target.startsWith(root + path.sep)) throw new UsageError(`cannot copy ${root} into itself (${target})`);
    const tree = await walk([root], flags.follow);
    const map = (p: string) => path.join(target, path.relative(root, p));
    for (const d of tree.dirs) dirs.push({ src: d, dest: map(d) });
    sourceDirs.push(...tree.dirs);
    for (const f of tree.files) jobs.push({ src: f.path, dest: map(f.path), size: f.size });
    for (const e of tree.errors) failures.push({ path: e.path, code: e.error.code ?? 'EIO', syscall: e.error.syscall ?? null, message: e.error.message });
    for (const l of tree.links) links.push({ src: l, dest: map(l) });
    for (const s of tree.skipped) failures.push({ path: s, code: 'ESKIPPED', syscall: null, message: `${s} is a FIFO, socket or device: not copied, kept` });
  }

  // Directories first (parents before children, as walked), remembering the ones we created:
  // their own entries must be durable before any source is removed.
  const created: string[] = [];
  for (const d of dirs) {
    try {
      await fs.mkdir(d.dest);
      created.push(d.dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') failures.push({ path: d.dest, code: (err as NodeJS.ErrnoException).code ?? 'EIO', syscall: 'mkdir', message: (err as Error).message });
    }
  }

  const copyBar = progress('copied ', jobs.length, !flags.json);
  const copied: Job[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(COPY_CONCURRENCY, jobs.length) }, async () => {
      while (next < jobs.length && !stop.requested) {
        const job = jobs[next++]!;
        try {
          await copyOne(job);
          copied.push(job);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          failures.push({ path: job.src, code: e.code ?? 'EIO', syscall: e.syscall ?? null, message: `not copied, source kept: ${e.message}` });
        }
        copyBar.add(1, job.size);
      }
    }),
  );
  copyBar.stop();
  // Symlinks are copied as symlinks; their entries become durable with their directories.
  const linked: Array<{ src: string; dest: string }> = [];
  for (const l of links) {
    if (stop.requested) break;
    try {
      await fs.symlink(await fs.readlink(l.src), l.dest);
      linked.push(l);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      failures.push({ path: l.src, code: e.code ?? 'EIO', syscall: e.syscall ?? null, message: `symlink not copied, kept: ${e.message}` });
    }
  }
  for (const d of [...dirs].reverse()) {
    try {
      const st = await fs.stat(d.src);
      await fs.chmod(d.dest, st.mode & 0o7777);
      await fs.utimes(d.dest, st.atime, st.mtime);
    } catch {
      // best effort: a directory's times are not the data we promise
    }
  }

  // The created directories and the directories that hold them: durable first.
  const dirTargets = [...new Set([...created, ...created.map((d) => path.dirname(d)), ...linked.map((l) => path.dirname(l.dest))])];
  let dirsDurable = true;
  if (dirTargets.length > 0 && !stop.requested) {
    try {
      const report = await syncer.sync(dirTargets, { mode: 'full' });
      dirsDurable = report.durable;
      for (const r of report.results) if (!r.durable) failures.push(failureOf(r));
    } catch (err) {
      dirsDurable = false;
      const report = (err as { report?: { results: TargetResult[] } }).report;
      if (!report) throw err;
      for (const r of report.results) if (!r.durable) failures.push(failureOf(r));
    }
  }

  const byDest = new Map(copied.map((j) => [j.dest, j]));
  const results: TargetResult[] = [];
  const bar = progress('durable', copied.length, !flags.json);
  let removed = 0;
  let verified = 0;
  if (!stop.requested && copied.length > 0) {
    const strategy = flags.strategy ? { strategy: flags.strategy } : {};
    for await (const r of syncer.each(copied.map((j) => j.dest), { mode: flags.mode, parents: true, ...strategy })) {
      results.push(r);
      const job = byDest.get(r.path!)!;
      bar.add(1, job.size);
      if (!r.durable) {
        failures.push({ ...failureOf(r), message: `${failureOf(r).message}; source kept: ${job.src}` });
        continue;
      }
      const problem = await verifyCopy(job, flags.verify);
      if (problem) {
        failures.push({ path: job.dest, code: 'EVERIFY', syscall: null, message: `${problem}; source kept: ${job.src}` });
        continue;
      }
      verified++;
      if (flags.removeSource && dirsDurable && !stop.requested) {
        try {
          await fs.unlink(job.src);
          removed++;
        } catch (err) {
          failures.push({ path: job.src, code: (err as NodeJS.ErrnoException).code ?? 'EIO', syscall: 'unlink', message: `copy durable, source not removed: ${(err as Error).message}` });
        }
      }
      if (stop.requested) break;
    }
  }
  bar.stop();
  if (flags.removeSource && dirsDurable && !stop.requested) {
    for (const l of linked) {
      await fs.unlink(l.src).then(() => removed++, (err: NodeJS.ErrnoException) => {
        failures.push({ path: l.src, code: err.code ?? 'EIO', syscall: 'unlink', message: `link copy durable, source not removed: ${err.message}` });
      });
    }
  }
  if (flags.removeSource && !stop.requested) {
    // Source directories emptied by the removals, deepest first; any that still hold something stay.
    for (const d of [...sourceDirs].reverse()) await fs.rmdir(d).catch(() => {});
  }

  const bytes = copied.reduce((n, j) => n + j.size, 0);
  const filesystems = filesystemsOf(results);
  const durationMs = performance.now() - started;
  const complete = failures.length === 0 && !stop.requested && results.length === copied.length;
  if (flags.json) {
    io.out(json({
      files: jobs.length, copied: copied.length, durable: results.filter((r) => r.durable).length, verified, removed,
      bytes, directories: dirs.length, links: linked.length, interrupted: stop.requested, failures, filesystems, durationMs,
      backend: syncer.backend, nativeReason: syncer.nativeReason, nativeSource: syncer.nativeSource,
    }));
  } else {
    io.out(`fsync2 copy: ${copied.length}/${jobs.length} files (${mib(bytes)}) and ${dirs.length} directories copied, ` +
      `${results.filter((r) => r.durable).length} durable, ${verified} verified${flags.verify ? ' by content hash' : ' by size'}, ` +
      `${removed} sources removed, in ${durationMs.toFixed(1)} ms`);
    for (const line of filesystemLines(filesystems)) io.out(line);
    if (syncer.nativeReason) io.out(`  pure-TS path: ${syncer.nativeReason}`);
    printFailures(failures, io);
    if (stop.requested) io.err('interrupted: no source was removed before its copy was durable and verified');
    io.out(complete ? 'all copies durable' : `${failures.length} problem(s)`);
  }
  return complete ? 0 : stop.requested ? 130 : 1;
}

async function verifyCopy(job: Job, hash: boolean): Promise<string | null> {
  const [src, dst] = await Promise.all([fs.stat(job.src), fs.stat(job.dest)]);
  if (src.size !== dst.size) return `size differs: source ${src.size}, copy ${dst.size}`;
  if (hash && (await sha256(job.src)) !== (await sha256(job.dest))) return 'content differs (sha256)';
  return null;
}
