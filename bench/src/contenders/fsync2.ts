// fsync2 itself: every strategy by name and 'auto', through the addon and through the pure-TS
// path (FSYNC2_NATIVE=off, read at load time, hence a child process of its own).
import type { FileHandle } from 'node:fs/promises';
import type { Strategy, Syncer, SyncReport } from '@fsync2/core';
import { childContender, type Child } from '../children.js';
import type { FlushFacts, Flusher } from '../jobs.js';
import type { Contender } from '../types.js';

export const STRATEGY_NAMES: readonly Strategy[] = ['perFile', 'writeback', 'syncfs', 'auto'];

/** The flusher of 'auto' on a syncer whose planner may not use syncfs (issue 5's second W1 goal). */
export const NO_SYNCFS = 'auto-nosyncfs';

/** Child side: one syncer for the child's lifetime, as an application would keep one. */
export async function createBenchSyncer(maxThreads: number | null): Promise<Syncer> {
  // Imported here, not at the top: the Node contenders' children never load fsync2.
  const { createSyncer } = await import('@fsync2/core');
  return createSyncer({ mode: 'data', ...(maxThreads ? { pool: { maxThreads } } : {}) });
}

/** Child side: the same, with `planner.allowSyncfs: false`. */
export async function createNoSyncfsSyncer(maxThreads: number | null): Promise<Syncer> {
  const { createSyncer } = await import('@fsync2/core');
  return createSyncer({ mode: 'data', planner: { allowSyncfs: false }, ...(maxThreads ? { pool: { maxThreads } } : {}) });
}

// What the report says about how the batch was made durable, kept with each sample.
function facts(report: SyncReport): FlushFacts {
  return {
    backend: report.backend,
    durable: report.durable,
    syscalls: report.syscalls,
    plans: [...new Set(report.filesystems.map((f) => f.plan))],
    reasons: [...new Set(report.filesystems.map((f) => f.reason))],
  };
}

/** Child side: a flusher for each strategy. Targets are the open fds, like the Node contenders'. */
export function fsync2Flusher(syncer: Syncer, strategy: Strategy): Flusher {
  return {
    async batch(handles: readonly FileHandle[]) {
      const report = await syncer.sync(handles.map((h) => h.fd), { mode: 'data', strategy });
      return facts(report);
    },
    async one(handle: FileHandle) {
      const report = await syncer.sync(handle.fd, { mode: 'data', strategy });
      return { durable: report.durable, syscalls: report.syscalls, plans: report.results.map((r) => r.plan ?? '?') };
    },
  };
}

export function fsync2Contenders(addon: Child, pureTs: Child): Contender[] {
  const out: Contender[] = [];
  for (const [child, family, path] of [
    [addon, 'fsync2', 'addon'],
    [pureTs, 'fsync2-js', 'pure TS'],
  ] as const) {
    const actual = child.hello?.fsync2?.backend;
    // Said plainly when the addon could not load: these rows then measure the TS path.
    const suffix = family === 'fsync2' && actual === 'js' ? ' (addon missing: ran TS)' : '';
    for (const strategy of STRATEGY_NAMES) {
      out.push(
        childContender(child, {
          id: `${family}-${strategy}`,
          label: `fsync2 ${strategy}, ${path}${suffix}`,
          family,
          flusher: `fsync2:${strategy}`,
          kinds: ['flush', 'append', 'probe', 'latency'],
        }),
      );
    }
  }
  // Where syncfs is not wanted (or not trusted): how close 'auto' gets with per-file plans alone.
  out.push(
    childContender(addon, {
      id: `fsync2-${NO_SYNCFS}`,
      label: 'fsync2 auto, syncfs forbidden, addon',
      family: 'fsync2',
      flusher: `fsync2:${NO_SYNCFS}`,
      kinds: ['flush'],
    }),
  );
  return out;
}
