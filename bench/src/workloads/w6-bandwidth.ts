// W6: bandwidth: a few large files, where the device's write speed, not the flush count, is the
// cost; whether flushes overlap decides how much of it is used.
import { FLUSH_TIME, MiB, flushRound, withDetail, type Workload } from './workload.js';

export const w6: Workload = {
  id: 'W6',
  name: 'bandwidth',
  cases(env) {
    const { files, mib } = env.preset.w6;
    return [
      {
        id: 'W6',
        workload: 'W6',
        title: `bandwidth: ${files} files × ${mib} MiB`,
        kind: 'flush',
        metrics: [FLUSH_TIME],
        params: { files, bytes: mib * MiB },
        limitFamily: 'c',
      },
    ];
  },
  async round(env, spec, who) {
    const files = Number(spec.params.files);
    const bytes = Number(spec.params.bytes);
    const m = await flushRound(env, who, { bases: [env.scratch.root], tag: 'W6', files, bytes });
    return withDetail(m, { gbPerSec: (files * bytes) / 1e9 / (m.values.ms! / 1000) });
  },
};
