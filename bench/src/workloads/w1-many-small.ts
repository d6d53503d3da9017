// W1: many small files made durable at once (a package install, a checkout, a cache fill).
import { FLUSH_TIME, KiB, flushRound, fmtCount, type Workload } from './workload.js';

const BYTES = 4 * KiB;
// Room for what a child holds besides the batch: the runtime, its pool, the pipes.
const FD_HEADROOM = 1024;

export const w1: Workload = {
  id: 'W1',
  name: 'many small files',
  cases(env) {
    const fits = env.preset.w1.filter((n) => n + FD_HEADROOM <= env.fdLimit);
    if (fits.length === 0) return `no size fits the open-file limit (${env.fdLimit})`;
    return fits.map((files) => ({
      id: `W1-${files}`,
      workload: 'W1',
      title: `many small: ${fmtCount(files)} files × 4 KiB`,
      kind: 'flush',
      metrics: [FLUSH_TIME],
      params: { files, bytes: BYTES },
      limitFamily: 'c',
    }));
  },
  round(env, spec, who) {
    return flushRound(env, who, { bases: [env.scratch.root], tag: spec.id, files: Number(spec.params.files), bytes: BYTES });
  },
};

/** Sizes of the preset left out for the fd limit, to say so. */
export function w1Dropped(sizes: readonly number[], fdLimit: number): number[] {
  return sizes.filter((n) => n + FD_HEADROOM > fdLimit);
}
