export { FlushPool, DEFAULT_POOL_OPTIONS } from './pool.js';
export type { PoolOptions, FlushBackend } from './pool.js';
export { WorkerError } from './errors.js';
export { KIND } from './protocol.cjs';
export type { NativeSource } from '@fsync2/native';
export type { FdInfo } from './resolve.cjs';
export type {
  Backend,
  Kind,
  ResolveResult,
  FlushResult,
  CloseResult,
  FlushEngine,
  FlushOptions,
  EngineFlushResult,
  ProbeResult,
  DirtyResult,
} from './protocol.cjs';
export { FlushLane } from './lane.js';
