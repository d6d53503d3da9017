// W4: does flushing starve the rest of the process? Node's flushes occupy libuv's threadpool,
// which fs.promises.stat and crypto.pbkdf2 also need; fsync2 flushes on threads of its own.
import { KiB, flushRound, fmtCount, type Workload } from './workload.js';

const BYTES = 4 * KiB;

export const w4: Workload = {
  id: 'W4',
  name: 'threadpool isolation',
  cases(env) {
    const { files, idleMs } = env.preset.w4;
    return [
      {
        id: 'W4',
        workload: 'W4',
        title: `threadpool isolation: stat + pbkdf2 every ms while ${fmtCount(files)} files × 4 KiB are flushed`,
        kind: 'probe',
        metrics: [
          { key: 'statP99', label: 'fs.promises.stat p99', unit: 'ms', better: 'lower' },
          { key: 'pbkdf2P99', label: 'crypto.pbkdf2 p99', unit: 'ms', better: 'lower' },
        ],
        params: { files, bytes: BYTES, idleMs },
        limitFamily: 'idle',
      },
    ];
  },
  async round(env, spec, who) {
    const statPath = env.scratch.root;
    if (who.family === 'idle') return who.probe!({ batch: null, idleMs: Number(spec.params.idleMs), statPath });
    return flushRound(env, who, { bases: [env.scratch.root], tag: 'W4', files: Number(spec.params.files), bytes: BYTES }, (batch) =>
      who.probe!({ batch, idleMs: 0, statPath }),
    );
  },
};
