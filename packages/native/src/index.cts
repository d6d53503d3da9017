export { loadNative, NATIVE_ENV } from './binding.cjs';
export type { NativeBinding, NativeStatus } from './binding.cjs';
export { OPS, OP_SYSCALL, SYNC_FILE_RANGE } from './ops.cjs';
export type { OpCode, OpName } from './ops.cjs';
