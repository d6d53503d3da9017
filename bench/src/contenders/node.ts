// Node today: what a user already has without fsync2. filehandle.datasync() is fdatasync on
// libuv's threadpool: 4 threads by default, shared with fs, dns.lookup, crypto and zlib.
import type { FileHandle } from 'node:fs/promises';
import { childContender, type Child } from '../children.js';
import type { Flusher } from '../jobs.js';
import type { Contender } from '../types.js';

/** Child side: the two ways Node code flushes a batch. */
export const NODE_FLUSHERS: Readonly<Record<string, Flusher>> = {
  'node-loop': {
    async batch(handles: readonly FileHandle[]) {
      for (const h of handles) await h.datasync();
    },
    async one(h) {
      await h.datasync();
    },
  },
  'node-concurrent': {
    async batch(handles: readonly FileHandle[]) {
      await Promise.all(handles.map((h) => h.datasync()));
    },
    async one(h) {
      await h.datasync();
    },
  },
};

/**
 * `pool4` runs with libuv's default 4 threads, `pool64` with UV_THREADPOOL_SIZE=64. One caller
 * flushing one file (W5) is the same code whatever the pool, so only the loop stands for it.
 */
export function nodeContenders(pool4: Child, pool64: Child): Contender[] {
  const sameAsLoop = 'one caller, one file: the same code as the serial loop';
  return [
    childContender(pool4, {
      id: 'node-loop',
      label: 'Node datasync(), serial loop',
      family: 'node',
      flusher: 'node-loop',
      kinds: ['flush', 'probe', 'latency'],
      notApplicable: { append: 'one appender at a time is not the workload: see the concurrent rows' },
    }),
    childContender(pool4, {
      id: 'node-concurrent-4',
      label: 'Node datasync(), concurrent, 4 threads',
      family: 'node',
      flusher: 'node-concurrent',
      kinds: ['flush', 'append', 'probe'],
      notApplicable: { latency: sameAsLoop },
    }),
    childContender(pool64, {
      id: 'node-concurrent-64',
      label: 'Node datasync(), concurrent, 64 threads',
      family: 'node',
      flusher: 'node-concurrent',
      kinds: ['flush', 'append', 'probe'],
      notApplicable: { latency: sameAsLoop },
    }),
  ];
}

/** W4's reference: the same probe in a process that flushes nothing. */
export function idleContender(pool4: Child): Contender {
  return childContender(pool4, {
    id: 'idle',
    label: 'idle process (no flush)',
    family: 'idle',
    flusher: null,
    kinds: ['probe'],
  });
}
