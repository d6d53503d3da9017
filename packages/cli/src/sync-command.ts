// `fsync2 sync PATH…`: every file and every directory under the paths made durable in one
// batched run.
import type { Mode, Strategy, Syncer, TargetResult } from '@fsync2/core';
import { failureOf, filesystemLines, filesystemsOf, json, mib, printFailures, type Failure } from './output.js';
import { progress } from './progress.js';
import { walk } from './walk.js';

export interface SyncFlags {
  readonly mode: Mode;
  readonly strategy?: Strategy;
  readonly json: boolean;
  readonly follow: boolean;
}

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export async function syncCommand(syncer: Syncer, paths: readonly string[], flags: SyncFlags, io: Io): Promise<number> {
  const started = performance.now();
  const tree = await walk(paths, flags.follow);
  const sizes = new Map(tree.files.map((f) => [f.path, f.size]));
  const targets = [...tree.files.map((f) => f.path), ...tree.dirs];
  const bar = progress('durable', targets.length, !flags.json);
  const results: TargetResult[] = [];
  try {
    for await (const r of syncer.each(targets, { mode: flags.mode, ...(flags.strategy ? { strategy: flags.strategy } : {}) })) {
      results.push(r);
      bar.add(1, sizes.get(r.path ?? '') ?? 0);
    }
  } finally {
    bar.stop();
  }
  const failures: Failure[] = [
    ...tree.errors.map((e) => ({ path: e.path, code: e.error.code ?? 'EIO', syscall: e.error.syscall ?? null, message: e.error.message })),
    ...results.filter((r) => !r.durable).map(failureOf),
  ];
  const bytes = tree.files.reduce((n, f) => n + f.size, 0);
  const filesystems = filesystemsOf(results);
  const durationMs = performance.now() - started;
  if (flags.json) {
    io.out(json({
      files: tree.files.length, directories: tree.dirs.length, bytes, links: tree.links, skipped: tree.skipped,
      durable: failures.length === 0, failures, filesystems, durationMs,
      backend: syncer.backend, nativeReason: syncer.nativeReason, nativeSource: syncer.nativeSource,
    }));
  } else {
    io.out(`fsync2 sync: ${tree.files.length} files and ${tree.dirs.length} directories (${mib(bytes)}) on ${filesystems.length} filesystem(s) in ${durationMs.toFixed(1)} ms`);
    for (const line of filesystemLines(filesystems)) io.out(line);
    if (tree.links.length) io.out(`  symlinks not followed: ${tree.links.length} (their directories are durable)`);
    if (tree.skipped.length) io.out(`  special files not flushed (FIFOs, sockets, devices): ${tree.skipped.length}`);
    if (syncer.nativeReason) io.out(`  pure-TS path: ${syncer.nativeReason}`);
    printFailures(failures, io);
    io.out(failures.length === 0 ? 'all durable' : `${failures.length} not durable`);
  }
  return failures.length === 0 ? 0 : 1;
}
