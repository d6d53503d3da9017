// Choosing how one filesystem's files are flushed. Pure: no I/O, so a fake backend can check it.
import { release } from 'node:os';
import { OPS, type OpCode } from '@fsync2/native';
import { KIND, type Backend, type Kind } from '@fsync2/workers';
import type { FsInfo } from './filesystems.js';
import type { Mode, Strategy } from './options.js';
import type { Plan } from './report.js';

/** One distinct file (dev + ino) of a call, with the strongest mode any of its targets asked for. */
export interface FlushEntry {
  readonly dev: bigint;
  readonly kind: Kind;
  /** An O_PATH fd: it names the file but can do no I/O, so it gets its own (failing) flush. */
  pathOnly: boolean;
  fd: number;
  mode: Mode;
}

export interface GroupPlan<E extends FlushEntry> {
  readonly plan: Plan;
  readonly reason: string;
  /** Writeback kicks to start (and not wait for) before any flush: a hint, never a proof. */
  readonly kicks: readonly E[];
  /** One syncfs on this fd covers `covered`; null when the plan has no syncfs. */
  readonly syncfsFd: number | null;
  readonly covered: readonly E[];
  /** Per-file flushes, run in parallel across the pool. */
  readonly flushes: ReadonlyArray<{ readonly entry: E; readonly op: OpCode }>;
}

export function flushOp(mode: Mode): OpCode {
  return mode === 'full' ? OPS.FSYNC : OPS.FDATASYNC;
}

/**
 * syncfs reports writeback errors only since Linux 5.8 (commit 735e4ae5ba28, "vfs: track per-sb
 * writeback errors and report them to syncfs"); before that it can return 0 after losing data.
 */
export function syncfsReportsErrors(kernel = release()): boolean {
  const [major = 0, minor = 0] = kernel.split(/[.-]/).map(Number);
  return major > 5 || (major === 5 && minor >= 8);
}

// Only regular files and directories live on the filesystem a syncfs flushes: a pipe, socket or
// device fd names a pseudo filesystem whose syncfs returns 0 while nothing was synced.
export function syncfsCanCover(e: FlushEntry): boolean {
  return (e.kind === KIND.FILE || e.kind === KIND.DIRECTORY) && !e.pathOnly;
}

export interface PlanContext {
  readonly strategy: Strategy;
  readonly backend: Backend;
  readonly fs: FsInfo | null;
  readonly syncfsSafe: boolean;
}

function choose(ctx: PlanContext): { plan: Plan; reason: string } {
  const { strategy, backend } = ctx;
  if (ctx.fs?.volatile) {
    return { plan: 'perFile', reason: `${ctx.fs.name} is volatile: flushed for errors only, never durable` };
  }
  switch (strategy) {
    case 'perFile':
      return { plan: 'perFile', reason: 'strategy perFile' };
    case 'writeback':
      return backend === 'native'
        ? { plan: 'writeback', reason: 'strategy writeback' }
        : { plan: 'perFile', reason: 'strategy writeback needs sync_file_range, which only the addon has' };
    case 'syncfs':
      if (backend !== 'native') return { plan: 'perFile', reason: 'strategy syncfs needs the addon' };
      if (!ctx.syncfsSafe) return { plan: 'perFile', reason: 'syncfs can lose errors before Linux 5.8' };
      return { plan: 'syncfs', reason: 'strategy syncfs' };
    case 'auto':
      return { plan: 'perFile', reason: 'auto: parallel per-file flushes' };
  }
}

export function planGroup<E extends FlushEntry>(entries: readonly E[], ctx: PlanContext): GroupPlan<E> {
  const { plan, reason } = choose(ctx);
  const perFile = (list: readonly E[]) => list.map((entry) => ({ entry, op: flushOp(entry.mode) }));
  switch (plan) {
    case 'perFile':
      return { plan, reason, kicks: [], syncfsFd: null, covered: [], flushes: perFile(entries) };
    case 'writeback':
      return {
        plan,
        reason,
        kicks: entries.filter((e) => e.kind === KIND.FILE),
        syncfsFd: null,
        covered: [],
        flushes: perFile(entries),
      };
    case 'syncfs': {
      const covered = entries.filter((e) => syncfsCanCover(e));
      const rest = entries.filter((e) => !syncfsCanCover(e));
      return { plan, reason, kicks: [], syncfsFd: covered[0]?.fd ?? null, covered, flushes: perFile(rest) };
    }
  }
}
