// What the commands print: a human summary, or one JSON document (bigints as strings).
import type { FilesystemReport, TargetResult } from '@fsync2/core';

export interface Failure {
  readonly path: string;
  readonly code: string;
  readonly syscall: string | null;
  readonly message: string;
}

export function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** One line per filesystem: which plan ran and why. */
export function filesystemLines(filesystems: readonly FilesystemReport[]): string[] {
  return filesystems.map(
    (f) => `  ${f.fsType ?? 'unknown'} (dev ${f.dev})${f.volatile ? ' VOLATILE: nothing here survives a reboot' : ''}: ${f.plan}: ${f.reason}`,
  );
}

/** Per filesystem, from streamed results: the plan and reason of its last plan, and a count. */
export function filesystemsOf(results: readonly TargetResult[]): FilesystemReport[] {
  const byDev = new Map<bigint, FilesystemReport>();
  for (const r of results) {
    if (r.dev === null || r.plan === null) continue;
    const known = byDev.get(r.dev);
    byDev.set(r.dev, {
      dev: r.dev, fsType: r.fsType, volatile: r.volatile, plan: r.plan, reason: r.reason ?? '', files: (known?.files ?? 0) + 1,
    });
  }
  return [...byDev.values()];
}

export function failureOf(r: TargetResult): Failure {
  if (r.error) return { path: r.path ?? `fd ${r.fd}`, code: r.error.code, syscall: r.error.syscall, message: r.error.message };
  return { path: r.path ?? `fd ${r.fd}`, code: 'VOLATILE', syscall: r.syscall, message: `${r.path} is on ${r.fsType}, which keeps nothing across a reboot` };
}

/** Every failure on stderr, up to a screenful; --json has them all. */
export function printFailures(failures: readonly Failure[], io: { err(line: string): void }, max = 40): void {
  for (const f of failures.slice(0, max)) io.err(`not durable: ${f.path}: ${f.code}: ${f.message}`);
  if (failures.length > max) io.err(`… and ${failures.length - max} more (--json lists them all)`);
}
