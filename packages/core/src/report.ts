import type { FileHandle } from 'node:fs/promises';
import type { Backend, NativeSource } from '@fsync2/workers';
import type { TargetError } from './errors.js';
import type { Mode, Strategy } from './options.js';

/** An fd, a FileHandle, a path, or any of them with its own mode. */
export type SyncTarget = number | string | FileHandle | { readonly target: number | string | FileHandle; readonly mode?: Mode };

/** The plan that flushed a filesystem's targets. */
export type Plan = 'perFile' | 'writeback' | 'uring' | 'syncfs';

export type FileKind = 'file' | 'directory' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'unknown';

/** A parent directory fsynced for `parents: true`. */
export interface ParentResult {
  readonly path: string;
  readonly ok: boolean;
  /** 'fsync', or 'syncfs' when its filesystem's syncfs in this call already covered it. */
  readonly syscall: string | null;
  readonly code: string | null;
  readonly errno: number | null;
  readonly syscallIds: readonly number[];
}

export interface TargetResult {
  /** Position in the targets passed to sync(). */
  readonly index: number;
  readonly target: SyncTarget;
  /** The caller's fd (for fd and FileHandle targets); paths are opened and closed by fsync2. */
  readonly fd: number | null;
  readonly path: string | null;
  readonly dev: bigint | null;
  readonly ino: bigint | null;
  readonly kind: FileKind | null;
  /** 'ext4', 'tmpfs', …; null when the filesystem could not be asked. */
  readonly fsType: string | null;
  readonly mode: Mode;
  readonly plan: Plan | null;
  /** Why that plan: the strategy asked for, or why it fell back. */
  readonly reason: string | null;
  /** The call that made it durable (or failed): 'fsync', 'fdatasync', 'syncfs', … */
  readonly syscall: string | null;
  readonly backend: Backend;
  /** Every syscall returned 0 for this target (and its parents). */
  readonly ok: boolean;
  /** ok, on a filesystem that can be durable. Only this means "on stable storage". */
  readonly durable: boolean;
  /** Its filesystem keeps nothing across a reboot (tmpfs, ramfs, …): never durable. */
  readonly volatile: boolean;
  /** Time of the syscall that flushed it. */
  readonly durationMs: number;
  /** The index of an earlier target of this call naming the same file (dev + ino), or null. */
  readonly mergedWith: number | null;
  /**
   * Ids of the syscalls that served this target (a writeback kick and a flush, or a syncfs).
   * Targets (of any call on this syncer) that share an id shared that syscall.
   */
  readonly syscallIds: readonly number[];
  /** Requests, from every call, that the flush of this file served (group commit). */
  readonly served: number;
  /** The failure is remembered from an earlier flush of this file (see reset()). */
  readonly sticky: boolean;
  readonly parents: readonly ParentResult[];
  readonly error: TargetError | null;
}

export interface FilesystemReport {
  readonly dev: bigint;
  readonly fsType: string | null;
  readonly volatile: boolean;
  readonly plan: Plan;
  /** Why this plan: the strategy asked for, or why it fell back. */
  readonly reason: string;
  readonly files: number;
}

export interface SyncReport {
  /** Every target's flush returned 0. */
  readonly ok: boolean;
  /** Every target is on stable storage (ok and none volatile). */
  readonly durable: boolean;
  readonly results: readonly TargetResult[];
  readonly filesystems: readonly FilesystemReport[];
  readonly strategy: Strategy;
  readonly backend: Backend;
  /** Why the addon is not used, when it is not. */
  readonly nativeReason: string | null;
  /** Which addon binary runs: 'prebuilt' (shipped in @fsync2/native) or 'build' (compiled from source); null on the pure-TS path. */
  readonly nativeSource: NativeSource | null;
  /** Distinct syscalls (kicks, flushes, syncfs) that served this call's targets. */
  readonly syscalls: number;
  readonly durationMs: number;
}
