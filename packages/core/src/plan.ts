// The syscalls of a plan: which files get a kick, a flush, or are covered by a syncfs. Pure: no
// I/O, so a fake backend can check it. Which arm to use is the planner's choice (planner.ts).
import { release } from 'node:os';
import { OPS, type OpCode } from '@fsync2/native';
import { KIND, type Kind } from '@fsync2/workers';
import type { Mode } from './options.js';
import type { Arm } from './planner.js';
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
  /** Pool threads to spread the flushes over (perFile, writeback). */
  readonly width: number;
  /** io_uring submission depth (uring), else 0. */
  readonly depth: number;
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

/** The syscalls of one filesystem's plan for the chosen arm. */
export function planGroup<E extends FlushEntry>(entries: readonly E[], arm: Arm, reason: string): GroupPlan<E> {
  const perFile = (list: readonly E[]) => list.map((entry) => ({ entry, op: flushOp(entry.mode) }));
  const base = { reason, width: 'width' in arm ? arm.width : 1, depth: arm.plan === 'uring' ? arm.depth : 0 };
  switch (arm.plan) {
    case 'perFile':
    case 'uring':
      return { ...base, plan: arm.plan, kicks: [], syncfsFd: null, covered: [], flushes: perFile(entries) };
    case 'writeback':
      return { ...base, plan: arm.plan, kicks: entries.filter((e) => e.kind === KIND.FILE && !e.pathOnly), syncfsFd: null, covered: [], flushes: perFile(entries) };
    case 'syncfs': {
      const covered = entries.filter((e) => syncfsCanCover(e));
      const rest = entries.filter((e) => !syncfsCanCover(e));
      return { ...base, plan: arm.plan, kicks: [], syncfsFd: covered[0]?.fd ?? null, covered, flushes: perFile(rest) };
    }
  }
}
