// Every error fsync2 makes has a `code`; tests and users branch on codes, never on messages.
import { getSystemErrorMap } from 'node:util';
import type { SyncReport, TargetResult } from './report.js';

/** The target of one failed flush, as the caller named it. */
export interface FailedTarget {
  readonly index: number;
  readonly fd: number | null;
  readonly path: string | null;
}

/** 'EIO' for 5, from libuv's own table (one place maps errno to names). */
export function errnoCode(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[0] ?? `E${errno}`;
}

function errnoMessage(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[1] ?? 'unknown error';
}

export function describeTarget(t: FailedTarget): string {
  if (t.path !== null && t.fd !== null) return `${t.path} (fd ${t.fd})`;
  if (t.path !== null) return t.path;
  return `fd ${t.fd}`;
}

/** One target's failure: which target, which syscall, which errno. */
export class TargetError extends Error {
  override readonly name = 'TargetError';
  readonly code: string;
  readonly errno: number | null;
  readonly syscall: string | null;
  readonly index: number;
  readonly fd: number | null;
  readonly path: string | null;

  constructor(
    target: FailedTarget,
    failure: { code?: string; errno?: number | null; syscall?: string | null; detail?: string },
    options?: { cause?: unknown },
  ) {
    const errno = failure.errno ?? null;
    const code = failure.code ?? (errno !== null ? errnoCode(errno) : 'ERR_FSYNC2_UNKNOWN');
    const syscall = failure.syscall ?? null;
    const what = failure.detail ?? (errno !== null ? `${code}: ${errnoMessage(errno)}` : code);
    super(`${syscall ? `${syscall} failed for` : 'invalid target'} ${describeTarget(target)}: ${what}`, options);
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.index = target.index;
    this.fd = target.fd;
    this.path = target.path;
  }
}

/** sync() rejects with this when any target failed; `report` holds every target's result. */
export class SyncError extends AggregateError {
  override readonly name = 'SyncError';
  readonly code = 'ERR_FSYNC2_SYNC_FAILED' as const;
  declare readonly errors: TargetError[];
  readonly report: SyncReport;

  constructor(report: SyncReport) {
    const failed = report.results.filter((r): r is TargetResult & { error: TargetError } => r.error !== null);
    const first = failed[0]?.error.message ?? '';
    super(
      failed.map((r) => r.error),
      `${failed.length} of ${report.results.length} targets are not durable; first: ${first}`,
    );
    this.report = report;
  }
}

/** A bad option passed to createSyncer() or sync(); `issues` lists each bad option by name. */
export class OptionsError extends TypeError {
  override readonly name = 'OptionsError';
  readonly code = 'ERR_FSYNC2_INVALID_OPTION' as const;
  constructor(
    message: string,
    readonly issues: readonly string[],
  ) {
    super(message);
  }
}

/** The call would take the syncer past maxQueue targets in flight; nothing was queued. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  readonly code = 'ERR_FSYNC2_QUEUE_FULL' as const;
  constructor(
    readonly requested: number,
    readonly depth: number,
    readonly maxQueue: number,
  ) {
    super(`queue full: ${depth} targets in flight, ${requested} more would pass maxQueue ${maxQueue}`);
  }
}

/** sync() on a syncer that is closing or closed. */
export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  readonly code = 'ERR_FSYNC2_CLOSED' as const;
}

/** The call's AbortSignal fired before its work was done; nothing was reported durable. */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR' as const;
  constructor(options?: { cause?: unknown }) {
    super('the sync was aborted before every target was flushed', options);
  }
}
