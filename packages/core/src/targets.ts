// Turning what the caller passed into fds and paths, without touching the disk.
import { constants } from 'node:os';
import path from 'node:path';
import { TargetError } from './errors.js';
import type { Mode } from './options.js';
import type { SyncTarget } from './report.js';

/** A target checked for shape; `invalid` is set when it cannot name a file at all. */
export interface Request {
  readonly index: number;
  readonly input: SyncTarget;
  /** The fd to flush: the caller's, or -1 for a path or an invalid target. */
  readonly fd: number;
  /** The fd as the caller gave it (even an invalid one), for reports; null for a path. */
  readonly callerFd: number | null;
  /** Absolute path, or null for an fd. */
  readonly path: string | null;
  readonly mode: Mode;
  readonly invalid: TargetError | null;
}

const MAX_FD = 0x7fffffff;
const { EBADF } = constants.errno;

function isFileHandle(x: unknown): x is { fd: number } {
  return typeof x === 'object' && x !== null && typeof (x as { fd?: unknown }).fd === 'number' &&
    typeof (x as { sync?: unknown }).sync === 'function';
}

function invalid(index: number, input: SyncTarget, detail: string, fd: number | null = null): Request {
  const error = new TargetError({ index, fd, path: null }, { code: 'ERR_FSYNC2_INVALID_TARGET', detail });
  return { index, input, fd: -1, callerFd: fd, path: null, mode: 'full', invalid: error };
}

export function toRequest(input: SyncTarget, index: number, defaultMode: Mode): Request {
  let target: unknown = input;
  let mode = defaultMode;
  if (typeof input === 'object' && input !== null && !isFileHandle(input) && 'target' in input) {
    target = input.target;
    if (input.mode !== undefined) {
      if (input.mode !== 'data' && input.mode !== 'full') {
        return invalid(index, input, `mode must be 'data' or 'full', got ${JSON.stringify(input.mode)}`);
      }
      mode = input.mode;
    }
  }
  if (isFileHandle(target)) target = target.fd; // a closed FileHandle has fd -1: EBADF below
  if (typeof target === 'string') {
    if (target.length === 0 || target.includes('\0')) {
      return invalid(index, input, `a path must be a non-empty string without NUL bytes`);
    }
    return { index, input, fd: -1, callerFd: null, path: path.resolve(target), mode, invalid: null };
  }
  if (typeof target === 'number') {
    if (!Number.isInteger(target)) {
      return invalid(index, input, `fd ${target} is not an integer`, target);
    }
    if (target < 0 || target > MAX_FD) {
      // No open file has this number: the kernel's own answer, without asking it.
      const error = new TargetError({ index, fd: target, path: null }, { errno: EBADF, syscall: 'fstat' });
      return { index, input, fd: -1, callerFd: target, path: null, mode, invalid: error };
    }
    return { index, input, fd: target, callerFd: target, path: null, mode, invalid: null };
  }
  return invalid(index, input, `expected an fd, a path, a FileHandle or { target, mode }, got ${describe(target)}`);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x;
}
