// Every platform difference of the addon lives in this header, each with its reason,
// so that fsync2.cc reads as the plain list of calls it exports (libuv's habit).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>

#include "uring.h"
#elif defined(__APPLE__)
#include <sys/mount.h>
#include <sys/param.h>
#endif

namespace fsync2 {

// The kernel may interrupt a flush with a signal before it did anything; the flush must be
// issued again, never reported (TigerBeetle retries EINTR and nothing else).
template <typename F>
inline int retry_eintr(F call) {
  for (;;) {
    if (call() == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

inline int do_fsync(int fd) {
#if defined(__APPLE__)
  // Apple's fsync does not flush the drive's write cache; F_FULLFSYNC does. Some filesystems
  // refuse it (ENOTSUP on SMB, for one), so fall back like libuv's uv__fs_fsync. UNTESTED here.
  int err = retry_eintr([&] { return fcntl(fd, F_FULLFSYNC); });
  if (err == 0) return 0;
#ifdef F_BARRIERFSYNC
  err = retry_eintr([&] { return fcntl(fd, F_BARRIERFSYNC); });
  if (err == 0) return 0;
#endif
  return retry_eintr([&] { return fsync(fd); });
#else
  return retry_eintr([&] { return fsync(fd); });
#endif
}

inline int do_fdatasync(int fd) {
#if defined(__APPLE__)
  // macOS has no durable fdatasync: the data-only flush is the full one there.
  return do_fsync(fd);
#else
  return retry_eintr([&] { return fdatasync(fd); });
#endif
}

inline int do_syncfs(int fd) {
#if defined(__linux__)
  // syncfs reports writeback errors only since Linux 5.8; the core's planner checks the kernel
  // version before it chooses this call, the addon only issues it.
  return retry_eintr([&] { return syncfs(fd); });
#else
  (void)fd;
  return ENOSYS;
#endif
}

inline int do_sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned flags) {
#if defined(__linux__)
  return retry_eintr([&] { return sync_file_range(fd, offset, nbytes, flags); });
#else
  (void)fd; (void)offset; (void)nbytes; (void)flags;
  return ENOSYS;
#endif
}

// The filesystem's magic number (f_type), or -errno. Magic numbers are 32-bit on Linux even
// where the field is a long, so a double carries them exactly.
inline double fs_type(int fd) {
#if defined(__linux__)
  struct statfs st;
  int err = retry_eintr([&] { return fstatfs(fd, &st); });
  if (err != 0) return -static_cast<double>(err);
  return static_cast<double>(static_cast<uint32_t>(st.f_type));
#else
  (void)fd;
  return -static_cast<double>(ENOSYS);
#endif
}

// The fd's status flags (F_GETFL), or -errno. An O_PATH fd names a file but can do no I/O:
// fsync on it is EBADF, and a syncfs must not claim to cover it.
inline double fd_flags(int fd) {
  int flags;
  for (;;) {
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0) return static_cast<double>(flags);
    if (errno != EINTR) return -static_cast<double>(errno);
  }
}

#if defined(O_PATH)
constexpr int kOPath = O_PATH;
#else
constexpr int kOPath = 0;
#endif

#if defined(__linux__)
constexpr unsigned kSfrWaitBefore = SYNC_FILE_RANGE_WAIT_BEFORE;
constexpr unsigned kSfrWrite = SYNC_FILE_RANGE_WRITE;
constexpr unsigned kSfrWaitAfter = SYNC_FILE_RANGE_WAIT_AFTER;
#else
constexpr unsigned kSfrWaitBefore = 1;
constexpr unsigned kSfrWrite = 2;
constexpr unsigned kSfrWaitAfter = 4;
#endif

// Linux 6.8+: a 64-bit mount id that is never reused while the system runs (older headers lack it).
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

// f_type by unique mount id, for one thread. A mount's superblock never changes and a unique id
// is never given to another mount, so an entry can never go stale; without unique ids (before
// Linux 6.8) nothing is cached and every describe asks fstatfs. Plain mount ids are reused after
// an unmount: a cache keyed by them could call a new ramfs the tmpfs that had its number.
class FsTypeCache {
 public:
  bool find(uint64_t mnt, uint32_t* type) const {
    auto it = types_.find(mnt);
    if (it == types_.end()) return false;
    *type = it->second;
    return true;
  }
  void add(uint64_t mnt, uint32_t type) {
    if (types_.size() >= kMaxMounts) types_.clear();  // bounded, whatever a process mounts
    types_.emplace(mnt, type);
  }

 private:
  static constexpr size_t kMaxMounts = 4096;
  std::unordered_map<uint64_t, uint32_t> types_;
};

// What names a file and how it can be flushed, in one crossing for the caller's thread:
// out = [st_dev, st_ino, birth time ns (0 if unknown), st_mode, f_type (0 if unknown), fd flags].
// Returns 0 or the errno of fstat; f_type and the flags are best effort. `cache` (may be null)
// saves the fstatfs of a mount seen before. `opened_for_io`: the caller has already seen the fd
// answer a call that refuses O_PATH fds (cachestat), so fcntl is skipped and the flags are 0:
// a syscall costs ~1 µs here, a third of describing an fd.
inline int describe_fd(int fd, uint64_t out[6], FsTypeCache* cache = nullptr, bool opened_for_io = false) {
  bool done = false;
  uint64_t mnt = 0;
#if defined(__linux__) && defined(STATX_BTIME)
  struct statx sx;
  int err = retry_eintr([&] {
    return statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID_UNIQUE, &sx);
  });
  if (err != 0 && err != ENOSYS) return err;
  if (err == 0) {
    // st_dev's encoding (glibc makedev), so keys match fstat's on the pool threads.
    out[0] = static_cast<uint64_t>(makedev(sx.stx_dev_major, sx.stx_dev_minor));
    out[1] = sx.stx_ino;
    out[2] = (sx.stx_mask & STATX_BTIME)
                 ? static_cast<uint64_t>(sx.stx_btime.tv_sec) * 1000000000ull + sx.stx_btime.tv_nsec
                 : 0;
    out[3] = sx.stx_mode;
    // stx_mnt_id sits at byte 144 of the kernel's struct statx; glibc before 2.38 calls it padding.
    static_assert(sizeof(sx) >= 152, "struct statx holds stx_mnt_id");
    if (sx.stx_mask & STATX_MNT_ID_UNIQUE) std::memcpy(&mnt, reinterpret_cast<const char*>(&sx) + 144, sizeof(mnt));
    done = true;
  }
#endif
  if (!done) {
    struct stat st;
    int e = retry_eintr([&] { return fstat(fd, &st); });
    if (e != 0) return e;
    out[0] = static_cast<uint64_t>(st.st_dev);
    out[1] = static_cast<uint64_t>(st.st_ino);
    out[2] = 0;
    out[3] = static_cast<uint64_t>(st.st_mode);
  }
  uint32_t known;
  if (cache && mnt != 0 && cache->find(mnt, &known)) {
    out[4] = known;
  } else {
    double type = fs_type(fd);
    out[4] = type < 0 ? 0 : static_cast<uint64_t>(type);
    if (cache && mnt != 0 && type >= 0) cache->add(mnt, static_cast<uint32_t>(type));
  }
  double flags = opened_for_io ? 0 : fd_flags(fd);
  out[5] = flags < 0 ? 0 : static_cast<uint64_t>(flags);
  return 0;
}

// io_uring (Linux 5.1+) is Linux's alone: elsewhere a Ring never opens, and every batch takes
// flushBatch's synchronous loop. The stub keeps fsync2.cc free of #ifdefs.
#if !defined(__linux__)
constexpr unsigned kUringMaxEntries = 32768;

class Ring {
 public:
  bool open() const { return false; }
  unsigned entries() const { return 0; }
  bool has_sync_file_range() const { return false; }
  int Open(unsigned) { return ENOSYS; }
  void Close() {}
  bool QueueFsync(int, bool, uint64_t) { return false; }
  bool QueueSyncFileRange(int, unsigned, uint64_t) { return false; }
  unsigned Publish() { return 0; }
  int Enter(unsigned, bool) { return -ENOSYS; }
  template <typename F>
  unsigned Reap(F) { return 0; }
  int SetMaxWorkers(unsigned) { return ENOSYS; }
};
#endif

#if defined(__linux__)
#if defined(__NR_cachestat)
constexpr long kNrCachestat = __NR_cachestat;
#elif (defined(__x86_64__) && !defined(__ILP32__)) || defined(__aarch64__) || defined(__i386__) || \
    defined(__arm__) || defined(__riscv) || defined(__loongarch__) || defined(__powerpc__) || defined(__s390__)
// Headers older than Linux 6.5 (Debian 12 ships 6.1's) lack the number. cachestat came after the
// syscall tables were unified, so it is 451 on every architecture listed here (alpha, mips and
// x32 offset theirs, so they are left out and get ENOSYS).
constexpr long kNrCachestat = 451;
#else
constexpr long kNrCachestat = -1;
#endif
#endif

// The page cache's view of a whole file, in pages: out = [nr_cache, nr_dirty, nr_writeback,
// nr_evicted, nr_recently_evicted]. cachestat(2) is Linux 6.5+; older kernels (and seccomp
// filters that do not know it) give ENOSYS. Returns 0 or errno.
inline int do_cachestat(int fd, uint64_t out[5]) {
#if defined(__linux__)
  if (kNrCachestat < 0) return ENOSYS;
  // The kernel's struct cachestat_range and struct cachestat: only __u64 fields, so this layout
  // is the ABI on every architecture. Off 0, len 0: from the start to the end of the file.
  struct { uint64_t off, len; } range = {0, 0};
  struct { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; } cs = {0, 0, 0, 0, 0};
  int err = retry_eintr([&] { return static_cast<int>(syscall(kNrCachestat, fd, &range, &cs, 0)); });
  if (err != 0) return err;
  out[0] = cs.nr_cache;
  out[1] = cs.nr_dirty;
  out[2] = cs.nr_writeback;
  out[3] = cs.nr_evicted;
  out[4] = cs.nr_recently_evicted;
  return 0;
#else
  (void)fd; (void)out;
  return ENOSYS;
#endif
}

// cachestat counts pages; the caller wants bytes.
inline double page_size() {
  long size = sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<double>(size) : 4096.0;
}

}  // namespace fsync2
