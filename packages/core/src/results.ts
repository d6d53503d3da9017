// Turning a request's outcome into the caller's TargetResult, with the error that names it.
import path from 'node:path';
import type { Backend, NativeSource } from '@fsync2/workers';
import { errnoCode, TargetError, type FailedTarget } from './errors.js';
import type { Outcome } from './call.js';
import type { Strategy } from './options.js';
import type { FileKind, FilesystemReport, ParentResult, SyncReport, TargetResult } from './report.js';

const KINDS: readonly FileKind[] = ['unknown', 'file', 'directory', 'fifo', 'socket', 'char-device', 'block-device'];

const WORKER_CODE = 'ERR_FSYNC2_WORKER';

function failure(o: Outcome): { code?: string; errno?: number | null; syscall: string | null; detail?: string; cause?: unknown } | null {
  if (o.resolveFailure) {
    const { errno, syscall, workerError } = o.resolveFailure;
    if (workerError) return { code: WORKER_CODE, syscall, detail: workerError.message, cause: workerError };
    return { errno, syscall };
  }
  const f = o.flushed;
  if (!f) return null;
  if (f.workerError) {
    return { code: WORKER_CODE, syscall: f.syscall, detail: `${f.workerError.message}; the file is not known to be durable`, cause: f.workerError };
  }
  if (f.errno !== 0) {
    if (f.sticky) {
      return { errno: f.errno, syscall: f.syscall, detail: `an earlier ${f.syscall} of this file failed with ${errnoCode(f.errno)}, so its data may be lost; fsync2 keeps failing it until reset() after the data is rewritten` };
    }
    return { errno: f.errno, syscall: f.syscall };
  }
  return null;
}

/** The directories whose entries make a path target reachable: its own, and its real file's. */
export function parentDirs(o: Outcome): string[] {
  const own = o.request.path;
  if (own === null) return [];
  const dirs = [path.dirname(own)];
  if (o.realpath !== null && path.dirname(o.realpath) !== dirs[0]) dirs.push(path.dirname(o.realpath));
  return dirs;
}

export function toParentResult(dir: string, r: TargetResult): ParentResult {
  return { path: dir, ok: r.ok, syscall: r.syscall, code: r.error?.code ?? null, errno: r.error?.errno ?? null, syscallIds: r.syscallIds };
}

/** The target an error names. Not a closure in toResult: that was one more object per target. */
function who(req: Outcome['request']): FailedTarget {
  return { index: req.index, fd: req.callerFd, path: req.path };
}

export function toResult(o: Outcome, parents: readonly ParentResult[], backend: Backend): TargetResult {
  const req = o.request;
  let error = req.invalid;
  if (!error) {
    const f = failure(o);
    if (f) error = new TargetError(who(req), f, { cause: f.cause });
  }
  if (!error && parents.length > 0) {
    const bad = parents.find((p) => !p.ok);
    if (bad) {
      error = new TargetError(who(req), {
        code: bad.code ?? WORKER_CODE,
        errno: bad.errno,
        syscall: bad.syscall,
        detail: `its parent directory ${bad.path} is not durable (${bad.code})`,
      });
    }
  }
  const volatile = o.fs?.volatile ?? false;
  const ok = error === null;
  return {
    index: req.index,
    target: req.input,
    fd: req.callerFd,
    path: req.path,
    dev: o.dev,
    ino: o.ino,
    kind: o.kind === null ? null : (KINDS[o.kind] ?? 'unknown'),
    fsType: o.fs?.name ?? null,
    mode: o.flushed?.mode ?? req.mode,
    plan: o.flushed?.plan ?? null,
    reason: o.flushed?.reason ?? null,
    syscall: error?.syscall ?? o.flushed?.syscall ?? null,
    backend: o.flushed?.backend ?? backend,
    ok,
    durable: ok && !volatile,
    volatile,
    durationMs: (o.flushed?.nanos ?? 0) / 1e6,
    mergedWith: o.mergedWith,
    syscallIds: o.flushed?.syscallIds ?? [],
    served: o.flushed?.served ?? 0,
    sticky: o.flushed?.sticky ?? false,
    parents,
    error,
  };
}

function eachId(results: readonly TargetResult[], f: (id: number) => void): void {
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const ids = r.syscallIds;
    for (let j = 0; j < ids.length; j++) f(ids[j]!);
    for (let k = 0; k < r.parents.length; k++) {
      const pids = r.parents[k]!.syscallIds;
      for (let j = 0; j < pids.length; j++) f(pids[j]!);
    }
  }
}

/**
 * How many distinct syscalls the results name. Ids come from one counter, so a call's are nearly
 * consecutive: marks in a byte per id of their range then, a Set only when the range is sparse
 * (a sticky failure's ids from long ago). The Set of a 10,000-target call's ids cost ~4 ms.
 */
function distinctSyscalls(results: readonly TargetResult[]): number {
  let min = Infinity;
  let max = -Infinity;
  let n = 0;
  eachId(results, (id) => {
    if (id < min) min = id;
    if (id > max) max = id;
    n++;
  });
  if (n === 0) return 0;
  const range = max - min + 1;
  if (Number.isSafeInteger(range) && range <= 8 * n + 1024) {
    const seen = new Uint8Array(range);
    let distinct = 0;
    eachId(results, (id) => {
      if (seen[id - min] === 0) {
        seen[id - min] = 1;
        distinct++;
      }
    });
    return distinct;
  }
  const set = new Set<number>();
  eachId(results, (id) => set.add(id));
  return set.size;
}

/** The call's report. Cheap for the one-target calls of group commit: no maps for one result. */
export function makeReport(
  results: readonly TargetResult[],
  strategy: Strategy,
  pool: { readonly backend: Backend; readonly nativeReason: string | null; readonly nativeSource?: NativeSource | null },
  started: number,
): SyncReport {
  let ok = true;
  let durable = true;
  const filesystems: FilesystemReport[] = [];
  // One result without parents (a lone caller's commit) has distinct ids: nothing to count.
  const lone = results.length === 1 && results[0]!.parents.length === 0;
  // Indexed loops, no closures: for…of and find() here allocated ~100 B per result (of a
  // 10,000-target call's ~2.4 KB per target, every byte of which the main thread pays again in
  // scavenges).
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    ok &&= r.ok;
    durable &&= r.durable;
    if (r.dev === null || r.plan === null) continue;
    let fs: FilesystemReport | undefined;
    for (let k = 0; k < filesystems.length && !fs; k++) if (filesystems[k]!.dev === r.dev) fs = filesystems[k];
    if (fs) (fs as { files: number }).files++;
    else filesystems.push({ dev: r.dev, fsType: r.fsType, volatile: r.volatile, plan: r.plan, reason: r.reason ?? '', files: 1 });
  }
  return {
    ok,
    durable,
    results,
    filesystems,
    strategy,
    backend: pool.backend,
    nativeReason: pool.nativeReason,
    nativeSource: pool.nativeSource ?? null,
    syscalls: lone ? results[0]!.syscallIds.length : distinctSyscalls(results),
    durationMs: performance.now() - started,
  };
}
