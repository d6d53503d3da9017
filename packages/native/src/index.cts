export { loadNative, NATIVE_ENV, URING_ENV } from './binding.cjs';
export type { NativeBinding, NativeSource, NativeStatus } from './binding.cjs';
export { CACHESTAT, OPS, OP_SYSCALL, SYNC_FILE_RANGE, URING } from './ops.cjs';
export type { OpCode, OpName } from './ops.cjs';
