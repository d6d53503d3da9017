#!/usr/bin/python3
"""A one-file FUSE filesystem that plays a disk for a loop device: fault injection and a write log.

    blockfs.py serve --image IMG --mount MNT [--log LOG] [--parent PID] [--watch DIR]
    blockfs.py fiemap FILE         physical extents of FILE (FS_IOC_FIEMAP), as JSON, in bytes
    blockfs.py janitor --parent PID --root DIR    when PID dies, cleans up DIR (see cleanup())

The mount holds two files:

  disk.img  the image IMG, read and written through (the loop device's backing file). Every write
            and every fsync of it arrives here as one FUSE op: the mount uses direct_io, so the
            FUSE client keeps no page cache of its own, and the loop driver turns each flush (and
            each FUA write, since a loop device reports no FUA) of the filesystem above into an
            fsync of this file (BRIEF section 4).
  ctl       write a command line to control faults; read it for a JSON status.

Commands written to ctl (one per write):
  fail-writes OFF LEN   writes (and reads, with read too) overlapping [OFF, OFF+LEN) fail with EIO
                        and are not applied: writeback EIO for the file that lives there
  fail-fsync N          the next N fsyncs of disk.img fail with EIO (N = -1: every one until
                        cleared): EIO at flush
  clear                 remove every fault
  mark TEXT             append a MARK record to the log

Log (with --log): the device as a userspace dm-log-writes. Records, in the order the ops were
served (the server is single-threaded, so this is also the order in which the kernel saw them
complete): header struct '<BQQI' = kind, seq, offset, length, then `length` bytes of payload.
  kind 1 WRITE  offset, data       applied to IMG too
  kind 2 FLUSH  (no payload)       an fsync of disk.img that returned 0: every WRITE before it is
                                   on stable storage, the ones after it may or may not be
  kind 3 MARK   text
  kind 4 FAILED_FLUSH              an fsync that this server failed
A failed write is neither applied nor logged. Replaying the WRITEs up to a FLUSH onto a copy of the
image as it was at mount, plus any subset of the WRITEs after it, gives a state a power cut could
have left.

The watchdog (serve --parent) and the janitor: when the test process dies without cleaning up
(SIGKILL), every mount under the test's directory is lazily unmounted, every loop device whose
backing file is under it is detached, the FUSE mount is unmounted and the directory removed, so
that nothing outlives the test.
"""
import argparse
import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time

HEADER = struct.Struct('<BQQI')
WRITE, FLUSH, MARK, FAILED_FLUSH = 1, 2, 3, 4


def serve(args):
    import warnings

    warnings.simplefilter('ignore')
    from fusepy import FUSE, FuseOSError, Operations

    image_fd = os.open(args.image, os.O_RDWR)
    image_size = os.fstat(image_fd).st_size
    log = open(args.log, 'wb', buffering=1 << 20) if args.log else None
    started = time.time()

    class State:
        seq = 0
        writes = 0
        flushes = 0
        bytes = 0
        failed_writes = 0
        failed_fsyncs = 0
        fail_ranges = []
        fail_fsync = 0

    st = State()

    def record(kind, offset=0, payload=b''):
        if log is None:
            return
        log.write(HEADER.pack(kind, st.seq, offset, len(payload)))
        if payload:
            log.write(payload)
        st.seq += 1

    def overlaps(offset, length):
        end = offset + length
        return any(offset < o + n and o < end for o, n in st.fail_ranges)

    def status():
        if log is not None:
            log.flush()
        return json.dumps({
            'seq': st.seq, 'writes': st.writes, 'flushes': st.flushes, 'bytes': st.bytes,
            'failedWrites': st.failed_writes, 'failedFsyncs': st.failed_fsyncs,
            'failRanges': st.fail_ranges, 'failFsync': st.fail_fsync, 'size': image_size,
        }).encode() + b'\n'

    def command(line):
        parts = line.split()
        if not parts:
            return
        op = parts[0]
        if op == 'fail-writes':
            st.fail_ranges.append((int(parts[1]), int(parts[2])))
        elif op == 'fail-fsync':
            st.fail_fsync = int(parts[1])
        elif op == 'clear':
            st.fail_ranges = []
            st.fail_fsync = 0
        elif op == 'mark':
            record(MARK, 0, ' '.join(parts[1:]).encode())
        else:
            raise FuseOSError(errno.EINVAL)

    now = time.time()

    class BlockFs(Operations):
        use_ns = True

        def getattr(self, path, fh=None):
            ns = int(now * 1e9)
            base = {'st_uid': 0, 'st_gid': 0, 'st_atime': ns, 'st_mtime': ns, 'st_ctime': ns}
            if path == '/':
                return {**base, 'st_mode': stat.S_IFDIR | 0o755, 'st_nlink': 2}
            if path == '/disk.img':
                return {**base, 'st_mode': stat.S_IFREG | 0o600, 'st_nlink': 1, 'st_size': image_size}
            if path == '/ctl':
                return {**base, 'st_mode': stat.S_IFREG | 0o600, 'st_nlink': 1, 'st_size': 0}
            raise FuseOSError(errno.ENOENT)

        def readdir(self, path, fh):
            return ['.', '..', 'disk.img', 'ctl']

        def open(self, path, flags):
            if path not in ('/disk.img', '/ctl'):
                raise FuseOSError(errno.ENOENT)
            return 0

        def truncate(self, path, length, fh=None):
            if path == '/ctl':
                return 0
            if length != image_size:
                raise FuseOSError(errno.EPERM)
            return 0

        def read(self, path, size, offset, fh):
            if path == '/ctl':
                return status()[offset:offset + size]
            return os.pread(image_fd, size, offset)

        def write(self, path, data, offset, fh):
            if path == '/ctl':
                for line in data.decode().splitlines():
                    command(line)
                return len(data)
            if offset + len(data) > image_size:
                raise FuseOSError(errno.ENOSPC)
            if overlaps(offset, len(data)):
                st.failed_writes += 1
                raise FuseOSError(errno.EIO)
            os.pwrite(image_fd, data, offset)
            record(WRITE, offset, data)
            st.writes += 1
            st.bytes += len(data)
            return len(data)

        def fsync(self, path, datasync, fh):
            if path != '/disk.img':
                return 0
            if st.fail_fsync != 0:
                if st.fail_fsync > 0:
                    st.fail_fsync -= 1
                st.failed_fsyncs += 1
                record(FAILED_FLUSH)
                raise FuseOSError(errno.EIO)
            record(FLUSH)
            st.flushes += 1
            return 0

        def flush(self, path, fh):
            return 0

        def release(self, path, fh):
            return 0

        def statfs(self, path):
            return {'f_bsize': 4096, 'f_frsize': 4096, 'f_blocks': image_size // 4096, 'f_bfree': 0,
                    'f_bavail': 0, 'f_namemax': 255}

    if args.parent:
        threading.Thread(target=watchdog, args=(args.parent, args.watch, args.mount), daemon=True).start()

    sys.stdout.write('ready\n')
    sys.stdout.flush()
    # -s: one thread, so ops are served (and logged) one at a time in the order they arrive.
    # direct_io: no page cache in the FUSE client, every loop write reaches write() above.
    FUSE(BlockFs(), args.mount, foreground=True, nothreads=True, direct_io=True, big_writes=True,
         max_write=131072, fsname='fsync2-blockfs', subtype='blockfs')
    if log is not None:
        log.close()
    os.close(image_fd)


def mounts_under(root):
    out = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            mp = line.split()[4].replace('\\040', ' ')
            if mp == root or mp.startswith(root.rstrip('/') + '/'):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def loops_under(root):
    try:
        res = subprocess.run(['losetup', '-l', '-J'], capture_output=True, text=True, timeout=10)
        devs = json.loads(res.stdout or '{"loopdevices": []}')['loopdevices']
    except Exception:
        return []
    prefix = root.rstrip('/') + '/'
    return [d['name'] for d in devs if (d.get('back-file') or '').startswith(prefix)]


def cleanup(root, own_mount):
    """Unmounts every filesystem under root (ours last), detaches its loop devices, removes it."""
    for mp in mounts_under(root):
        if mp != own_mount:
            subprocess.run(['umount', '-l', mp], capture_output=True, timeout=60)
    for dev in loops_under(root):
        subprocess.run(['losetup', '-d', dev], capture_output=True, timeout=60)
    if own_mount:
        subprocess.run(['umount', '-l', own_mount], capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def watchdog(parent, root, own_mount):
    while True:
        time.sleep(0.25)
        try:
            os.kill(parent, 0)
            if os.getppid() == parent:
                continue
        except ProcessLookupError:
            pass
        if root:
            cleanup(root, own_mount)
        os.kill(os.getpid(), signal.SIGTERM)
        return


def janitor(parent, root):
    """Waits for `parent` to die, then removes whatever it left under root (crash images mounted
    while no server runs included). Started in its own session, so a Ctrl-C meant for the test
    does not stop it first."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            break
        if os.getppid() != parent:
            break
        time.sleep(0.5)
    if os.path.isdir(root):
        cleanup(root, None)


FS_IOC_FIEMAP = 0xC020660B
FIEMAP_EXTENT = struct.Struct('<QQQQQIIII')  # logical, physical, length, reserved64[2], flags, reserved[3]
FIEMAP_HEADER = struct.Struct('<QQIIII')  # start, length, flags, mapped, count, reserved


def fiemap(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        count = 512
        buf = bytearray(FIEMAP_HEADER.size + count * FIEMAP_EXTENT.size)
        FIEMAP_HEADER.pack_into(buf, 0, 0, 0xFFFFFFFFFFFFFFFF, 0, 0, count, 0)
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
        mapped = FIEMAP_HEADER.unpack_from(buf, 0)[3]
        out = []
        for i in range(mapped):
            lo, ph, ln, _, _, flags, _, _, _ = FIEMAP_EXTENT.unpack_from(buf, FIEMAP_HEADER.size + i * FIEMAP_EXTENT.size)
            out.append({'logical': lo, 'physical': ph, 'length': ln, 'flags': flags})
        return out
    finally:
        os.close(fd)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('serve')
    s.add_argument('--image', required=True)
    s.add_argument('--mount', required=True)
    s.add_argument('--log')
    s.add_argument('--parent', type=int)
    s.add_argument('--watch')
    f = sub.add_parser('fiemap')
    f.add_argument('file')
    c = sub.add_parser('cleanup')
    c.add_argument('root')
    j = sub.add_parser('janitor')
    j.add_argument('--parent', type=int, required=True)
    j.add_argument('--root', required=True)
    args = p.parse_args()
    if args.cmd == 'serve':
        serve(args)
    elif args.cmd == 'fiemap':
        print(json.dumps(fiemap(args.file)))
    elif args.cmd == 'cleanup':
        cleanup(args.root, None)
    elif args.cmd == 'janitor':
        janitor(args.parent, args.root)


if __name__ == '__main__':
    main()
