// The syscalls of a plan: which files get a kick, a flush, or are covered by a syncfs. Pure: no
// I/O, so a fake backend can check it. Which arm to use is the planner's choice (planner.ts).
import { release } from 'node:os';
import { OPS, OP_SYSCALL, type OpCode } from '@fsync2/native';
import { KIND, type Kind } from '@fsync2/workers';
import type { Mode } from './options.js';
import type { Arm } from './planner.js';
import type { Plan } from './report.js';

/** One distinct file (dev + ino) of a call, with the strongest mode any of its targets asked for. */
export interface FlushEntry {
  readonly dev: bigint;
  readonly kind: Kind;
  /**
   * An O_PATH fd: it names the file but can do no I/O, so it gets its own (failing) flush. null:
   * not asked (a call no syncfs can serve, see PinnedFds.describeAll), and never covered by one.
   */
  pathOnly: boolean | null;
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
  /** io-wq bounded worker cap for the ring (uring), else 0. */
  readonly workers: number;
  /** Writeback kicks to start (and not wait for) before any flush: a hint, never a proof. */
  readonly kicks: readonly E[];
  /** One syncfs on this fd covers `covered`; null when the plan has no syncfs. */
  readonly syncfsFd: number | null;
  readonly covered: readonly E[];
  /**
   * Per-file flushes, run in parallel across the pool. A KICK_* op is a kicked flush: its task
   * kicks every such file before flushing any, and reports the flush's result alone.
   */
  readonly flushes: ReadonlyArray<{ readonly entry: E; readonly op: OpCode }>;
}

export function flushOp(mode: Mode): OpCode {
  return mode === 'full' ? OPS.FSYNC : OPS.FDATASYNC;
}

function kickedFlushOp(mode: Mode): OpCode {
  return mode === 'full' ? OPS.KICK_FSYNC : OPS.KICK_FDATASYNC;
}

/** Only a regular file's pages can be kicked; an O_PATH fd can do no I/O at all. */
function kickable(e: FlushEntry): boolean {
  return e.kind === KIND.FILE && !e.pathOnly;
}

/**
 * The syscalls an op issues, as the stats count them: a flush on io_uring is `io_uring_fsync` /
 * `io_uring_fdatasync` (no syscall of that name runs), a kicked flush is also a sync_file_range.
 */
function syscallsOf(op: OpCode, uring: boolean): readonly string[] {
  switch (op) {
    case OPS.FSYNC:
    case OPS.FDATASYNC:
      return [uring ? `io_uring_${OP_SYSCALL[op]}` : OP_SYSCALL[op]];
    case OPS.KICK_FSYNC:
    case OPS.KICK_FDATASYNC:
      return ['sync_file_range', uring ? `io_uring_${OP_SYSCALL[op]}` : OP_SYSCALL[op]];
    default:
      return [OP_SYSCALL[op]];
  }
}

// Built once: a plan asks this of each of its ops three or four times (ids, stats, answers), on
// the path between its choice and its flushes' start (0.5-1.3 ms for 1,000 files before, this
// among other things), and fresh arrays and strings each time are garbage for nothing.
const SYSCALLS = new Map<OpCode, readonly [readonly string[], readonly string[]]>(
  (Object.values(OPS) as OpCode[]).map((op) => [op, [Object.freeze(syscallsOf(op, false)), Object.freeze(syscallsOf(op, true))]]),
);

export function opSyscalls(op: OpCode, uring: boolean): readonly string[] {
  const both = SYSCALLS.get(op);
  return both ? both[uring ? 1 : 0] : syscallsOf(op, uring);
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
export function syncfsCanCover(e: Pick<FlushEntry, 'kind' | 'pathOnly'>): boolean {
  return (e.kind === KIND.FILE || e.kind === KIND.DIRECTORY) && e.pathOnly === false;
}

/** The syscalls of one filesystem's plan for the chosen arm. */
export function planGroup<E extends FlushEntry>(entries: readonly E[], arm: Arm, reason: string): GroupPlan<E> {
  // Object literals, not a spread of shared fields: V8 took ~4 µs per spread here, on every plan
  // (a lone caller's latency path).
  const width = 'width' in arm ? arm.width : 1;
  const depth = arm.plan === 'uring' ? arm.depth : 0;
  const workers = arm.plan === 'uring' ? arm.workers : 0;
  const plan = arm.plan;
  switch (arm.plan) {
    case 'perFile':
      return { reason, width, depth, workers, plan, kicks: [], syncfsFd: null, covered: [], flushes: perFile(entries) };
    case 'uring': {
      // With a kick, the kicks travel with the flushes in the one ring task (kicked ops), so
      // that they all start before any flush without a second round trip to the pool.
      const flushes = arm.kick
        ? entries.map((entry) => ({ entry, op: kickable(entry) ? kickedFlushOp(entry.mode) : flushOp(entry.mode) }))
        : perFile(entries);
      return { reason, width, depth, workers, plan, kicks: [], syncfsFd: null, covered: [], flushes };
    }
    case 'writeback':
      return { reason, width, depth, workers, plan, kicks: entries.filter(kickable), syncfsFd: null, covered: [], flushes: perFile(entries) };
    case 'syncfs': {
      const covered = entries.filter((e) => syncfsCanCover(e));
      const rest = entries.filter((e) => !syncfsCanCover(e));
      return { reason, width, depth, workers, plan, kicks: [], syncfsFd: covered[0]?.fd ?? null, covered, flushes: perFile(rest) };
    }
  }
}

function perFile<E extends FlushEntry>(list: readonly E[]): Array<{ entry: E; op: OpCode }> {
  return list.map((entry) => ({ entry, op: flushOp(entry.mode) }));
}
