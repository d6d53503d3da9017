// Rounds, interleaved: every round runs each contender once, so a slow drift of the machine
// (another process, the disk's own cache, thermal state) lands on all of them alike. The order
// rotates by one each round, so no contender always follows the same neighbour.
import { flushRound, KiB } from './workloads/workload.js';
import type { Env, Workload } from './workloads/index.js';
import { Skip, type CaseSpec, type Contender, type Measurement } from './types.js';

export interface ContenderRun {
  readonly contender: Contender;
  readonly samples: Measurement[];
  /** Why it did not run here: unavailable on this machine, or could not take this input. */
  skipped: string | null;
  /** Not applicable to this kind of work (kept out of the table, kept in the JSON). */
  readonly notApplicable: string | null;
  error: string | null;
}

export interface CaseRun {
  readonly spec: CaseSpec;
  readonly runs: ContenderRun[];
  readonly seconds: number;
}

function applies(c: Contender, spec: CaseSpec): boolean {
  if (c.family === 'idle' && spec.limitFamily !== 'idle') return false;
  return typeof c[spec.kind] === 'function';
}

export interface Progress {
  (line: string): void;
}

export async function runCase(
  env: Env,
  workload: Workload,
  spec: CaseSpec,
  contenders: readonly Contender[],
  rounds: number,
  progress: Progress,
): Promise<CaseRun> {
  const started = performance.now();
  const runs: ContenderRun[] = contenders.map((contender) => {
    const na = contender.notApplicable?.[spec.kind] ?? null;
    const skipped = na === null ? (contender.unavailable ?? null) : null;
    const notApplicable = na ?? (skipped === null && !applies(contender, spec) ? 'not applicable' : null);
    return { contender, samples: [], skipped, notApplicable, error: null };
  });
  const active = runs.filter((r) => r.skipped === null && r.notApplicable === null);
  env.scratch.settle();
  for (let round = 0; round < rounds; round++) {
    progress(`${spec.id}: round ${round + 1}/${rounds}`);
    const order = active.map((_, i) => active[(i + round) % active.length]!);
    for (const run of order) {
      if (run.skipped !== null || run.error !== null) continue;
      try {
        run.samples.push(await workload.round(env, spec, run.contender));
      } catch (err) {
        if (err instanceof Skip) run.skipped = err.message;
        else run.error = (err as Error).message.split('\n')[0]!;
      }
    }
  }
  return { spec, runs: runs.filter((r) => r.contender.family !== 'idle' || spec.limitFamily === 'idle'), seconds: (performance.now() - started) / 1000 };
}

/**
 * One small untimed flush per contender before anything is measured: threads started, code
 * compiled, binaries in the page cache, as in a process that has been running for a while.
 */
export async function warmUp(env: Env, contenders: readonly Contender[]): Promise<void> {
  for (const c of contenders) {
    if (c.unavailable || !c.flush) continue;
    await flushRound(env, c, { bases: [env.scratch.root], tag: 'warmup', files: 16, bytes: 4 * KiB }).catch(() => {});
  }
}
