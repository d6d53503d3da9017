// W7: one batch over two filesystems (the disk and a loop-mounted ext4): a per-filesystem plan
// must flush each, and a whole-filesystem flush must not miss the second one.
import { FLUSH_TIME, KiB, flushRound, fmtCount, type Workload } from './workload.js';

const BYTES = 4 * KiB;

export const w7: Workload = {
  id: 'W7',
  name: 'mixed filesystems',
  cases(env) {
    if (typeof env.loop === 'string') return env.loop;
    const { files, imageMiB } = env.preset.w7;
    return [
      {
        id: 'W7',
        workload: 'W7',
        title: `mixed filesystems: ${fmtCount(files)} files × 4 KiB, half on the disk, half on a ${imageMiB} MiB loop ext4`,
        kind: 'flush',
        metrics: [FLUSH_TIME],
        params: { files, bytes: BYTES, imageMiB },
        limitFamily: 'c',
      },
    ];
  },
  round(env, spec, who) {
    const loop = env.loop as Exclude<typeof env.loop, string>;
    return flushRound(env, who, { bases: [env.scratch.root, loop.mount], tag: 'W7', files: Number(spec.params.files), bytes: BYTES });
  },
};
