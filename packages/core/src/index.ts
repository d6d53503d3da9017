// @fsync2/core: make many files durable with one call.
import type { SyncOptions } from './options.js';
import type { SyncReport, SyncTarget } from './report.js';
import { Syncer } from './syncer.js';

export { Syncer, createSyncer } from './syncer.js';
export { STRATEGIES, MODES, syncerOptionsSchema, syncOptionsSchema } from './options.js';
export type { Strategy, Mode, SyncerOptions, SyncOptions, ResolvedSyncerOptions } from './options.js';
export type { SyncReport, TargetResult, SyncTarget, ParentResult, FilesystemReport, Plan, FileKind } from './report.js';
export type { Backend, NativeSource } from '@fsync2/workers';
export { TargetError, SyncError, OptionsError, ClosedError, AbortError, QueueFullError, errnoCode } from './errors.js';
export { planChannel } from './scheduler.js';
export type { PlanEvent, GroupCommit } from './scheduler.js';
export type { SyncerStats } from './stats.js';
export { WorkerError } from '@fsync2/workers';
export { fsInfo } from './filesystems.js';
export type { FsInfo } from './filesystems.js';

let shared: Syncer | null = null;

/** One-off calls on a default syncer, created on first use. */
export function sync(targets: SyncTarget | readonly SyncTarget[], options?: SyncOptions): Promise<SyncReport> {
  shared ??= new Syncer();
  return shared.sync(targets, options);
}
