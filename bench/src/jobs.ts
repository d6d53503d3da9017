// The timed work of the JavaScript contenders, as it runs inside a child process. Every shape
// opens what it needs first and stops the clock before closing: only the flush is timed.
import { pbkdf2 } from 'node:crypto';
import { writeSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { batchFiles } from './scratch.js';
import { median, percentile } from './stats.js';
import type { AppendSpec, Batch, LatencySpec, Measurement, ProbeSpec } from './types.js';

/** What a flush reported about itself (fsync2's report; nothing for Node's datasync). */
export interface FlushFacts {
  readonly durable?: boolean;
  readonly syscalls?: number;
  readonly plans?: readonly string[];
  readonly [key: string]: unknown;
}

/** How one contender makes data durable: a whole batch, or one file for one caller. */
export interface Flusher {
  batch(handles: readonly FileHandle[]): Promise<FlushFacts | void>;
  one(handle: FileHandle): Promise<FlushFacts | void>;
}

// Many one-file flushes summed up: which plans ran, how many syscalls, whether all were durable.
class Tally {
  #calls = 0;
  #syscalls = 0;
  #reported = false;
  #durable = true;
  readonly #plans = new Set<string>();

  add(facts: FlushFacts | void): void {
    this.#calls++;
    if (!facts) return;
    this.#reported = true;
    if (facts.durable === false) this.#durable = false;
    this.#syscalls += facts.syscalls ?? 0;
    for (const p of facts.plans ?? []) this.#plans.add(p);
  }

  facts(): Record<string, unknown> {
    if (!this.#reported) return {};
    return { durable: this.#durable, syscallsPerCall: this.#syscalls / this.#calls, plans: [...this.#plans].sort() };
  }
}

export type Job =
  | { readonly kind: 'hello' }
  | { readonly kind: 'flush'; readonly flusher: string; readonly batch: Batch }
  | { readonly kind: 'append'; readonly flusher: string; readonly spec: AppendSpec }
  | { readonly kind: 'probe'; readonly flusher: string | null; readonly spec: ProbeSpec }
  | { readonly kind: 'latency'; readonly flusher: string; readonly spec: LatencySpec };

// Opened in parallel but bounded, so a batch of 10,000 does not queue 10,000 opens at once.
async function openBatch(batch: Batch): Promise<FileHandle[]> {
  const paths = batchFiles(batch);
  const handles: FileHandle[] = new Array(paths.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(64, paths.length) }, async () => {
      while (next < paths.length) {
        const i = next++;
        handles[i] = await open(paths[i]!, 'r+');
      }
    }),
  );
  return handles;
}

async function closeAll(handles: readonly FileHandle[]): Promise<void> {
  await Promise.all(handles.map((h) => h.close()));
}

export async function runFlush(flusher: Flusher, batch: Batch): Promise<Measurement> {
  const handles = await openBatch(batch);
  try {
    const t0 = performance.now();
    const detail = await flusher.batch(handles);
    const ms = performance.now() - t0;
    return { values: { ms }, detail: { files: handles.length, ...detail } };
  } finally {
    await closeAll(handles);
  }
}

// Appends use fs.writeSync: a 128 B write to the page cache costs microseconds, so the flush is
// what is measured, not the threadpool's write path (which alone caps near 63 k appends/s here).
export async function runAppend(flusher: Flusher, spec: AppendSpec): Promise<Measurement> {
  const log = await open(spec.file, 'ax');
  try {
    const buf = Buffer.alloc(spec.bytes, 0x61);
    buf[spec.bytes - 1] = 0x0a;
    let appends = 0;
    const tally = new Tally();
    const t0 = performance.now();
    const deadline = t0 + spec.seconds * 1000;
    await Promise.all(
      Array.from({ length: spec.appenders }, async () => {
        while (performance.now() < deadline) {
          writeSync(log.fd, buf);
          tally.add(await flusher.one(log));
          appends++;
        }
      }),
    );
    const ms = performance.now() - t0;
    return { values: { appendsPerSec: (appends * 1000) / ms }, detail: { appends, ms, ...tally.facts() } };
  } finally {
    await log.close();
  }
}

export async function runLatency(flusher: Flusher, spec: LatencySpec): Promise<Measurement> {
  const file = await open(spec.file, 'ax');
  try {
    const buf = Buffer.alloc(spec.bytes, 0x6c);
    const ms: number[] = [];
    const tally = new Tally();
    for (let i = 0; i < spec.iterations; i++) {
      const t0 = performance.now();
      writeSync(file.fd, buf);
      const facts = await flusher.one(file);
      ms.push(performance.now() - t0);
      tally.add(facts);
    }
    return {
      values: { ms: median(ms) },
      detail: { p99: percentile(ms, 0.99), min: Math.min(...ms), iterations: ms.length, ...tally.facts() },
    };
  } finally {
    await file.close();
  }
}

// Every millisecond, one fs.promises.stat and one tiny crypto.pbkdf2: both run on libuv's
// threadpool, so their latency shows whether the flush left that pool to the rest of the process.
// Latency counts from when a probe was due, not from when the event loop got round to issuing it:
// a blocked loop issues the probes it owes late and at once, and their wait is part of the cost
// (otherwise a stalled loop would hide its own stall: coordinated omission). The first 1 ms of
// lateness is forgiven: that is the timer's own granularity, idle or not.
export async function runProbe(flusher: Flusher | null, spec: ProbeSpec): Promise<Measurement> {
  const handles = flusher && spec.batch ? await openBatch(spec.batch) : [];
  try {
    const statMs: number[] = [];
    const pbkdf2Ms: number[] = [];
    const pending: Promise<void>[] = [];
    const launch = (due: number) => {
      pending.push(stat(spec.statPath).then(() => void statMs.push(performance.now() - due)));
      pending.push(
        new Promise<void>((resolve, reject) =>
          pbkdf2('probe', 'salt', 1, 32, 'sha256', (err) => {
            if (err) return reject(err);
            pbkdf2Ms.push(performance.now() - due);
            resolve();
          }),
        ),
      );
    };
    const t0 = performance.now();
    let issued = 0;
    const tick = () => {
      const now = performance.now();
      while (t0 + issued <= now) launch(Math.min(now, t0 + 1 + issued++));
    };
    tick();
    const timer = setInterval(tick, 1);
    let detail: FlushFacts | void = undefined;
    try {
      if (flusher) detail = await flusher.batch(handles);
      else await sleep(spec.idleMs);
    } finally {
      clearInterval(timer);
      tick();
    }
    const flushMs = performance.now() - t0;
    await Promise.all(pending);
    return {
      values: { statP99: percentile(statMs, 0.99), pbkdf2P99: percentile(pbkdf2Ms, 0.99) },
      detail: {
        statP50: percentile(statMs, 0.5),
        pbkdf2P50: percentile(pbkdf2Ms, 0.5),
        probes: statMs.length,
        flushMs,
        ...detail,
      },
    };
  } finally {
    await closeAll(handles);
  }
}
