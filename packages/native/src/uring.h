// A minimal io_uring for batches of flushes, on the raw syscalls: liburing is not installed on a
// fresh machine, and the three calls plus three mmaps below are all a flush batch needs.
// Linux only: platform.h includes this file under __linux__ and gives other systems a stub.
#pragma once

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <unistd.h>

namespace fsync2 {

// glibc has no wrappers; the numbers come from the kernel headers (425-427 on every architecture
// since the unified table; alpha adds 110, which its own header accounts for).
inline int uring_setup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}

inline int uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, nullptr, 0));
}

inline int uring_register(int fd, unsigned opcode, void* arg, unsigned nr_args) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, nr_args));
}

// The kernel refuses a larger ring (IORING_MAX_ENTRIES); IORING_SETUP_CLAMP would clamp, but
// knowing the limit lets the caller size its submissions without asking.
constexpr unsigned kUringMaxEntries = 32768;

// One thread's ring. Not thread-safe by design: the addon keeps one per Node environment (one per
// worker thread), in the env's instance data, and only that thread submits to it.
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { Close(); }

  bool open() const { return fd_ >= 0; }
  unsigned entries() const { return sq_entries_; }
  // Whether the kernel has IORING_OP_SYNC_FILE_RANGE (5.2+); without it, writeback kicks run
  // synchronously rather than fail with EINVAL.
  bool has_sync_file_range() const { return has_sfr_; }

  // 0 or the errno of io_uring_setup / mmap: ENOSYS before 5.1 or under a seccomp filter that
  // hides it, EPERM when kernel.io_uring_disabled forbids it, ENOMEM when the locked-memory
  // limit (before 5.12) or memory is short.
  int Open(unsigned entries) {
    Close();
    io_uring_params p;
    std::memset(&p, 0, sizeof p);
    // CLAMP (5.6+) turns a too-large request into the largest ring rather than EINVAL.
    p.flags = IORING_SETUP_CLAMP;
    int fd = uring_setup(entries, &p);
    if (fd < 0 && errno == EINVAL) {
      std::memset(&p, 0, sizeof p);
      fd = uring_setup(entries, &p);
    }
    if (fd < 0) return errno;
    fd_ = fd;
    int err = Map(p);
    if (err != 0) {
      Close();
      return err;
    }
    Probe();
    return 0;
  }

  void Close() {
    if (sqes_ != nullptr) munmap(sqes_, sqes_len_);
    if (cq_ptr_ != nullptr && cq_ptr_ != sq_ptr_) munmap(cq_ptr_, cq_len_);
    if (sq_ptr_ != nullptr) munmap(sq_ptr_, sq_len_);
    if (fd_ >= 0) close(fd_);
    sqes_ = nullptr;
    sq_ptr_ = cq_ptr_ = nullptr;
    fd_ = -1;
    sq_entries_ = 0;
    max_workers_ = 0;
  }

  // Queues fsync (fdatasync with datasync) of the whole file; false when the queue is full.
  // Fsyncs queued together are not ordered with each other (no IOSQE_IO_LINK or IO_DRAIN):
  // independent files, flushed concurrently by io-wq.
  bool QueueFsync(int fd, bool datasync, uint64_t data) {
    io_uring_sqe* sqe = GetSqe();
    if (sqe == nullptr) return false;
    sqe->opcode = IORING_OP_FSYNC;
    sqe->fd = fd;
    sqe->fsync_flags = datasync ? IORING_FSYNC_DATASYNC : 0;  // off 0, len 0: the whole file
    sqe->user_data = data;
    return true;
  }

  // Queues sync_file_range(fd, 0, 0, flags): len 0 means to the end of the file, as in the syscall.
  bool QueueSyncFileRange(int fd, unsigned flags, uint64_t data) {
    io_uring_sqe* sqe = GetSqe();
    if (sqe == nullptr) return false;
    sqe->opcode = IORING_OP_SYNC_FILE_RANGE;
    sqe->fd = fd;
    sqe->sync_range_flags = flags;
    sqe->user_data = data;
    return true;
  }

  // Publishes the SQEs taken since the last call; returns how many the kernel has not consumed.
  unsigned Publish() {
    __atomic_store_n(sq_tail_, sq_tail_local_, __ATOMIC_RELEASE);
    return sq_tail_local_ - __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE);
  }

  // Submits what is queued and, when wait is set, blocks until at least one completion is
  // posted. Returns the number of SQEs consumed or -errno; EINTR is the caller's to retry, since
  // a wait interrupted after a submission returns the count, never EINTR.
  int Enter(unsigned to_submit, bool wait) {
    int r = uring_enter(fd_, to_submit, wait ? 1 : 0, wait ? IORING_ENTER_GETEVENTS : 0);
    return r < 0 ? -errno : r;
  }

  // Calls f(user_data, res) for each posted completion and frees their slots.
  template <typename F>
  unsigned Reap(F f) {
    unsigned head = *cq_head_;
    unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
    unsigned seen = 0;
    for (; head != tail; head++, seen++) {
      const io_uring_cqe& cqe = cqes_[head & *cq_mask_];
      f(cqe.user_data, cqe.res);
    }
    __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
    return seen;
  }

  // Raises (or lowers) the cap on io-wq's bounded workers, which run blocking requests such as
  // fsync. The default cap, min(ring entries, 4 x CPUs), keeps a batch of fsyncs 8 wide on two
  // cores although they mostly wait on the journal, not the CPU. Linux 5.15+; 0 or errno.
  // The cap belongs to this thread's io-wq and outlives the call, so it is set only on change.
  int SetMaxWorkers(unsigned bounded) {
    if (bounded == 0 || bounded == max_workers_) return 0;
    unsigned values[2] = {bounded, 0};  // 0 leaves the unbounded cap (sockets, pipes) as it is
    if (uring_register(fd_, IORING_REGISTER_IOWQ_MAX_WORKERS, values, 2) < 0) return errno;
    max_workers_ = bounded;
    return 0;
  }

 private:
  // A free SQE, zeroed, or nullptr when the submission queue is full.
  io_uring_sqe* GetSqe() {
    unsigned head = __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE);
    if (sq_tail_local_ - head >= sq_entries_) return nullptr;
    unsigned idx = sq_tail_local_ & *sq_mask_;
    io_uring_sqe* sqe = &sqes_[idx];
    std::memset(sqe, 0, sizeof *sqe);
    sq_array_[idx] = idx;
    sq_tail_local_++;
    return sqe;
  }

  int Map(const io_uring_params& p) {
    sq_entries_ = p.sq_entries;
    sq_len_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_len_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;  // 5.4+: one mapping for both rings
    if (single) sq_len_ = cq_len_ = sq_len_ > cq_len_ ? sq_len_ : cq_len_;
    void* sq = mmap(nullptr, sq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) return errno;
    sq_ptr_ = sq;
    if (single) {
      cq_ptr_ = sq;
    } else {
      void* cq = mmap(nullptr, cq_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
      if (cq == MAP_FAILED) return errno;
      cq_ptr_ = cq;
    }
    sqes_len_ = p.sq_entries * sizeof(io_uring_sqe);
    void* sqes = mmap(nullptr, sqes_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) return errno;
    sqes_ = static_cast<io_uring_sqe*>(sqes);
    char* s = static_cast<char*>(sq_ptr_);
    sq_head_ = reinterpret_cast<unsigned*>(s + p.sq_off.head);
    sq_tail_ = reinterpret_cast<unsigned*>(s + p.sq_off.tail);
    sq_mask_ = reinterpret_cast<unsigned*>(s + p.sq_off.ring_mask);
    sq_array_ = reinterpret_cast<unsigned*>(s + p.sq_off.array);
    sq_tail_local_ = *sq_tail_;
    char* c = static_cast<char*>(cq_ptr_);
    cq_head_ = reinterpret_cast<unsigned*>(c + p.cq_off.head);
    cq_tail_ = reinterpret_cast<unsigned*>(c + p.cq_off.tail);
    cq_mask_ = reinterpret_cast<unsigned*>(c + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<io_uring_cqe*>(c + p.cq_off.cqes);
    return 0;
  }

  // IORING_REGISTER_PROBE (5.6+) says which opcodes this kernel has. Before 5.6 the probe fails:
  // IORING_OP_FSYNC dates from 5.1 (the ring itself), sync_file_range from 5.2, so only the
  // latter is then treated as missing.
  void Probe() {
    has_sfr_ = false;
    constexpr unsigned kOps = 64;
    alignas(io_uring_probe) unsigned char buf[sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op)];
    std::memset(buf, 0, sizeof buf);
    auto* probe = reinterpret_cast<io_uring_probe*>(buf);
    if (uring_register(fd_, IORING_REGISTER_PROBE, probe, kOps) < 0) return;
    if (IORING_OP_SYNC_FILE_RANGE < probe->ops_len) {
      has_sfr_ = (probe->ops[IORING_OP_SYNC_FILE_RANGE].flags & IO_URING_OP_SUPPORTED) != 0;
    }
  }

  int fd_ = -1;
  unsigned sq_entries_ = 0;
  unsigned max_workers_ = 0;
  bool has_sfr_ = false;
  void* sq_ptr_ = nullptr;
  void* cq_ptr_ = nullptr;
  size_t sq_len_ = 0, cq_len_ = 0, sqes_len_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  unsigned *sq_head_ = nullptr, *sq_tail_ = nullptr, *sq_mask_ = nullptr, *sq_array_ = nullptr;
  unsigned sq_tail_local_ = 0;
  unsigned *cq_head_ = nullptr, *cq_tail_ = nullptr, *cq_mask_ = nullptr;
  io_uring_cqe* cqes_ = nullptr;
};

}  // namespace fsync2
