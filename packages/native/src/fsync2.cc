// The syscalls Node lacks or wraps badly, as blocking calls for a worker thread's own stack.
// Each returns an errno (0 = success) and never throws for one: the TypeScript side maps errno to
// errors in one place. Arguments are checked in TypeScript; here only what would corrupt memory.
// No mutable globals: NODE_API_MODULE is then safe to load in several worker threads at once.
#include <napi.h>

#include <chrono>

#include "ops.h"
#include "platform.h"

namespace {

using namespace fsync2;

int FdArg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int32Value();
}

Napi::Value Fsync(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), do_fsync(FdArg(info, 0)));
}

Napi::Value Fdatasync(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), do_fdatasync(FdArg(info, 0)));
}

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), do_syncfs(FdArg(info, 0)));
}

Napi::Value SyncFileRange(const Napi::CallbackInfo& info) {
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  int64_t nbytes = info[2].As<Napi::Number>().Int64Value();
  unsigned flags = info[3].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), do_sync_file_range(FdArg(info, 0), offset, nbytes, flags));
}

Napi::Value FsType(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fs_type(FdArg(info, 0)));
}

Napi::Value FdFlags(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_flags(FdArg(info, 0)));
}

// describeFd(fd, out: BigUint64Array(6)) → errno. See describe_fd for the layout.
Napi::Value DescribeFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array ||
      info[1].As<Napi::TypedArray>().ElementLength() < 6) {
    Napi::TypeError::New(env, "describeFd(fd, out: BigUint64Array(6))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto out = info[1].As<Napi::TypedArrayOf<uint64_t>>();
  return Napi::Number::New(env, describe_fd(FdArg(info, 0), out.Data()));
}

int RunOp(int fd, unsigned char op) {
  switch (op) {
    case OP_NONE: return 0;
    case OP_FSYNC: return do_fsync(fd);
    case OP_FDATASYNC: return do_fdatasync(fd);
    case OP_SYNCFS: return do_syncfs(fd);
    case OP_WRITEBACK: return do_sync_file_range(fd, 0, 0, kSfrWrite);
    default: return EINVAL;
  }
}

// flushBatch(fds: Int32Array, ops: Uint8Array, errnos: Int32Array, nanos?: Float64Array):
// one crossing for a whole batch; each entry's errno and, if asked, its duration in ns.
// Returns the number of entries that failed.
Napi::Value FlushBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() ||
      !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "flushBatch(fds: Int32Array, ops: Uint8Array, errnos: Int32Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto fds = info[0].As<Napi::Int32Array>();
  auto ops = info[1].As<Napi::Uint8Array>();
  auto errnos = info[2].As<Napi::Int32Array>();
  Napi::Float64Array nanos;
  bool timed = info.Length() > 3 && info[3].IsTypedArray();
  if (timed) nanos = info[3].As<Napi::Float64Array>();
  size_t n = fds.ElementLength();
  if (ops.ElementLength() != n || errnos.ElementLength() != n ||
      (timed && nanos.ElementLength() != n)) {
    Napi::RangeError::New(env, "flushBatch: typed arrays differ in length")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    auto start = std::chrono::steady_clock::now();
    int err = RunOp(fds[i], ops[i]);
    if (timed) {
      nanos[i] = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count());
    }
    errnos[i] = err;
    if (err != 0) failed++;
  }
  return Napi::Number::New(env, failed);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("fsync", Napi::Function::New(env, Fsync, "fsync"));
  exports.Set("fdatasync", Napi::Function::New(env, Fdatasync, "fdatasync"));
  exports.Set("syncfs", Napi::Function::New(env, Syncfs, "syncfs"));
  exports.Set("syncFileRange", Napi::Function::New(env, SyncFileRange, "syncFileRange"));
  exports.Set("fsType", Napi::Function::New(env, FsType, "fsType"));
  exports.Set("describeFd", Napi::Function::New(env, DescribeFd, "describeFd"));
  exports.Set("fdFlags", Napi::Function::New(env, FdFlags, "fdFlags"));
  exports.Set("O_PATH", static_cast<double>(kOPath));
  exports.Set("flushBatch", Napi::Function::New(env, FlushBatch, "flushBatch"));

  Napi::Object ops = Napi::Object::New(env);
  ops.Set("NONE", static_cast<double>(OP_NONE));
  ops.Set("FSYNC", static_cast<double>(OP_FSYNC));
  ops.Set("FDATASYNC", static_cast<double>(OP_FDATASYNC));
  ops.Set("SYNCFS", static_cast<double>(OP_SYNCFS));
  ops.Set("WRITEBACK", static_cast<double>(OP_WRITEBACK));
  exports.Set("ops", ops);

  Napi::Object sfr = Napi::Object::New(env);
  sfr.Set("WAIT_BEFORE", static_cast<double>(kSfrWaitBefore));
  sfr.Set("WRITE", static_cast<double>(kSfrWrite));
  sfr.Set("WAIT_AFTER", static_cast<double>(kSfrWaitAfter));
  exports.Set("syncFileRangeFlags", sfr);
  return exports;
}

}  // namespace

NODE_API_MODULE(fsync2, Init)
