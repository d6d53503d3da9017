// The ES module entry: named exports of the CommonJS one, so `import` and `require` share one
// module instance (one loadNative() cache per thread, whichever way the addon was asked for).
export { loadNative, NATIVE_ENV, URING_ENV, CACHESTAT, OPS, OP_SYSCALL, SYNC_FILE_RANGE, URING } from './index.cjs';
export type { NativeBinding, NativeSource, NativeStatus, OpCode, OpName } from './index.cjs';
