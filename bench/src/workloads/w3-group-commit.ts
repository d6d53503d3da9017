// W3: group commit. Many concurrent callers append a small record to one log and each waits
// until its record is durable: a database's WAL, a queue's journal.
import { join } from 'node:path';
import { inFreshDir, type Workload } from './workload.js';

export const w3: Workload = {
  id: 'W3',
  name: 'group commit',
  cases(env) {
    const { appenders, seconds, bytes } = env.preset.w3;
    return [
      {
        id: 'W3',
        workload: 'W3',
        title: `group commit: ${appenders} appenders × ${bytes} B to one log, ${seconds} s`,
        kind: 'append',
        metrics: [{ key: 'appendsPerSec', label: 'durable appends per second', unit: 'appends/s', better: 'higher' }],
        params: { appenders, seconds, bytes },
        limitFamily: 'c',
      },
    ];
  },
  round(env, spec, who) {
    return inFreshDir(env, `W3-${who.id}`, (dir) =>
      who.append!({
        file: join(dir, 'log'),
        appenders: Number(spec.params.appenders),
        seconds: Number(spec.params.seconds),
        bytes: Number(spec.params.bytes),
      }),
    );
  },
};
