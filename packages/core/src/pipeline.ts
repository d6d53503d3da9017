// A call of many fds handed to threads in chunks while its later fds are still being described
// (fd-call.ts) is one batch to the planner, not one per chunk. Chosen and measured per chunk, the
// chunks' plans ran at the same time and each took about as long as all of them (10,000 fds,
// syncfs forbidden: plans of 1,025 / 2,048 / 4,096 / 2,831 files, 116-264 ms each), so a device's
// linear cost models learnt that 1,025 files cost what 4,096 do, and 'auto' chose a different
// arm from call to call. So the first chunk on a device chooses for the whole call, the others
// take its choice, and the plans that overlap in time are measured as one: their files against
// the wall time from the first start to the last answer.
import type { Choice } from './planner.js';

/** One device's chunk plans that are running together. */
interface Overlap {
  plans: number;
  files: number;
  startedAt: number;
  endedAt: number;
  failed: boolean;
}

/** What a group of overlapping plans teaches the cost model: `files` took `ms`. */
export interface Measured {
  readonly files: number;
  readonly ms: number;
}

export class Pipeline {
  /** The call's choice by device (a call may name files of several filesystems). */
  readonly #choices = new Map<bigint, Choice>();
  readonly #running = new Map<bigint, Overlap>();

  /** `files`: how many targets the call has, the size each device's choice is made for. */
  constructor(readonly files: number) {}

  /** The choice the call's first plan on `dev` made, which its later plans there take. */
  choiceFor(dev: bigint): Choice | undefined {
    return this.#choices.get(dev);
  }

  /** A plan of `files` of the call's files on `dev` starts now (performance.now() time). */
  started(dev: bigint, choice: Choice, files: number, at: number): void {
    if (!this.#choices.has(dev)) this.#choices.set(dev, choice);
    const o = this.#running.get(dev);
    if (o) {
      o.plans++;
      o.files += files;
    } else {
      this.#running.set(dev, { plans: 1, files, startedAt: at, endedAt: at, failed: false });
    }
  }

  /**
   * A plan started on `dev` has given its last answer. When no other plan of the call is still
   * running there, what they measured together; null until then, and for a group in which any
   * plan failed (a failure says nothing reliable about cost).
   */
  ended(dev: bigint, at: number, failed: boolean): Measured | null {
    const o = this.#running.get(dev);
    if (!o) return null;
    o.endedAt = Math.max(o.endedAt, at);
    o.failed ||= failed;
    if (--o.plans > 0) return null;
    this.#running.delete(dev);
    return o.failed ? null : { files: o.files, ms: o.endedAt - o.startedAt };
  }
}
