// coreutils `sync`: what a shell script has. `sync -d FILE…` opens and fdatasyncs each file in
// turn; `sync -f DIR…` calls syncfs once per argument (one directory per filesystem here).
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { batchFiles } from '../scratch.js';
import { median, percentile } from '../stats.js';
import { Skip, type Batch, type Contender, type LatencySpec, type Measurement } from '../types.js';
import { runLimit, type LimitBinary } from './c-limit.js';

export interface CoreutilsOptions {
  /** Times the process from fork to exit; without it Node's spawn is timed (a few ms more). */
  readonly limit: LimitBinary | null;
  /** ARG_MAX of this system: the batch must fit one command line. */
  readonly argMax: number;
}

export function coreutilsVersion(): string {
  const res = spawnSync('sync', ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) return '';
  return res.stdout.split('\n')[0]!.trim();
}

export function argMax(): number {
  const res = spawnSync('getconf', ['ARG_MAX'], { encoding: 'utf8' });
  const n = Number(res.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 131072;
}

// What execve counts against ARG_MAX: every argv and envp string with its NUL, and its pointer.
function commandBytes(args: readonly string[]): number {
  let bytes = 0;
  for (const a of args) bytes += Buffer.byteLength(a) + 1 + 8;
  for (const [k, v] of Object.entries(process.env)) bytes += Buffer.byteLength(`${k}=${v ?? ''}`) + 1 + 8;
  return bytes;
}

async function timedExec(opts: CoreutilsOptions, args: readonly string[], cwd?: string): Promise<{ ms: number; timedBy: string }> {
  if (opts.limit) {
    const r = await runLimit(opts.limit.path, ['exec', ...args], cwd);
    return { ms: Number(r.ns) / 1e6, timedBy: 'fork to exit (C)' };
  }
  const t0 = performance.now();
  const res = spawnSync(args[0]!, args.slice(1), { cwd, stdio: 'ignore' });
  const ms = performance.now() - t0;
  if (res.error || res.status !== 0) throw new Error(`${args.join(' ').slice(0, 80)}: ${res.error?.message ?? `status ${res.status}`}`);
  return { ms, timedBy: 'Node spawnSync (includes spawn overhead)' };
}

// W5 through a shell tool: write in this process, then one `sync` process per flush.
async function latency(opts: CoreutilsOptions, spec: LatencySpec, flushArgs: (file: string) => string[]): Promise<Measurement> {
  const fd = openSync(spec.file, 'ax');
  try {
    const buf = Buffer.alloc(spec.bytes, 0x6c);
    const ms: number[] = [];
    let timedBy = '';
    for (let i = 0; i < spec.iterations; i++) {
      const t0 = performance.now();
      writeSync(fd, buf);
      const writeMs = performance.now() - t0;
      const flush = await timedExec(opts, flushArgs(spec.file));
      timedBy = flush.timedBy;
      ms.push(writeMs + flush.ms);
    }
    return { values: { ms: median(ms) }, detail: { p99: percentile(ms, 0.99), iterations: ms.length, timedBy } };
  } finally {
    closeSync(fd);
  }
}

export function coreutilsContenders(opts: CoreutilsOptions, version: string): Contender[] {
  const na = {
    append: 'a process per append cannot group-commit',
    probe: 'runs in another process: it shares no threadpool with the probe',
  };
  const base = (id: string, label: string) => ({ id, label, family: 'coreutils' as const, notApplicable: na });
  if (!version) {
    const unavailable = 'coreutils sync not found';
    return [
      { ...base('sync-d', 'coreutils sync -d FILE…'), unavailable },
      { ...base('sync-f', 'coreutils sync -f (syncfs)'), unavailable },
    ];
  }
  return [
    {
      ...base('sync-d', 'coreutils sync -d FILE…'),
      async flush(batch: Batch) {
        // Relative names keep the command line short when the batch is one directory.
        const one = batch.dirs.length === 1 ? batch.dirs[0]! : undefined;
        const files = batchFiles(batch).map((f) => (one ? relative(one, f) : f));
        const args = ['sync', '-d', ...files];
        const bytes = commandBytes(['exec', ...args]);
        if (bytes > opts.argMax * 0.9) {
          throw new Skip(`${files.length} paths (${Math.round(bytes / 1024)} KiB) do not fit one command line (ARG_MAX ${Math.round(opts.argMax / 1024)} KiB)`);
        }
        const r = await timedExec(opts, args, one);
        return { values: { ms: r.ms }, detail: { files: files.length, timedBy: r.timedBy } };
      },
      latency: (spec) => latency(opts, spec, (file) => ['sync', '-d', file]),
    },
    {
      ...base('sync-f', 'coreutils sync -f (syncfs)'),
      async flush(batch: Batch) {
        const r = await timedExec(opts, ['sync', '-f', ...batch.dirs]);
        return { values: { ms: r.ms }, detail: { syscalls: batch.dirs.length, timedBy: r.timedBy } };
      },
      latency: (spec) => latency(opts, spec, (file) => ['sync', '-f', dirname(file)]),
    },
  ];
}
