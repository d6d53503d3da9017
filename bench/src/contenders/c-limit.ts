// The limit: bench/c/limit.c, compiled at bench time with the machine's cc, so that the hardware
// is measured in the same run as everything else. Without cc these rows are skipped, visibly.
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { median, percentile } from '../stats.js';
import type { Batch, Contender, Kind } from '../types.js';

const SOURCE = fileURLToPath(new URL('../../c/limit.c', import.meta.url));

export interface LimitBinary {
  readonly path: string;
  readonly cc: string;
}

/** Compiles limit.c into `dir`; a string is the reason it could not. */
export function buildLimit(dir: string): LimitBinary | string {
  const version = spawnSync('cc', ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    const why = (version.error as NodeJS.ErrnoException | undefined)?.code ?? `status ${version.status}`;
    return `no working C compiler (cc --version: ${why})`;
  }
  const out = join(dir, 'limit');
  const res = spawnSync('cc', ['-O2', '-pthread', '-o', out, SOURCE], { encoding: 'utf8' });
  if (res.status !== 0) {
    const first = (res.stderr || res.error?.message || '').trim().split('\n')[0];
    return `cc could not compile c/limit.c: ${first || `status ${res.status}`}`;
  }
  return { path: out, cc: version.stdout.split('\n')[0]!.trim() };
}

/** Runs the binary; its stdout is one JSON object. Rejects on a non-zero exit. */
export function runLimit(bin: string, args: readonly string[], cwd?: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`limit ${args.slice(0, 2).join(' ')}: ${stderr.trim() || err.message}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`limit ${args.slice(0, 2).join(' ')}: bad output ${stdout.slice(0, 200)}`));
      }
    });
  });
}

const THREADS = 64;

interface Mode {
  id: string;
  label: string;
  flush?: string;
  append?: string;
  latency?: string;
}

const MODES: readonly Mode[] = [
  { id: 'c-serial', label: 'C fdatasync, serial', flush: 'serial', latency: 'serial' },
  { id: 'c-threads', label: `C fdatasync, ${THREADS} threads`, flush: 'threads', append: 'threads' },
  { id: 'c-kick', label: `C writeback kick, then ${THREADS} threads`, flush: 'kick' },
  { id: 'c-group', label: 'C group commit (one fdatasync per group)', append: 'group' },
  { id: 'c-syncfs', label: 'C syncfs, one per filesystem', flush: 'syncfs', append: 'syncfs', latency: 'syncfs' },
];

export function cContenders(bin: LimitBinary | string): Contender[] {
  return MODES.map((m) => {
    const na: Partial<Record<Kind, string>> = { probe: 'runs in another process: it shares no threadpool with the probe' };
    if (!m.flush) na.flush = 'a mode for group commit only';
    if (!m.append) na.append = m.flush === 'kick' ? 'nothing to kick ahead of one small append' : 'one appender is not the workload';
    if (!m.latency) na.latency = 'one caller, one file: the same as serial';
    const base = { id: m.id, label: m.label, family: 'c' as const, notApplicable: na };
    if (typeof bin === 'string') return { ...base, unavailable: bin };
    const c: Contender = {
      ...base,
      ...(m.flush
        ? {
            flush: async (batch: Batch) => {
              const r = await runLimit(bin.path, ['flush', m.flush!, '-t', String(THREADS), ...batch.dirs]);
              return {
                values: { ms: Number(r.ns) / 1e6 },
                detail: { files: r.files, filesystems: r.filesystems, syscalls: r.syscalls, threads: r.threads },
              };
            },
          }
        : {}),
      ...(m.append
        ? {
            append: async (spec) => {
              const r = await runLimit(bin.path, [
                'append', m.append!, '-t', String(spec.appenders), '-s', String(spec.seconds), '-b', String(spec.bytes), spec.file,
              ]);
              const ms = Number(r.ns) / 1e6;
              return { values: { appendsPerSec: (Number(r.appends) * 1000) / ms }, detail: { appends: r.appends, flushes: r.flushes, ms } };
            },
          }
        : {}),
      ...(m.latency
        ? {
            latency: async (spec) => {
              const r = await runLimit(bin.path, ['latency', m.latency!, '-n', String(spec.iterations), '-b', String(spec.bytes), spec.file]);
              const ms = (r.ns as number[]).map((ns) => ns / 1e6);
              return { values: { ms: median(ms) }, detail: { p99: percentile(ms, 0.99), iterations: ms.length } };
            },
          }
        : {}),
    };
    return c;
  });
}
