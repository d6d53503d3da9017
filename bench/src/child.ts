// A child process that runs timed jobs for the parent: one JSON job per stdin line, one JSON
// answer per stdout line. Usage: node child.js node|fsync2 [maxThreads]
import { createInterface } from 'node:readline';
import type { Syncer } from '@fsync2/core';
import { createBenchSyncer, createNoSyncfsSyncer, fsync2Flusher, NO_SYNCFS } from './contenders/fsync2.js';
import { NODE_FLUSHERS } from './contenders/node.js';
import type { Hello } from './children.js';
import { runAppend, runFlush, runLatency, runProbe, type Flusher, type Job } from './jobs.js';
import type { Strategy } from '@fsync2/core';

const role = process.argv[2];
const maxThreads = Number(process.argv[3] ?? 0) || null;
let syncer: Syncer | null = null;
// Made at start like the main one, so that its threads are up before its first timed job.
let noSyncfs: Syncer | null = null;
if (role === 'fsync2') {
  syncer = await createBenchSyncer(maxThreads);
  noSyncfs = await createNoSyncfsSyncer(maxThreads);
} else if (role !== 'node') {
  throw new Error(`unknown role ${role}`);
}

function flusher(name: string): Flusher {
  if (name.startsWith('fsync2:')) {
    if (!syncer) throw new Error(`${name} asked of a child without fsync2`);
    const strategy = name.slice('fsync2:'.length);
    if (strategy === NO_SYNCFS) return fsync2Flusher(noSyncfs!, 'auto');
    return fsync2Flusher(syncer, strategy as Strategy);
  }
  const f = NODE_FLUSHERS[name];
  if (!f) throw new Error(`unknown flusher ${name}`);
  return f;
}

async function run(job: Job): Promise<unknown> {
  switch (job.kind) {
    case 'hello': {
      const hello: Hello = {
        pid: process.pid,
        uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? null,
        fsync2: syncer ? { backend: syncer.backend, nativeReason: syncer.nativeReason, options: syncer.options } : null,
      };
      return hello;
    }
    case 'flush':
      return runFlush(flusher(job.flusher), job.batch);
    case 'append':
      return runAppend(flusher(job.flusher), job.spec);
    case 'probe':
      return runProbe(job.flusher ? flusher(job.flusher) : null, job.spec);
    case 'latency':
      return runLatency(flusher(job.flusher), job.spec);
  }
}

// One job at a time, in order: the parent never overlaps timed work in one child.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  queue = queue.then(async () => {
    const { id, job } = JSON.parse(line) as { id: number; job: Job };
    try {
      const result = await run(job);
      process.stdout.write(`${JSON.stringify({ id, ok: true, result }, bigintSafe)}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ id, ok: false, error: (err as Error).stack ?? String(err) })}\n`);
    }
  });
});
lines.on('close', () => {
  void queue.then(async () => {
    await syncer?.close();
    await noSyncfs?.close();
    process.exit(0);
  });
});

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
