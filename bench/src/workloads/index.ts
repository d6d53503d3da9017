// The workloads in the order they run and are reported.
import { w1 } from './w1-many-small.js';
import { w2 } from './w2-noisy-neighbour.js';
import { w3 } from './w3-group-commit.js';
import { w4 } from './w4-threadpool.js';
import { w5 } from './w5-one-file.js';
import { w6 } from './w6-bandwidth.js';
import { w7 } from './w7-mixed-fs.js';
import type { Workload } from './workload.js';

export const WORKLOADS: readonly Workload[] = [w1, w2, w3, w4, w5, w6, w7];
export type { Env, Workload } from './workload.js';
