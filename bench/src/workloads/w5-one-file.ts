// W5: one caller, one file: the latency of a single small write made durable, where batching
// cannot help and any overhead a library adds shows.
import { join } from 'node:path';
import { inFreshDir, type Workload } from './workload.js';

export const w5: Workload = {
  id: 'W5',
  name: 'one caller, one file',
  cases(env) {
    const { iterations, bytes } = env.preset.w5;
    return [
      {
        id: 'W5',
        workload: 'W5',
        title: `one caller, one file: ${bytes / 1024} KiB write + flush (median of ${iterations} per round)`,
        kind: 'latency',
        metrics: [{ key: 'ms', label: 'write + flush latency', unit: 'ms', better: 'lower' }],
        params: { iterations, bytes },
        limitFamily: 'c',
      },
    ];
  },
  round(env, spec, who) {
    return inFreshDir(env, `W5-${who.id}`, (dir) =>
      who.latency!({ file: join(dir, 'one'), iterations: Number(spec.params.iterations), bytes: Number(spec.params.bytes) }),
    );
  },
};
