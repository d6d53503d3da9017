// Running a call's requests through the pool: resolve (open, fstat, fstatfs), merge files named
// twice, plan each filesystem, flush the filesystems in parallel, close what was opened.
import { OPS, OP_SYSCALL, type OpCode } from '@fsync2/native';
import { KIND, type Backend, type FlushBackend, type Kind } from '@fsync2/workers';
import { AbortError } from './errors.js';
import { fsInfo, type FsInfo } from './filesystems.js';
import type { Mode, Strategy } from './options.js';
import { planGroup, syncfsCanCover, syncfsReportsErrors, type FlushEntry } from './plan.js';
import type { FilesystemReport, Plan } from './report.js';
import type { Request } from './targets.js';

/** What happened to one distinct file. */
export interface Flushed {
  /** The strongest mode any target naming this file asked for: the one flushed. */
  mode: Mode;
  /** 0, or the errno of `syscall`. */
  errno: number;
  /** A worker died holding this file's work: errno is meaningless, the file is not durable. */
  workerError: Error | null;
  syscall: string | null;
  plan: Plan | null;
  nanos: number;
  backend: Backend;
}

interface Entry extends FlushEntry, Flushed {
  readonly key: string;
  readonly ino: bigint;
  readonly fs: FsInfo | null;
  /** The request whose fd is flushed; every other request naming this file merges into it. */
  readonly first: number;
}

/** A request after the whole pipeline: what it named and what happened to that file. */
export interface Outcome {
  readonly request: Request;
  readonly dev: bigint | null;
  readonly ino: bigint | null;
  readonly kind: Kind | null;
  readonly fs: FsInfo | null;
  readonly realpath: string | null;
  /** Failure before any flush: open or fstat (errno), or a dead worker. */
  readonly resolveFailure: { errno: number | null; syscall: string; workerError: Error | null } | null;
  readonly flushed: Flushed | null;
  readonly mergedWith: number | null;
}

export interface CallContext {
  readonly pool: FlushBackend;
  readonly strategy: Strategy;
  readonly maxOpenFiles: number;
  readonly signal: AbortSignal | undefined;
  /** Files flushed earlier in this call (every flush started after the call did). */
  readonly done: Map<string, Entry>;
  /** Filesystems whose syncfs, started after the call did, succeeded: it covers all their files. */
  readonly syncedDevs: Set<bigint>;
  readonly filesystems: Map<bigint, FilesystemReport>;
  syscalls: number;
}

export function newCallContext(pool: FlushBackend, strategy: Strategy, maxOpenFiles: number, signal?: AbortSignal): CallContext {
  return { pool, strategy, maxOpenFiles, signal, done: new Map(), syncedDevs: new Set(), filesystems: new Map(), syscalls: 0 };
}

const stronger = (a: Mode, b: Mode): Mode => (a === 'full' || b === 'full' ? 'full' : 'data');

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError({ cause: signal.reason });
}

/** Contiguous slices of [0, n), at most `parts` of them, none smaller than `min` (but the last). */
export function slices(n: number, parts: number, min = 1): Array<[number, number]> {
  const count = Math.max(1, Math.min(parts, Math.ceil(n / min)));
  const size = Math.ceil(n / count);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(n, start + size)]);
  return out;
}

/** Flushes every valid request, in windows of maxOpenFiles. Outcomes are in request order. */
export async function flushRequests(requests: readonly Request[], ctx: CallContext): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (let start = 0; start < requests.length; start += ctx.maxOpenFiles) {
    throwIfAborted(ctx.signal);
    outcomes.push(...(await flushWindow(requests.slice(start, start + ctx.maxOpenFiles), ctx)));
  }
  return outcomes;
}

interface Resolved {
  fd: number;
  opened: boolean;
  errno: number;
  syscall: string | null;
  workerError: Error | null;
  dev: bigint;
  ino: bigint;
  kind: Kind;
  pathOnly: boolean;
  fsMagic: number;
  realpath: string | null;
}

async function resolveWindow(requests: readonly Request[], ctx: CallContext): Promise<Resolved[]> {
  const out: Resolved[] = new Array(requests.length);
  await Promise.all(
    slices(requests.length, ctx.pool.maxThreads, 256).map(async ([a, b]) => {
      const part = requests.slice(a, b);
      const fds = Int32Array.from(part, (r) => r.fd);
      const paths = part.map((r) => r.path);
      try {
        const res = await ctx.pool.resolve(fds, paths, true);
        for (let i = 0; i < part.length; i++) {
          out[a + i] = {
            fd: res.fds[i]!,
            opened: res.opened[i] === 1,
            errno: res.errnos[i]!,
            syscall: res.failedSyscall[i] ?? null,
            workerError: null,
            dev: res.dev[i]!,
            ino: res.ino[i]!,
            kind: res.kind[i] as Kind,
            pathOnly: res.pathOnly[i] === 1,
            fsMagic: res.fsType[i]!,
            realpath: res.realpaths[i] ?? null,
          };
        }
      } catch (err) {
        // The worker died: whatever it opened is unknown to us and stays open; nothing is flushed.
        for (let i = 0; i < part.length; i++) {
          out[a + i] = {
            fd: -1, opened: false, errno: 0, syscall: 'open', workerError: err as Error,
            dev: 0n, ino: 0n, kind: KIND.UNKNOWN, pathOnly: false, fsMagic: -1, realpath: null,
          };
        }
      }
    }),
  );
  return out;
}

async function flushWindow(requests: readonly Request[], ctx: CallContext): Promise<Outcome[]> {
  const valid = requests.filter((r) => r.invalid === null);
  const resolved = await resolveWindow(valid, ctx);
  try {
    return await flushResolved(requests, valid, resolved, ctx);
  } finally {
    // Close even when aborted or failed; an fd leak per window would exhaust the fd table.
    await closeOpened(resolved, ctx);
  }
}

async function flushResolved(
  requests: readonly Request[],
  valid: readonly Request[],
  resolved: Resolved[],
  ctx: CallContext,
): Promise<Outcome[]> {
  const byIndex = new Map<number, { res: Resolved; entry: Entry | null; mergedWith: number | null }>();
  const fresh = new Map<string, Entry>();
  valid.forEach((req, i) => {
    const res = resolved[i]!;
    if (res.errno !== 0 || res.workerError) {
      byIndex.set(req.index, { res, entry: null, mergedWith: null });
      return;
    }
    const key = `${res.dev}:${res.ino}`;
    const earlier = ctx.done.get(key);
    // A file this call already flushed (or failed) in an earlier window: that flush started after
    // the call did, so it serves this request too, unless it was weaker than this request needs.
    if (earlier && (earlier.workerError || earlier.errno !== 0 || stronger(earlier.mode, req.mode) === earlier.mode)) {
      byIndex.set(req.index, { res, entry: earlier, mergedWith: earlier.first });
      return;
    }
    let entry = fresh.get(key);
    if (entry) {
      entry.mode = stronger(entry.mode, req.mode);
      if (entry.pathOnly && !res.pathOnly) {
        // Flush through an fd that can do I/O; the O_PATH one alone would only get EBADF.
        entry.fd = res.fd;
        entry.pathOnly = false;
      }
      byIndex.set(req.index, { res, entry, mergedWith: entry.first });
      return;
    }
    entry = {
      key, dev: res.dev, ino: res.ino, kind: res.kind, pathOnly: res.pathOnly, fd: res.fd, mode: req.mode, fs: fsInfo(res.fsMagic),
      first: req.index, errno: 0, workerError: null, syscall: null, plan: null, nanos: 0, backend: ctx.pool.backend,
    };
    fresh.set(key, entry);
    byIndex.set(req.index, { res, entry, mergedWith: null });
  });

  throwIfAborted(ctx.signal);
  const groups = new Map<bigint, Entry[]>();
  for (const entry of fresh.values()) {
    const list = groups.get(entry.dev);
    if (list) list.push(entry);
    else groups.set(entry.dev, [entry]);
  }
  await Promise.all([...groups].map(([dev, entries]) => flushGroup(dev, entries, ctx)));
  for (const entry of fresh.values()) ctx.done.set(entry.key, entry);

  return requests.map((request) => {
    const r = byIndex.get(request.index);
    if (!r) {
      return { request, dev: null, ino: null, kind: null, fs: null, realpath: null, resolveFailure: null, flushed: null, mergedWith: null };
    }
    const { res, entry } = r;
    const failed = res.errno !== 0 || res.workerError !== null;
    return {
      request,
      dev: failed ? null : res.dev,
      ino: failed ? null : res.ino,
      kind: failed ? null : res.kind,
      fs: failed ? null : fsInfo(res.fsMagic),
      realpath: res.realpath,
      resolveFailure: failed ? { errno: res.workerError ? null : res.errno, syscall: res.syscall ?? 'open', workerError: res.workerError } : null,
      flushed: entry,
      mergedWith: r.mergedWith,
    };
  });
}

async function flushGroup(dev: bigint, entries: Entry[], ctx: CallContext): Promise<void> {
  const fs = entries[0]!.fs;
  const backend = ctx.pool.backend;
  // A successful syncfs earlier in this call started after the call did: it already covers
  // every file of this filesystem that syncfs can cover.
  if (ctx.syncedDevs.has(dev)) {
    const rest = entries.filter((e) => !syncfsCanCover(e));
    for (const e of entries) if (!rest.includes(e)) Object.assign(e, { syscall: 'syncfs', plan: 'syncfs' as Plan });
    entries = rest;
    if (entries.length === 0) return;
  }
  const plan = planGroup(entries, { strategy: ctx.strategy, backend, fs, syncfsSafe: syncfsReportsErrors() });
  const report = ctx.filesystems.get(dev);
  ctx.filesystems.set(dev, {
    dev, fsType: fs?.name ?? null, volatile: fs?.volatile ?? false, plan: plan.plan, reason: plan.reason,
    files: (report?.files ?? 0) + entries.length,
  });
  for (const e of entries) e.plan = plan.plan;

  if (plan.kicks.length > 0) {
    // Failed kicks are ignored: without WAIT flags sync_file_range consumes no error, and the
    // flush that follows reports whatever the writeback hit.
    await runOps(plan.kicks.map((e) => ({ entry: e, op: OPS.WRITEBACK })), ctx, false).catch(() => {});
  }
  const work: Promise<void>[] = [runOps(plan.flushes, ctx, true)];
  if (plan.syncfsFd !== null) {
    const covered = plan.covered;
    work.push(
      runOps([{ entry: covered[0]!, op: OPS.SYNCFS }], ctx, true).then(() => {
        const head = covered[0]!;
        // syncfs names no file: its error fails every file it was meant to cover.
        for (const e of covered.slice(1)) {
          Object.assign(e, { errno: head.errno, workerError: head.workerError, syscall: 'syncfs', nanos: head.nanos, backend: head.backend });
        }
        if (head.errno === 0 && !head.workerError && !fs?.volatile) ctx.syncedDevs.add(dev);
      }),
    );
  }
  await Promise.all(work);
}

/** Runs ops spread over the pool's threads; `record` writes each result into its entry. */
async function runOps(ops: ReadonlyArray<{ entry: Entry; op: OpCode }>, ctx: CallContext, record: boolean): Promise<void> {
  if (ops.length === 0) return;
  await Promise.all(
    slices(ops.length, ctx.pool.maxThreads).map(async ([a, b]) => {
      const part = ops.slice(a, b);
      const fds = Int32Array.from(part, (o) => o.entry.fd);
      const codes = Uint8Array.from(part, (o) => o.op);
      ctx.syscalls += part.length;
      try {
        const res = await ctx.pool.flush(fds, codes);
        if (!record) return;
        part.forEach(({ entry, op }, i) => {
          Object.assign(entry, { errno: res.errnos[i]!, syscall: OP_SYSCALL[op], nanos: res.nanos[i]!, backend: res.backend });
        });
      } catch (err) {
        if (!record) return;
        for (const { entry, op } of part) Object.assign(entry, { workerError: err as Error, syscall: OP_SYSCALL[op] });
      }
    }),
  );
}

// A close error cannot undo a flush that already returned 0 (even NFS commits at fsync), so it
// does not change any result; one task per window keeps the round trips few.
async function closeOpened(resolved: readonly Resolved[], ctx: CallContext): Promise<void> {
  const fds = Int32Array.from(resolved.filter((r) => r.opened).map((r) => r.fd));
  if (fds.length > 0) await ctx.pool.close(fds).catch(() => {});
}
