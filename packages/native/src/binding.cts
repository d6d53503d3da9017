// The one place that touches the .node file (classic-level's habit). Loading is per thread: each
// worker thread that requires this module gets its own instance of the context-aware addon.
import path = require('node:path');
import { OPS, SYNC_FILE_RANGE } from './ops.cjs';

/** The addon's exports. Every call blocks its thread and returns an errno (0 = success). */
export interface NativeBinding {
  fsync(fd: number): number;
  fdatasync(fd: number): number;
  syncfs(fd: number): number;
  syncFileRange(fd: number, offset: number, nbytes: number, flags: number): number;
  /** fstatfs f_type magic, or -errno. */
  fsType(fd: number): number;
  /**
   * out = [st_dev, st_ino, birth ns (0 if unknown), st_mode, f_type (0 if unknown), fd flags]
   * from statx (or fstat), fstatfs and fcntl in one crossing; returns 0 or fstat's errno.
   */
  describeFd(fd: number, out: BigUint64Array): number;
  /** fcntl(F_GETFL) status flags, or -errno. */
  fdFlags(fd: number): number;
  /** The platform's O_PATH (0 where there is none). */
  readonly O_PATH: number;
  /** Runs ops[i] on fds[i] for every i, writing errnos[i] (and nanos[i]); returns the failure count. */
  flushBatch(fds: Int32Array, ops: Uint8Array, errnos: Int32Array, nanos?: Float64Array): number;
  readonly ops: Readonly<Record<keyof typeof OPS, number>>;
  readonly syncFileRangeFlags: Readonly<Record<keyof typeof SYNC_FILE_RANGE, number>>;
}

export type NativeStatus =
  | { readonly available: true; readonly binding: NativeBinding; readonly file: string }
  | { readonly available: false; readonly binding: null; readonly reason: string };

/** `FSYNC2_NATIVE=off` forces the pure-TS path (tests run the whole suite both ways). */
export const NATIVE_ENV = 'FSYNC2_NATIVE';

let status: NativeStatus | undefined;

export function loadNative(): NativeStatus {
  status ??= tryLoad();
  return status;
}

function tryLoad(): NativeStatus {
  const wanted = process.env[NATIVE_ENV];
  if (wanted === 'off' || wanted === '0') {
    return unavailable(`disabled by ${NATIVE_ENV}=${wanted}`);
  }
  const root = path.join(__dirname, '..');
  let file: string;
  let binding: NativeBinding;
  try {
    const nodeGypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
    file = nodeGypBuild.resolve(root);
    binding = require(file) as NativeBinding;
  } catch (err) {
    return unavailable(`addon not built (${firstLine(err)}); run \`pnpm install\` with a C++ compiler`);
  }
  const drift = constantDrift(binding);
  if (drift) return unavailable(`addon at ${file} is stale: ${drift}; rebuild it`);
  return { available: true, binding, file };
}

function constantDrift(binding: NativeBinding): string | null {
  for (const [name, value] of Object.entries(OPS)) {
    const native = binding.ops?.[name as keyof typeof OPS];
    if (native !== value) return `op ${name} is ${native} in C++ and ${value} in TypeScript`;
  }
  for (const [name, value] of Object.entries(SYNC_FILE_RANGE)) {
    const native = binding.syncFileRangeFlags?.[name as keyof typeof SYNC_FILE_RANGE];
    if (native !== value) return `SYNC_FILE_RANGE_${name} is ${native} in C++ and ${value} in TypeScript`;
  }
  return null;
}

function unavailable(reason: string): NativeStatus {
  return { available: false, binding: null, reason };
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0] ?? '';
}
