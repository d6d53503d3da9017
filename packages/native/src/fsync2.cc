// The syscalls Node lacks or wraps badly, as blocking calls for a worker thread's own stack.
// Each returns an errno (0 = success) and never throws for one: the TypeScript side maps errno to
// errors in one place. Arguments are checked in TypeScript; here only what would corrupt memory.
// No mutable globals: NODE_API_MODULE is then safe to load in several worker threads at once.
#include <napi.h>

#include <chrono>
#include <memory>
#include <vector>

#include <sched.h>

#include "ops.h"
#include "platform.h"

namespace {

using namespace fsync2;
using Clock = std::chrono::steady_clock;

// State of one Node environment (one thread): kept in the env's instance data, never in a
// global, so that each worker thread has its own ring and its own teardown. Node deletes it
// when the environment exits; the Ring's destructor unmaps the ring and closes its fd.
struct AddonData {
  std::unique_ptr<Ring> ring;
  // Why io_uring is off in this thread for good: disableUring(), or a ring that failed in the
  // middle of a batch (it is not trusted again). 0 while io_uring may be used.
  int uring_off = 0;
  FsTypeCache fs_types;
};

AddonData* DataOf(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// This thread's ring with at least `entries` slots, opened on first use: 0 or why there is none.
// A ring that cannot grow keeps serving at its old size.
int EnsureRing(AddonData* d, unsigned entries) {
  if (d->uring_off != 0) return d->uring_off;
  if (entries < kUringDefaultDepth) entries = kUringDefaultDepth;
  if (d->ring && d->ring->open() && d->ring->entries() >= entries) return 0;
  auto ring = std::make_unique<Ring>();
  int err = ring->Open(entries);
  if (err == 0) {
    d->ring = std::move(ring);
    return 0;
  }
  return d->ring && d->ring->open() ? 0 : err;
}

double ElapsedNs(Clock::time_point from, Clock::time_point to) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

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
  return Napi::Number::New(env, describe_fd(FdArg(info, 0), out.Data(), &DataOf(env)->fs_types));
}

int RunOp(int fd, unsigned char op) {
  switch (op) {
    case OP_NONE: return 0;
    case OP_FSYNC: return do_fsync(fd);
    case OP_FDATASYNC: return do_fdatasync(fd);
    case OP_SYNCFS: return do_syncfs(fd);
    case OP_WRITEBACK: return do_sync_file_range(fd, 0, 0, kSfrWrite);
    // The kick was issued by KickAll before the batch's first flush; this is the flush.
    case OP_KICK_FSYNC: return do_fsync(fd);
    case OP_KICK_FDATASYNC: return do_fdatasync(fd);
    default: return EINVAL;
  }
}

// The kicks of a batch's kicked flushes, all of them before any flush starts, so that the
// writeback of every file is under way while the flushes wait (PostgreSQL's pre_sync_fname).
// sync_file_range(SYNC_FILE_RANGE_WRITE) without WAIT flags only starts writeback: it does not
// call file_check_and_advance_wb_err, so it consumes no writeback error, and its own result is
// ignored. Whatever the writeback hits is reported by the entry's flush, as it would be had a
// flusher thread started that writeback instead.
void KickAll(const int32_t* fds, const uint8_t* ops, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (IsKicked(ops[i])) (void)do_sync_file_range(fds[i], 0, 0, kSfrWrite);
  }
}

// A batch's typed arrays, checked: a wrong type or length would read or write past a buffer.
struct Batch {
  const int32_t* fds = nullptr;
  const uint8_t* ops = nullptr;
  int32_t* errnos = nullptr;
  double* nanos = nullptr;  // null when the caller did not ask for durations
  size_t n = 0;
};

bool IsTyped(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// describeFds(fds: Int32Array, out: BigUint64Array(6 n), errnos: Int32Array(n), openedForIo?: Uint8Array(n))
// → failures. describeFd for a whole batch in one crossing: a call of 10,000 fds paid ~0.7 µs of
// crossing, BigInt and object per fd on top of the statx and fcntl themselves. openedForIo[i] != 0:
// fd i is known not to be O_PATH (see describe_fd), its fcntl is skipped.
Napi::Value DescribeFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool has_known = info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull();
  if (info.Length() < 3 || !IsTyped(info[0], napi_int32_array) || !IsTyped(info[1], napi_biguint64_array) ||
      !IsTyped(info[2], napi_int32_array) || (has_known && !IsTyped(info[3], napi_uint8_array))) {
    Napi::TypeError::New(env, "describeFds(fds: Int32Array, out: BigUint64Array, errnos: Int32Array, openedForIo?: Uint8Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto fds = info[0].As<Napi::Int32Array>();
  auto out = info[1].As<Napi::TypedArrayOf<uint64_t>>();
  auto errnos = info[2].As<Napi::Int32Array>();
  size_t n = fds.ElementLength();
  const uint8_t* known = has_known ? info[3].As<Napi::Uint8Array>().Data() : nullptr;
  if (out.ElementLength() < 6 * n || errnos.ElementLength() < n ||
      (known && info[3].As<Napi::Uint8Array>().ElementLength() < n)) {
    Napi::RangeError::New(env, "describeFds: out needs 6 slots per fd, errnos and openedForIo one").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  FsTypeCache* cache = &DataOf(env)->fs_types;
  uint32_t failed = 0;
  for (size_t i = 0; i < n; i++) {
    errnos[i] = describe_fd(fds[i], out.Data() + 6 * i, cache, known && known[i] != 0);
    if (errnos[i] != 0) failed++;
  }
  return Napi::Number::New(env, failed);
}


bool ParseBatch(const Napi::CallbackInfo& info, const char* name, Batch* b) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !IsTyped(info[0], napi_int32_array) || !IsTyped(info[1], napi_uint8_array) ||
      !IsTyped(info[2], napi_int32_array) ||
      (info.Length() > 3 && info[3].IsTypedArray() && !IsTyped(info[3], napi_float64_array))) {
    Napi::TypeError::New(env, std::string(name) +
                                  "(fds: Int32Array, ops: Uint8Array, errnos: Int32Array, nanos?: Float64Array)")
        .ThrowAsJavaScriptException();
    return false;
  }
  auto fds = info[0].As<Napi::Int32Array>();
  auto ops = info[1].As<Napi::Uint8Array>();
  auto errnos = info[2].As<Napi::Int32Array>();
  size_t n = fds.ElementLength();
  bool timed = info.Length() > 3 && info[3].IsTypedArray();
  Napi::Float64Array nanos;
  if (timed) nanos = info[3].As<Napi::Float64Array>();
  if (ops.ElementLength() != n || errnos.ElementLength() != n || (timed && nanos.ElementLength() != n)) {
    Napi::RangeError::New(env, std::string(name) + ": typed arrays differ in length").ThrowAsJavaScriptException();
    return false;
  }
  b->fds = fds.Data();
  b->ops = ops.Data();
  b->errnos = errnos.Data();
  b->nanos = timed ? nanos.Data() : nullptr;
  b->n = n;
  return true;
}

// Entries [from, n) one after another on this thread; returns how many failed.
int RunSync(const Batch& b, size_t from) {
  int failed = 0;
  for (size_t i = from; i < b.n; i++) {
    auto start = Clock::now();
    int err = RunOp(b.fds[i], b.ops[i]);
    if (b.nanos) b.nanos[i] = ElapsedNs(start, Clock::now());
    b.errnos[i] = err;
    if (err != 0) failed++;
  }
  return failed;
}

// flushBatch(fds: Int32Array, ops: Uint8Array, errnos: Int32Array, nanos?: Float64Array):
// one crossing for a whole batch; each entry's errno and, if asked, its duration in ns (for a
// kicked flush, of the flush). The kicks of KICK_* entries come first (KickAll), then every entry
// in order. Returns the number of entries that failed.
Napi::Value FlushBatch(const Napi::CallbackInfo& info) {
  Batch b;
  if (!ParseBatch(info, "flushBatch", &b)) return info.Env().Undefined();
  KickAll(b.fds, b.ops, b.n);
  return Napi::Number::New(info.Env(), RunSync(b, 0));
}

// The ring's half of flushBatchUring. Fsyncs and writeback kicks go to the ring, at most
// `depth` of them queued or in flight at once; NONE, SYNCFS, unknown ops (and kicks on a kernel
// without IORING_OP_SYNC_FILE_RANGE) run here while the ring works. An entry is reported only
// from its own CQE: on a failure of io_uring_enter itself, the entries the kernel may hold get
// that errno (never 0), the ring is given up, and the rest run synchronously. Returns the
// failure count; *ring_err is 0 unless the ring failed. Kicked flushes are kicked here, on this
// thread, all before the first submission (KickAll), and then flushed on the ring.
int RunUring(Ring& ring, unsigned depth, const Batch& b, int* ring_err) {
  enum : uint8_t { kTodo = 0, kQueued = 1, kDone = 2 };
  std::vector<uint8_t> state(b.n, kTodo);
  std::vector<Clock::time_point> submitted(b.nanos ? b.n : 0);
  std::vector<size_t> fresh;  // queued since the last io_uring_enter, to stamp at submission
  fresh.reserve(depth);
  size_t next = 0;
  unsigned outstanding = 0;  // queued in the SQ or in flight, CQE not yet seen
  int failed = 0;
  *ring_err = 0;
  KickAll(b.fds, b.ops, b.n);

  auto complete = [&](size_t i, int err, Clock::time_point at) {
    b.errnos[i] = err;
    if (b.nanos) b.nanos[i] = ElapsedNs(submitted[i], at);
    if (err != 0) failed++;
    state[i] = kDone;
  };

  while (next < b.n || outstanding > 0) {
    while (next < b.n && outstanding < depth) {
      size_t i = next++;
      bool queued = false;
      switch (b.ops[i]) {
        case OP_FSYNC:
        case OP_KICK_FSYNC: queued = ring.QueueFsync(b.fds[i], false, i); break;
        case OP_FDATASYNC:
        case OP_KICK_FDATASYNC: queued = ring.QueueFsync(b.fds[i], true, i); break;
        case OP_WRITEBACK:
          if (ring.has_sync_file_range()) queued = ring.QueueSyncFileRange(b.fds[i], kSfrWrite, i);
          break;
        default: break;
      }
      if (queued) {
        state[i] = kQueued;
        outstanding++;
        if (b.nanos) fresh.push_back(i);
        continue;
      }
      // Not a ring op (or, defensively, no free SQE): the synchronous call, as flushBatch does.
      auto start = Clock::now();
      int err = RunOp(b.fds[i], b.ops[i]);
      if (b.nanos) submitted[i] = start;
      complete(i, err, Clock::now());
    }
    if (outstanding == 0) continue;

    unsigned unsubmitted = ring.Publish();
    if (b.nanos) {
      auto now = Clock::now();
      for (size_t i : fresh) submitted[i] = now;
      fresh.clear();
    }
    int r = ring.Enter(unsubmitted, true);
    if (r == -EINTR) continue;  // nothing was submitted, or the wait was cut short: ask again
    if ((r == -EAGAIN || r == -EBUSY) && outstanding > unsubmitted) {
      // Short of request memory, or completions to reap first: waiting for one frees both.
      r = ring.Enter(0, true);
      if (r == -EINTR) continue;
    }
    if (r < 0) {
      *ring_err = -r;
      break;
    }
    auto now = Clock::now();
    ring.Reap([&](uint64_t data, int res) {
      if (data >= b.n || state[data] != kQueued) return;  // not ours: never count it
      complete(static_cast<size_t>(data), res < 0 ? -res : 0, now);
      outstanding--;
    });
  }

  if (*ring_err != 0) {
    auto now = Clock::now();
    for (size_t i = 0; i < next; i++) {
      if (state[i] == kQueued) complete(i, *ring_err, now);
    }
    failed += RunSync(b, next);
  }
  return failed;
}

// flushBatchUring(fds, ops, errnos, nanos?, depth?, maxWorkers?): flushBatch's contract, with
// the fsyncs of the batch in flight together on this thread's io_uring instead of one after
// another. Without a ring (old kernel, io_uring_disabled, seccomp, disableUring()) it is
// flushBatch. nanos[i] runs from the entry's submission to the reap of its completion.
Napi::Value FlushBatchUring(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Batch b;
  if (!ParseBatch(info, "flushBatchUring", &b)) return env.Undefined();
  int64_t depth = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int64Value() : 0;
  if (depth <= 0) depth = kUringDefaultDepth;
  if (depth > kUringMaxDepth) depth = kUringMaxDepth;
  int64_t max_workers = info.Length() > 5 && info[5].IsNumber() ? info[5].As<Napi::Number>().Int64Value() : 0;

  AddonData* d = DataOf(env);
  if (EnsureRing(d, static_cast<unsigned>(depth)) != 0) {
    KickAll(b.fds, b.ops, b.n);
    return Napi::Number::New(env, RunSync(b, 0));
  }
  Ring& ring = *d->ring;
  // Best effort: a kernel before 5.15 cannot raise the cap, and the batch still completes.
  if (max_workers > 0) ring.SetMaxWorkers(static_cast<unsigned>(max_workers > 0xffff ? 0xffff : max_workers));
  unsigned limit = static_cast<unsigned>(depth) < ring.entries() ? static_cast<unsigned>(depth) : ring.entries();
  int ring_err = 0;
  int failed = RunUring(ring, limit, b, &ring_err);
  if (ring_err != 0) {
    d->uring_off = ring_err;
    d->ring.reset();
  }
  return Napi::Number::New(env, failed);
}

// uringStatus() → 0 when this thread has a working ring (set up now if it had none), else the
// errno of why not. A failed setup is tried again at the next call: ENOMEM may pass.
Napi::Value UringStatus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), EnsureRing(DataOf(info.Env()), kUringDefaultDepth));
}

// disableUring(errno?) → turns io_uring off in this thread for good (FSYNC2_URING=off, tests):
// uringStatus() then returns errno (EPERM, as kernel.io_uring_disabled=2 would, by default) and
// flushBatchUring runs synchronously. The ring, if any, is closed now.
Napi::Value DisableUring(const Napi::CallbackInfo& info) {
  AddonData* d = DataOf(info.Env());
  int err = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : EPERM;
  d->uring_off = err > 0 ? err : EPERM;
  d->ring.reset();
  return info.Env().Undefined();
}

// cachestat(fd, out: BigUint64Array | Float64Array (5)) → errno; out as CACHESTAT says, in pages.
Napi::Value Cachestat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool big = info.Length() > 1 && IsTyped(info[1], napi_biguint64_array);
  bool dbl = info.Length() > 1 && IsTyped(info[1], napi_float64_array);
  if (!(big || dbl) || info[1].As<Napi::TypedArray>().ElementLength() < CS_FIELDS) {
    Napi::TypeError::New(env, "cachestat(fd, out: BigUint64Array(5) | Float64Array(5))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint64_t counts[CS_FIELDS] = {0, 0, 0, 0, 0};
  int err = do_cachestat(FdArg(info, 0), counts);
  if (err == 0) {
    for (unsigned i = 0; i < CS_FIELDS; i++) {
      if (big) info[1].As<Napi::BigUint64Array>()[i] = counts[i];
      else info[1].As<Napi::Float64Array>()[i] = static_cast<double>(counts[i]);
    }
  }
  return Napi::Number::New(env, err);
}

// cachestatBatch(fds: Int32Array, dirty: Float64Array, writeback: Float64Array) → the first
// errno (0 if none). Pages dirty and under writeback per file; -1 in both where it failed.
Napi::Value CachestatBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !IsTyped(info[0], napi_int32_array) || !IsTyped(info[1], napi_float64_array) ||
      !IsTyped(info[2], napi_float64_array)) {
    Napi::TypeError::New(env, "cachestatBatch(fds: Int32Array, dirty: Float64Array, writeback: Float64Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto fds = info[0].As<Napi::Int32Array>();
  auto dirty = info[1].As<Napi::Float64Array>();
  auto writeback = info[2].As<Napi::Float64Array>();
  size_t n = fds.ElementLength();
  if (dirty.ElementLength() != n || writeback.ElementLength() != n) {
    Napi::RangeError::New(env, "cachestatBatch: typed arrays differ in length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int first = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t counts[CS_FIELDS];
    int err = do_cachestat(fds[i], counts);
    if (err != 0) {
      if (first == 0) first = err;
      dirty[i] = -1;
      writeback[i] = -1;
      continue;
    }
    dirty[i] = static_cast<double>(counts[CS_NR_DIRTY]);
    writeback[i] = static_cast<double>(counts[CS_NR_WRITEBACK]);
  }
  return Napi::Number::New(env, first);
}

Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), page_size());
}

// For a thread that polls shared memory: a thread it just woke is often queued on its own CPU
// (the scheduler's wake-affine placement), and without a yield would wait there until the
// poll ends or the next tick.
Napi::Value SchedYield(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), sched_yield() == 0 ? 0 : errno);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("fsync", Napi::Function::New(env, Fsync, "fsync"));
  exports.Set("fdatasync", Napi::Function::New(env, Fdatasync, "fdatasync"));
  exports.Set("syncfs", Napi::Function::New(env, Syncfs, "syncfs"));
  exports.Set("syncFileRange", Napi::Function::New(env, SyncFileRange, "syncFileRange"));
  exports.Set("fsType", Napi::Function::New(env, FsType, "fsType"));
  exports.Set("describeFd", Napi::Function::New(env, DescribeFd, "describeFd"));
  exports.Set("describeFds", Napi::Function::New(env, DescribeFds, "describeFds"));
  exports.Set("fdFlags", Napi::Function::New(env, FdFlags, "fdFlags"));
  exports.Set("O_PATH", static_cast<double>(kOPath));
  exports.Set("flushBatch", Napi::Function::New(env, FlushBatch, "flushBatch"));
  exports.Set("flushBatchUring", Napi::Function::New(env, FlushBatchUring, "flushBatchUring"));
  exports.Set("uringStatus", Napi::Function::New(env, UringStatus, "uringStatus"));
  exports.Set("disableUring", Napi::Function::New(env, DisableUring, "disableUring"));
  exports.Set("cachestat", Napi::Function::New(env, Cachestat, "cachestat"));
  exports.Set("cachestatBatch", Napi::Function::New(env, CachestatBatch, "cachestatBatch"));
  exports.Set("pageSize", Napi::Function::New(env, PageSize, "pageSize"));
  exports.Set("schedYield", Napi::Function::New(env, SchedYield, "schedYield"));
  env.SetInstanceData(new AddonData());

  Napi::Object ops = Napi::Object::New(env);
  ops.Set("NONE", static_cast<double>(OP_NONE));
  ops.Set("FSYNC", static_cast<double>(OP_FSYNC));
  ops.Set("FDATASYNC", static_cast<double>(OP_FDATASYNC));
  ops.Set("SYNCFS", static_cast<double>(OP_SYNCFS));
  ops.Set("WRITEBACK", static_cast<double>(OP_WRITEBACK));
  ops.Set("KICK_FSYNC", static_cast<double>(OP_KICK_FSYNC));
  ops.Set("KICK_FDATASYNC", static_cast<double>(OP_KICK_FDATASYNC));
  exports.Set("ops", ops);

  Napi::Object sfr = Napi::Object::New(env);
  sfr.Set("WAIT_BEFORE", static_cast<double>(kSfrWaitBefore));
  sfr.Set("WRITE", static_cast<double>(kSfrWrite));
  sfr.Set("WAIT_AFTER", static_cast<double>(kSfrWaitAfter));
  exports.Set("syncFileRangeFlags", sfr);

  Napi::Object cs = Napi::Object::New(env);
  cs.Set("NR_CACHE", static_cast<double>(CS_NR_CACHE));
  cs.Set("NR_DIRTY", static_cast<double>(CS_NR_DIRTY));
  cs.Set("NR_WRITEBACK", static_cast<double>(CS_NR_WRITEBACK));
  cs.Set("NR_EVICTED", static_cast<double>(CS_NR_EVICTED));
  cs.Set("NR_RECENTLY_EVICTED", static_cast<double>(CS_NR_RECENTLY_EVICTED));
  exports.Set("cachestatFields", cs);

  Napi::Object uring = Napi::Object::New(env);
  uring.Set("DEFAULT_DEPTH", static_cast<double>(kUringDefaultDepth));
  uring.Set("MAX_DEPTH", static_cast<double>(kUringMaxDepth));
  exports.Set("uring", uring);
  return exports;
}

}  // namespace

NODE_API_MODULE(fsync2, Init)
