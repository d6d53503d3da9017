// Choosing, per filesystem and batch, the plan that should finish first while keeping the promise.
// Every arm here is safe on the filesystems it is offered for (see the README's safety argument);
// the planner only decides which is fastest, from what each plan cost on this device before.
import type { FsInfo } from './filesystems.js';
import type { Strategy } from './options.js';

export type Arm =
  | { readonly plan: 'perFile'; readonly width: number }
  | { readonly plan: 'writeback'; readonly width: number }
  /**
   * Flushes submitted from one pool thread's io_uring, at most `depth` in flight, run by up to
   * `workers` io-wq threads; with `kick`, the same task first starts writeback of every file
   * (sync_file_range WRITE, a hint) and then flushes them on the ring.
   */
  | { readonly plan: 'uring'; readonly depth: number; readonly workers: number; readonly kick: boolean }
  | { readonly plan: 'syncfs' };

export function armKey(arm: Arm): string {
  switch (arm.plan) {
    case 'perFile':
    case 'writeback':
      return `${arm.plan}/${arm.width}`;
    case 'uring':
      return `${arm.kick ? 'uring+kick' : 'uring'}/${arm.workers}`;
    case 'syncfs':
      return 'syncfs';
  }
}

/** What the machine can do, learned once from a pool thread. */
export interface Capabilities {
  readonly native: boolean;
  /** io_uring works in a pool thread. */
  readonly uring: boolean;
  /** syncfs reports writeback errors (Linux 5.8+). */
  readonly syncfsReportsErrors: boolean;
  readonly maxThreads: number;
}

export interface PlannerPolicy {
  /** Whether syncfs may be chosen at all (it flushes every dirty page of the filesystem). */
  readonly allowSyncfs: boolean;
  /** syncfs only when the batch owns at least this share of the system's dirty + writeback data… */
  readonly syncfsMinShare: number;
  /** …or when what it does not own is at most this many bytes. */
  readonly syncfsMaxForeignBytes: number;
  /** Chance of trying another eligible plan on a batch of at least 16 files, to keep learning. */
  readonly explore: number;
}

export interface PlanInput {
  readonly dev: bigint;
  readonly fs: FsInfo | null;
  readonly files: number;
  readonly strategy: Strategy;
  /** Dirty + writeback bytes of the batch's own files (cachestat), or null when unknown. */
  readonly ownDirtyBytes: number | null;
  /** Dirty + writeback bytes of the whole system (/proc/vmstat: nr_dirty + nr_writeback, which /proc/meminfo shows as Dirty: + Writeback:), or null when unknown. */
  readonly systemDirtyBytes: number | null;
}

/**
 * How busy the device is with writeback: 'busy' from BUSY_DIRTY_BYTES of dirty data on the system,
 * whoever owns it. Each regime has its own cost models: under a neighbour's 512 MiB of writeback
 * every per-file flush waits on journal commits crowded by it, and the ranking of the per-file
 * arms changes (W2: io_uring with a kick and many io-wq workers, like C's kick + 64 threads, beat
 * 8 threads' writeback plan by 1.5x). One model over both regimes learnt each from the other:
 * quiet batches made stale arms look cheap under noise, and auto tried them in turn.
 */
export type Regime = 'quiet' | 'busy';

const BUSY_DIRTY_BYTES = 64 * 2 ** 20;

export function regimeOf(systemDirtyBytes: number | null): Regime {
  return systemDirtyBytes !== null && systemDirtyBytes >= BUSY_DIRTY_BYTES ? 'busy' : 'quiet';
}

export interface Choice {
  readonly arm: Arm;
  /** Which of the device's models the choice came from, and the plan's cost goes to. */
  readonly regime: Regime;
  readonly reason: string;
  /** The input of the cost model for this arm: files, or dirty MiB for syncfs. */
  readonly x: number;
  /**
   * Time to write the batch's own dirty data, added to per-file predictions (they write it too)
   * and taken out of their measurements; syncfs's model covers all dirty data itself.
   */
  readonly dataMs: number;
}

/** Write bandwidth assumed to split a plan's time into "per file" and "per MiB" (~1.7 GB/s). */
const MS_PER_MIB = 0.6;

const MIB = 2 ** 20;
const ONE_FILE = 'one file: one flush on one thread';
/** Smallest batch worth a look at syncfs, and at exploring. */
const SYNCFS_MIN_FILES = 16;
const EXPLORE_MIN_FILES = 16;
/**
 * Exploration tries only arms predicted within this factor of the best: the ones that could turn
 * out best after all. An arm predicted 10x slower is not worth a user's batch to re-measure.
 */
const EXPLORE_SPAN = 2;
/**
 * Once an arm has a few measurements, one sample may move it at most this factor from what it
 * predicted: a batch that waited behind someone else's I/O (or a descheduled thread) must not
 * banish an arm, nor a lucky one crown it. Steady changes still get through in a few plans.
 */
const OUTLIER = 3;
/** io_uring arms: ring depth, and the io-wq worker caps the cost model chooses between. */
const URING_DEPTH = 512;
const URING_WORKERS = [16, 64, 256];
/** Smallest batch offered the uring+kick arm. */
const KICK_MIN_FILES = 16;

/**
 * A cost model y = a + b·x for one arm on one device: decayed least squares over the last
 * plans, starting from a prior. With batches all of one size it is exact at that size.
 */
class CostModel {
  #w = 0;
  #sx = 0;
  #sy = 0;
  #sxx = 0;
  #sxy = 0;
  constructor(readonly prior: { readonly a: number; readonly b: number }) {}

  get samples(): number {
    return this.#w;
  }

  /** What the prior alone says for x. */
  priorAt(x: number): number {
    return this.prior.a + this.prior.b * x;
  }

  observe(x: number, y: number): void {
    if (this.#w >= 1.5) {
      const p = this.predict(x);
      if (p > 0) y = Math.min(Math.max(y, p / OUTLIER), p * OUTLIER);
    }
    const decay = 0.8;
    this.#w = this.#w * decay + 1;
    this.#sx = this.#sx * decay + x;
    this.#sy = this.#sy * decay + y;
    this.#sxx = this.#sxx * decay + x * x;
    this.#sxy = this.#sxy * decay + x * y;
  }

  predict(x: number): number {
    const { a, b } = this.prior;
    if (this.#w < 0.5) return a + b * x;
    const mx = this.#sx / this.#w;
    const my = this.#sy / this.#w;
    const vx = this.#sxx / this.#w - mx * mx;
    if (!(vx > 1e-6 * (mx * mx + 1))) {
      // One batch size seen: the prior's shape, scaled to pass through what was measured. (Keeping
      // the prior's intercept instead made one small syncfs of 4 ms at 0.5 MiB a slope of 3 ms/MiB.)
      const base = a + b * mx;
      return Math.max(0, base > 0 ? ((a + b * x) * my) / base : my);
    }
    const slope = Math.max(0, (this.#sxy / this.#w - mx * my) / vx);
    return Math.max(0, my + slope * (x - mx));
  }
}

/** One device's cost models in one regime, by arm (armKey). */
type ArmModels = Map<string, { readonly arm: Arm; readonly model: CostModel }>;

function prior(arm: Arm): { a: number; b: number } {
  // Rough costs on a local SSD (ms, per file or per dirty MiB): only the first guess. Each
  // device's own measurements replace them after a few plans.
  switch (arm.plan) {
    case 'perFile':
      return { a: 0.15, b: 0.3 / Math.pow(Math.min(arm.width, 16), 0.7) };
    case 'writeback':
      return { a: 0.3, b: 0.25 / Math.pow(Math.min(arm.width, 16), 0.7) };
    case 'uring':
      // io-wq workers, like threads, share journal commits; the kick overlaps the data writes
      // (as writeback does against perFile) and, travelling in the same task, costs no round trip.
      return arm.kick
        ? { a: 0.15, b: 0.26 / Math.pow(Math.min(arm.workers, 64), 0.6) }
        : { a: 0.15, b: 0.3 / Math.pow(Math.min(arm.workers, 64), 0.6) };
    case 'syncfs':
      return { a: 3, b: 0.6 };
  }
}

function widths(max: number): number[] {
  const out: number[] = [];
  for (let w = 1; w < max; w *= 2) out.push(w);
  out.push(max);
  return out;
}

export class Planner {
  /**
   * Cost models by device and regime, then by arm. Two levels, not one `dev|regime|arm` key: a
   * choice predicts ~20 arms and scales each untried one by the measured ones, and building and
   * scanning flat keys (a bigint turned into a string per arm) made a warm choice 38 µs, now 13,
   * in front of an early syncfs's start. (Just after a sleep a choice still takes 60-120 µs.)
   */
  readonly #models = new Map<string, ArmModels>();
  readonly #policy: PlannerPolicy;
  readonly #random: () => number;

  constructor(policy: PlannerPolicy, random: () => number = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Whether the policy lets 'auto' choose syncfs at all. */
  get allowsSyncfs(): boolean {
    return this.#policy.allowSyncfs;
  }

  /** Whether measuring dirty data could change the choice: only then is it worth a round trip. */
  mayUseSyncfs(input: Pick<PlanInput, 'fs' | 'files' | 'strategy'>, caps: Capabilities): boolean {
    return input.strategy === 'auto' && input.files >= SYNCFS_MIN_FILES && this.#syncfsSupported(input.fs, caps) === null;
  }

  /** Whether the batch's own share of dirty data could change the guard's answer. */
  needsOwnDirty(systemDirtyBytes: number | null): boolean {
    return systemDirtyBytes !== null && systemDirtyBytes > this.#policy.syncfsMaxForeignBytes;
  }

  /**
   * Whether a batch owning at least `ownDirtyBytes` of `systemDirtyBytes` passes the guard: the
   * guard only relaxes as the batch's share grows, so a partial measurement can settle it.
   */
  ownsEnough(ownDirtyBytes: number, systemDirtyBytes: number): boolean {
    return this.#noisy({ ownDirtyBytes, systemDirtyBytes }) === null;
  }

  choose(input: PlanInput, caps: Capabilities): Choice {
    const { fs, files } = input;
    const width = Math.max(1, Math.min(files, caps.maxThreads));
    const dataMs = ((input.ownDirtyBytes ?? 0) / MIB) * MS_PER_MIB;
    const regime = regimeOf(input.systemDirtyBytes);
    const perFile = (why: string): Choice => ({ arm: { plan: 'perFile', width }, regime, reason: why, x: files, dataMs });
    if (fs?.volatile) return perFile(`${fs.name} is volatile: flushed for errors only, never durable`);
    // One file, nothing to choose between that could beat one flush on one thread (the latency
    // path of a log or a server answering COMMIT): no model, no formatting.
    if (files === 1 && (input.strategy === 'auto' || input.strategy === 'perFile')) return perFile(ONE_FILE);

    const arms: Arm[] = [];
    const excluded: string[] = [];
    const family = input.strategy;
    const useful = widths(caps.maxThreads).filter((w) => w <= files || w === 1);
    if (family === 'auto' || family === 'perFile') {
      for (const width of useful) arms.push({ plan: 'perFile', width });
    }
    if (family === 'auto' || family === 'writeback') {
      if (caps.native) {
        for (const width of useful) arms.push({ plan: 'writeback', width });
      } else {
        excluded.push('writeback needs sync_file_range, which only the addon has');
      }
    }
    if (family === 'auto' || family === 'uring') {
      if (caps.uring) {
        // Worker caps up to the batch's size, and the first at or above it.
        const workerCaps = URING_WORKERS.filter((w, i) => w <= files || i === 0 || URING_WORKERS[i - 1]! < files);
        // A kick has something to overlap only in a batch of some size; for a handful of files
        // it is a syscall each for nothing (and the report would count them).
        for (const kick of files >= KICK_MIN_FILES ? [true, false] : [false]) {
          for (const workers of workerCaps) arms.push({ plan: 'uring', depth: URING_DEPTH, workers, kick });
        }
      } else {
        excluded.push(caps.native ? 'io_uring is not available here' : 'io_uring needs the addon');
      }
    }
    if (family === 'auto' || family === 'syncfs') {
      // The noisy-neighbour guard is auto's: a caller who names syncfs has chosen it knowingly.
      const no = this.#syncfsSupported(fs, caps) ?? (family === 'auto' ? this.#noisy(input) : null);
      if (no === null) arms.push({ plan: 'syncfs' });
      else excluded.push(no);
    }
    if (arms.length === 0) return perFile(`strategy ${family}: ${excluded.join('; ')}; per-file flushes instead`);

    const syncfsX = (input.systemDirtyBytes ?? 0) / MIB;
    const xOf = (arm: Arm) => (arm.plan === 'syncfs' ? syncfsX : files);
    const extra = (arm: Arm) => (arm.plan === 'syncfs' ? 0 : dataMs);
    const models = this.#device(input.dev, regime);
    const untried = this.#untriedScales(models, files, syncfsX);
    const predicted = arms.map((arm) => ({ arm, ms: this.#predict(models, arm, xOf(arm), untried) + extra(arm) }));
    predicted.sort((p, q) => p.ms - q.ms);
    let pick = predicted[0]!;
    let how = family === 'auto' ? 'auto' : `strategy ${family}`;
    const near = predicted.filter((p, i) => i > 0 && p.ms <= pick.ms * EXPLORE_SPAN);
    if (near.length > 0 && files >= EXPLORE_MIN_FILES && this.#random() < this.#policy.explore) {
      pick = near[Math.floor(this.#random() * near.length)]!;
      how += ' (exploring)';
    }
    const runnerUp = predicted.find((p) => p !== pick);
    const vs = runnerUp ? `, next ${armKey(runnerUp.arm)} ${runnerUp.ms.toFixed(2)} ms` : '';
    const dirty = input.ownDirtyBytes !== null && input.systemDirtyBytes !== null
      ? `; batch owns ${(input.ownDirtyBytes / MIB).toFixed(1)} of ${(input.systemDirtyBytes / MIB).toFixed(1)} MiB dirty`
      : '';
    const skipped = excluded.length ? `; not ${excluded.join('; not ')}` : '';
    // A syncfs chosen without knowing the system's dirty data (strategy 'syncfs' skips the
    // vmstat read) has no x: its time says nothing about the size it is modelled on.
    const x = pick.arm.plan === 'syncfs' && input.systemDirtyBytes === null ? NaN : xOf(pick.arm);
    const busy = regime === 'busy' ? '; costs as learnt on a writeback-busy system' : '';
    return {
      arm: pick.arm,
      regime,
      reason: `${how}: ${armKey(pick.arm)} predicted ${pick.ms.toFixed(2)} ms${vs}${dirty}${skipped}${busy}`,
      x,
      dataMs: extra(pick.arm),
    };
  }

  /** Feeds a finished plan's wall time back into its arm's model (not when its size is unknown). */
  observe(dev: bigint, choice: Choice, ms: number): void {
    if (!Number.isFinite(choice.x) || !Number.isFinite(ms)) return;
    this.#model(this.#device(dev, choice.regime), choice.arm).observe(choice.x, Math.max(0, ms - choice.dataMs));
  }

  /** Whether the system's dirty data is worth reading for this batch: it picks the regime. */
  wantsSystemDirty(input: Pick<PlanInput, 'files' | 'strategy'>): boolean {
    return input.strategy === 'auto' && input.files >= SYNCFS_MIN_FILES;
  }

  #device(dev: bigint, regime: Regime): ArmModels {
    const key = `${dev}|${regime}`;
    let models = this.#models.get(key);
    if (!models) {
      models = new Map();
      this.#models.set(key, models);
    }
    return models;
  }

  #model(models: ArmModels, arm: Arm): CostModel {
    const key = armKey(arm);
    let m = models.get(key);
    if (!m) {
      m = { arm, model: new CostModel(prior(arm)) };
      models.set(key, m);
    }
    return m.model;
  }

  /**
   * An arm's predicted cost for x. An arm this device has not measured yet keeps its prior's
   * shape, scaled by how the device's measured arms compare with their own priors at this x
   * (those of the same plan if there are any, else every per-file plan): the priors are a guess
   * at one machine, and a device 4x slower than that guess is 4x slower for every arm. Without
   * the scale, each untried arm would look faster than every measured one and be tried in turn.
   * With no per-file plan measured yet, a measured syncfs slower than its prior (at `syncfsX`,
   * its own x) scales them by the square root of its ratio: the syncfs of 1,000 small files took
   * 15-25 ms here against a 6 ms prior, and io_uring's unscaled prior (22 ms) then won the next
   * batch and took 50 ms (10,000 files: 417 ms against syncfs's 110, one W1 round). The root, for
   * part of syncfs's excess is the per-inode work its model (by dirty MiB) does not see: scaled
   * so, io_uring's prior came to 43 ms at 1,000 files and ~480 at 10,000, against 35-50 and
   * 300-420 measured. Never below 1: syncfs's speed does not make an untried arm look cheaper.
   */
  #predict(models: ArmModels, arm: Arm, x: number, untried: (plan: Arm['plan']) => number): number {
    const model = this.#model(models, arm);
    if (model.samples >= 0.5 || arm.plan === 'syncfs') return model.predict(x);
    return model.predict(x) * untried(arm.plan);
  }

  /**
   * The scales of #predict for a batch of `files`, by plan, from one pass over the device's
   * models: per arm, that pass was ~20 arms x ~20 models of logs, ~0.3 ms of a 1,000-file call
   * before its early syncfs could start (code run once per call stays unoptimized).
   */
  #untriedScales(models: ArmModels, files: number, syncfsX: number): (plan: Arm['plan']) => number {
    const byPlan = new Map<Arm['plan'], { log: number; w: number }>();
    let any = 0;
    let anyW = 0;
    for (const m of models.values()) {
      if (m.arm.plan === 'syncfs' || m.model.samples < 0.5) continue;
      const expected = m.model.priorAt(files);
      const measured = m.model.predict(files);
      if (!(expected > 0) || !(measured > 0)) continue;
      const w = m.model.samples;
      const log = w * Math.log(measured / expected);
      any += log;
      anyW += w;
      const same = byPlan.get(m.arm.plan);
      if (same) {
        same.log += log;
        same.w += w;
      } else {
        byPlan.set(m.arm.plan, { log, w });
      }
    }
    const fallback = anyW > 0 ? Math.exp(any / anyW) : this.#syncfsScale(models, syncfsX);
    return (plan) => {
      const same = byPlan.get(plan);
      return same ? Math.exp(same.log / same.w) : fallback;
    };
  }

  #syncfsScale(models: ArmModels, x: number): number {
    const syncfs = models.get('syncfs')?.model;
    if (!syncfs || syncfs.samples < 0.5) return 1;
    const ratio = syncfs.predict(x) / syncfs.priorAt(x);
    return ratio > 1 ? Math.sqrt(ratio) : 1;
  }

  #syncfsSupported(fs: FsInfo | null, caps: Capabilities): string | null {
    if (!this.#policy.allowSyncfs) return 'syncfs: forbidden by planner.allowSyncfs';
    if (!caps.native) return 'syncfs needs the addon';
    if (!caps.syncfsReportsErrors) return 'syncfs can lose errors before Linux 5.8';
    if (!fs || fs.syncfs !== 'safe') return `syncfs is not trusted on ${fs?.name ?? 'an unknown filesystem'}`;
    return null;
  }

  // syncfs writes every dirty page of the filesystem: only worth it (and only harmless to other
  // writers' latency) when the batch owns most of what it would have to write.
  #noisy(input: Pick<PlanInput, 'ownDirtyBytes' | 'systemDirtyBytes'>): string | null {
    const system = input.systemDirtyBytes;
    if (system === null) return 'syncfs: the system\'s dirty data is unknown';
    const foreign = Math.max(0, system - (input.ownDirtyBytes ?? 0));
    if (foreign <= this.#policy.syncfsMaxForeignBytes) return null;
    if (input.ownDirtyBytes === null) return `syncfs: ${(system / MIB).toFixed(1)} MiB dirty on the system, the batch's share unknown`;
    if (input.ownDirtyBytes / system >= this.#policy.syncfsMinShare) return null;
    return `syncfs: the batch owns ${(input.ownDirtyBytes / MIB).toFixed(1)} of ${(system / MIB).toFixed(1)} MiB dirty (noisy neighbour)`;
  }
}
