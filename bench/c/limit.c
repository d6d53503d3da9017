// The hardware limit, measured in the same run as everything else: the plainest C that can make a
// batch durable, with no runtime, no pool and no crossing between languages in the way. The bench
// takes the fastest of these modes for a workload as "the limit" for that workload.
//
//   limit flush   serial|threads|kick|syncfs [-t THREADS] PATH...
//       PATH is a file, or a directory whose regular files are all flushed. Every file is opened
//       before the clock starts: only the flush is timed, as for every other contender.
//   limit append  threads|group|syncfs -t APPENDERS -s SECONDS -b BYTES FILE
//       Group commit: APPENDERS threads append BYTES to one new log file, each then waits until
//       its append is durable. Counts durable appends.
//   limit latency serial|syncfs -n ITERATIONS -b BYTES FILE
//       One caller, one new file: the latency of each write + flush.
//   limit exec    CMD ARG...
//       Times a process from fork to exit (for coreutils `sync`), without Node's spawn overhead.
//
// Prints one JSON object on stdout; times are CLOCK_MONOTONIC nanoseconds.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what, const char *arg, int err) {
  fprintf(stderr, "limit: %s %s: %s\n", what, arg ? arg : "", strerror(err));
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: limit flush serial|threads|kick|syncfs [-t N] PATH...\n"
          "       limit append threads|group|syncfs -t N -s SECONDS -b BYTES FILE\n"
          "       limit latency serial|syncfs -n N -b BYTES FILE\n"
          "       limit exec CMD ARG...\n");
  exit(64);
}

// ---- file lists -------------------------------------------------------------------------------

struct files {
  char **paths;
  int *fds;
  dev_t *devs;
  size_t n, cap;
};

static void add_path(struct files *f, char *path) {
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 1024;
    f->paths = realloc(f->paths, f->cap * sizeof *f->paths);
    if (!f->paths) die("realloc", NULL, ENOMEM);
  }
  f->paths[f->n++] = path;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

// Sorted by name so that serial modes walk the batch in the order it was written, as the JS
// contenders do.
static void add_dir(struct files *f, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) die("opendir", dir, errno);
  size_t first = f->n;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char *p;
    if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) die("asprintf", NULL, ENOMEM);
    struct stat st;
    if (stat(p, &st) != 0) die("stat", p, errno);
    if (S_ISREG(st.st_mode)) add_path(f, p);
    else free(p);
  }
  closedir(d);
  qsort(f->paths + first, f->n - first, sizeof *f->paths, by_name);
}

static void open_all(struct files *f) {
  f->fds = malloc(f->n * sizeof *f->fds);
  f->devs = malloc(f->n * sizeof *f->devs);
  if (!f->fds || !f->devs) die("malloc", NULL, ENOMEM);
  for (size_t i = 0; i < f->n; i++) {
    int fd = open(f->paths[i], O_RDWR | O_CLOEXEC);
    if (fd < 0) die("open", f->paths[i], errno);
    struct stat st;
    if (fstat(fd, &st) != 0) die("fstat", f->paths[i], errno);
    f->fds[i] = fd;
    f->devs[i] = st.st_dev;
  }
}

// ---- flush ------------------------------------------------------------------------------------

static struct files batch;
static atomic_size_t next_index;
static atomic_int errors;
static atomic_int first_errno;

static void note_error(int err) {
  atomic_fetch_add(&errors, 1);
  int zero = 0;
  atomic_compare_exchange_strong(&first_errno, &zero, err);
}

static void *flush_worker(void *arg) {
  (void)arg;
  for (;;) {
    size_t i = atomic_fetch_add(&next_index, 1);
    if (i >= batch.n) return NULL;
    if (fdatasync(batch.fds[i]) != 0) note_error(errno);
  }
}

static void flush_threads(int threads) {
  atomic_store(&next_index, 0);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (!tids) die("calloc", NULL, ENOMEM);
  for (int t = 0; t < threads; t++) {
    int rc = pthread_create(&tids[t], NULL, flush_worker, NULL);
    if (rc != 0) die("pthread_create", NULL, rc);
  }
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  free(tids);
}

static int cmd_flush(int argc, char **argv) {
  if (argc < 1) usage();
  const char *mode = argv[0];
  int threads = 64;
  int opt;
  optind = 1;
  while ((opt = getopt(argc, argv, "t:")) != -1) {
    if (opt == 't') threads = atoi(optarg);
    else usage();
  }
  if (threads < 1) usage();
  for (int i = optind; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) die("stat", argv[i], errno);
    if (S_ISDIR(st.st_mode)) add_dir(&batch, argv[i]);
    else add_path(&batch, argv[i]);
  }
  open_all(&batch);
  if ((size_t)threads > batch.n) threads = batch.n > 0 ? (int)batch.n : 1;

  // The distinct filesystems, found before the clock starts.
  int *fs_fds = malloc((batch.n ? batch.n : 1) * sizeof *fs_fds);
  dev_t *fs_devs = malloc((batch.n ? batch.n : 1) * sizeof *fs_devs);
  if (!fs_fds || !fs_devs) die("malloc", NULL, ENOMEM);
  size_t nfs = 0;
  for (size_t i = 0; i < batch.n; i++) {
    size_t k = 0;
    while (k < nfs && fs_devs[k] != batch.devs[i]) k++;
    if (k == nfs) {
      fs_devs[nfs] = batch.devs[i];
      fs_fds[nfs++] = batch.fds[i];
    }
  }

  long long syscalls = 0;
  long long t0 = now_ns();
  if (strcmp(mode, "serial") == 0) {
    threads = 1;
    for (size_t i = 0; i < batch.n; i++)
      if (fdatasync(batch.fds[i]) != 0) note_error(errno);
    syscalls = (long long)batch.n;
  } else if (strcmp(mode, "threads") == 0) {
    flush_threads(threads);
    syscalls = (long long)batch.n;
  } else if (strcmp(mode, "kick") == 0) {
    // Start writeback of every file first (a hint, never waited for), so the device works on all
    // of them while the flushes wait: PostgreSQL's pre_sync_fname, then parallel fdatasync.
    for (size_t i = 0; i < batch.n; i++) sync_file_range(batch.fds[i], 0, 0, SYNC_FILE_RANGE_WRITE);
    flush_threads(threads);
    syscalls = 2 * (long long)batch.n;
  } else if (strcmp(mode, "syncfs") == 0) {
    // One syncfs per filesystem in the batch, through the first fd seen on it.
    threads = 1;
    for (size_t k = 0; k < nfs; k++)
      if (syncfs(fs_fds[k]) != 0) note_error(errno);
    syscalls = (long long)nfs;
  } else {
    usage();
  }
  long long ns = now_ns() - t0;
  for (size_t i = 0; i < batch.n; i++) close(batch.fds[i]);
  printf("{\"mode\":\"%s\",\"threads\":%d,\"files\":%zu,\"filesystems\":%zu,\"syscalls\":%lld,"
         "\"ns\":%lld,\"errors\":%d,\"errno\":%d}\n",
         mode, threads, batch.n, nfs, syscalls, ns, atomic_load(&errors), atomic_load(&first_errno));
  return atomic_load(&errors) ? 2 : 0;
}

// ---- append (group commit) --------------------------------------------------------------------

static int log_fd;
static size_t append_bytes;
static long long deadline_ns;
static atomic_llong appends;
static atomic_llong flushes;
static enum { A_THREADS, A_GROUP, A_SYNCFS } append_mode;

// Group commit state: every append gets a sequence number when written; one flusher at a time
// makes everything written before its flush started durable, and wakes the appenders it covered.
static pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gc_done = PTHREAD_COND_INITIALIZER;
static long long gc_written, gc_durable;
static int gc_flushing;

static void append_once(const char *buf) {
  if (append_mode == A_GROUP) {
    pthread_mutex_lock(&gc_lock);
    if (write(log_fd, buf, append_bytes) != (ssize_t)append_bytes) die("write", NULL, errno);
    long long mine = ++gc_written;
    while (gc_durable < mine) {
      if (!gc_flushing) {
        gc_flushing = 1;
        long long covers = gc_written;
        pthread_mutex_unlock(&gc_lock);
        if (fdatasync(log_fd) != 0) note_error(errno);
        atomic_fetch_add(&flushes, 1);
        pthread_mutex_lock(&gc_lock);
        gc_durable = covers;
        gc_flushing = 0;
        pthread_cond_broadcast(&gc_done);
      } else {
        pthread_cond_wait(&gc_done, &gc_lock);
      }
    }
    pthread_mutex_unlock(&gc_lock);
    return;
  }
  if (write(log_fd, buf, append_bytes) != (ssize_t)append_bytes) die("write", NULL, errno);
  int rc = append_mode == A_SYNCFS ? syncfs(log_fd) : fdatasync(log_fd);
  if (rc != 0) note_error(errno);
  atomic_fetch_add(&flushes, 1);
}

static void *appender(void *arg) {
  (void)arg;
  char *buf = malloc(append_bytes);
  if (!buf) die("malloc", NULL, ENOMEM);
  memset(buf, 'a', append_bytes);
  buf[append_bytes - 1] = '\n';
  while (now_ns() < deadline_ns) {
    append_once(buf);
    atomic_fetch_add(&appends, 1);
  }
  free(buf);
  return NULL;
}

static int cmd_append(int argc, char **argv) {
  if (argc < 1) usage();
  const char *mode = argv[0];
  if (strcmp(mode, "threads") == 0) append_mode = A_THREADS;
  else if (strcmp(mode, "group") == 0) append_mode = A_GROUP;
  else if (strcmp(mode, "syncfs") == 0) append_mode = A_SYNCFS;
  else usage();
  int threads = 64;
  double seconds = 2;
  append_bytes = 128;
  int opt;
  optind = 1;
  while ((opt = getopt(argc, argv, "t:s:b:")) != -1) {
    if (opt == 't') threads = atoi(optarg);
    else if (opt == 's') seconds = atof(optarg);
    else if (opt == 'b') append_bytes = (size_t)atol(optarg);
    else usage();
  }
  if (optind != argc - 1 || threads < 1 || append_bytes < 1) usage();
  log_fd = open(argv[optind], O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) die("open", argv[optind], errno);

  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (!tids) die("calloc", NULL, ENOMEM);
  long long t0 = now_ns();
  deadline_ns = t0 + (long long)(seconds * 1e9);
  for (int t = 0; t < threads; t++) {
    int rc = pthread_create(&tids[t], NULL, appender, NULL);
    if (rc != 0) die("pthread_create", NULL, rc);
  }
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  long long ns = now_ns() - t0;
  close(log_fd);
  printf("{\"mode\":\"%s\",\"appenders\":%d,\"appends\":%lld,\"flushes\":%lld,\"ns\":%lld,\"errors\":%d,"
         "\"errno\":%d}\n",
         mode, threads, atomic_load(&appends), atomic_load(&flushes), ns, atomic_load(&errors),
         atomic_load(&first_errno));
  return atomic_load(&errors) ? 2 : 0;
}

// ---- latency ----------------------------------------------------------------------------------

static int cmd_latency(int argc, char **argv) {
  if (argc < 1) usage();
  const char *mode = argv[0];
  int use_syncfs;
  if (strcmp(mode, "serial") == 0) use_syncfs = 0;
  else if (strcmp(mode, "syncfs") == 0) use_syncfs = 1;
  else usage();
  int iterations = 50;
  size_t bytes = 4096;
  int opt;
  optind = 1;
  while ((opt = getopt(argc, argv, "n:b:")) != -1) {
    if (opt == 'n') iterations = atoi(optarg);
    else if (opt == 'b') bytes = (size_t)atol(optarg);
    else usage();
  }
  if (optind != argc - 1 || iterations < 1 || bytes < 1) usage();
  int fd = open(argv[optind], O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) die("open", argv[optind], errno);
  char *buf = malloc(bytes);
  if (!buf) die("malloc", NULL, ENOMEM);
  memset(buf, 'l', bytes);
  printf("{\"mode\":\"%s\",\"ns\":[", mode);
  for (int i = 0; i < iterations; i++) {
    long long t0 = now_ns();
    if (write(fd, buf, bytes) != (ssize_t)bytes) die("write", NULL, errno);
    int rc = use_syncfs ? syncfs(fd) : fdatasync(fd);
    long long ns = now_ns() - t0;
    if (rc != 0) note_error(errno);
    printf("%s%lld", i ? "," : "", ns);
  }
  close(fd);
  free(buf);
  printf("],\"errors\":%d,\"errno\":%d}\n", atomic_load(&errors), atomic_load(&first_errno));
  return atomic_load(&errors) ? 2 : 0;
}

// ---- exec -------------------------------------------------------------------------------------

static int cmd_exec(int argc, char **argv) {
  if (argc < 1) usage();
  fflush(stdout);
  long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) die("fork", NULL, errno);
  if (pid == 0) {
    // Our stdout carries the JSON; the timed command's own output goes nowhere.
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    execvp(argv[0], argv);
    fprintf(stderr, "limit: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid", NULL, errno);
  }
  long long ns = now_ns() - t0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("{\"ns\":%lld,\"status\":%d}\n", ns, code);
  return code == 0 ? 0 : 3;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *cmd = argv[1];
  if (strcmp(cmd, "flush") == 0) return cmd_flush(argc - 2, argv + 2);
  if (strcmp(cmd, "append") == 0) return cmd_append(argc - 2, argv + 2);
  if (strcmp(cmd, "latency") == 0) return cmd_latency(argc - 2, argv + 2);
  if (strcmp(cmd, "exec") == 0) return cmd_exec(argc - 2, argv + 2);
  usage();
}
