// The pure-TS path: Node's fs.*Sync on the worker's own thread. Slower than the addon (no batch
// crossing) and without syncfs or sync_file_range, which Node does not expose.
import fs = require('node:fs');
import os = require('node:os');
import { OPS } from '@fsync2/native';

const { EINTR, ENOSYS, EIO } = os.constants.errno;

/** A positive errno from a Node fs error. */
export function errnoOf(err: unknown): number {
  const errno = (err as NodeJS.ErrnoException | null)?.errno;
  return typeof errno === 'number' && errno !== 0 ? Math.abs(errno) : EIO;
}

function retryEintr(call: () => void): number {
  for (;;) {
    try {
      call();
      return 0;
    } catch (err) {
      const errno = errnoOf(err);
      if (errno !== EINTR) return errno;
    }
  }
}

export function runOp(fd: number, op: number): number {
  switch (op) {
    case OPS.NONE:
      return 0;
    case OPS.FSYNC:
      return retryEintr(() => fs.fsyncSync(fd));
    case OPS.FDATASYNC:
      return retryEintr(() => fs.fdatasyncSync(fd));
    default:
      // syncfs and sync_file_range: the planner does not choose them on this path.
      return ENOSYS;
  }
}

/** f_type through the fd's /proc magic link, which resolves even for an unlinked file. */
export function fsType(fd: number): number {
  if (process.platform !== 'linux') return -ENOSYS;
  try {
    return fs.statfsSync(`/proc/self/fd/${fd}`).type >>> 0;
  } catch (err) {
    return -errnoOf(err);
  }
}

/** fcntl(F_GETFL) is not in Node; /proc/self/fdinfo/N has the same flags, in octal. */
export function fdFlags(fd: number): number {
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    return m ? parseInt(m[1]!, 8) : -EIO;
  } catch (err) {
    return -errnoOf(err);
  }
}

/** Linux's O_PATH where Node does not export it (x86, arm, riscv; other architectures differ). */
export const O_PATH: number =
  process.platform === 'linux' && ['x64', 'ia32', 'arm', 'arm64', 'riscv64', 'loong64', 's390x', 'ppc64'].includes(process.arch)
    ? 0o10000000
    : 0;

/**
 * The kernel's page size without the addon (Node has no sysconf): the first mapping's
 * KernelPageSize in /proc/self/smaps, else 4096. Only the probe reports it on this path; it has
 * no cachestat to scale.
 */
export function pageSize(): number {
  let fd = -1;
  try {
    fd = fs.openSync('/proc/self/smaps', 'r');
    const buf = Buffer.alloc(8192);
    const len = fs.readSync(fd, buf, 0, buf.length, 0);
    const m = /KernelPageSize:\s+(\d+) kB/.exec(buf.toString('latin1', 0, len));
    return m ? Number(m[1]) * 1024 : 4096;
  } catch {
    return 4096;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
