// W2: a few small files flushed while unrelated dirty data sits on the same filesystem. A
// whole-filesystem flush (syncfs) must write the neighbour's data too; per-file flushes need not.
import { join } from 'node:path';
import { FLUSH_TIME, KiB, MiB, flushRound, fmtCount, type Workload } from './workload.js';

const BYTES = 4 * KiB;

export const w2: Workload = {
  id: 'W2',
  name: 'noisy neighbour',
  cases(env) {
    const { files, noiseMiB } = env.preset.w2;
    return [
      {
        id: 'W2',
        workload: 'W2',
        title: `noisy neighbour: ${fmtCount(files)} files × 4 KiB beside ${fmtCount(noiseMiB)} MiB of unrelated dirty data`,
        kind: 'flush',
        metrics: [FLUSH_TIME],
        params: { files, bytes: BYTES, noiseMiB },
        limitFamily: 'c',
      },
    ];
  },
  round(env, spec, who) {
    return flushRound(env, who, {
      bases: [env.scratch.root],
      tag: 'W2',
      files: Number(spec.params.files),
      bytes: BYTES,
      // The noise is a new file written just before the batch: dirty, not yet under writeback.
      // Removing it afterwards drops its dirty pages, and the round's sync settles the rest.
      prepare() {
        const dir = env.scratch.fresh(`W2-noise-${who.id}`);
        env.scratch.writeFile(join(dir, 'noise'), Number(spec.params.noiseMiB) * MiB);
        return () => env.scratch.remove(dir);
      },
    });
  },
};
