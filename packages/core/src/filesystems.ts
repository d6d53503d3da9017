// What fstatfs(2)'s f_type tells about durability, and which whole-filesystem flush is safe there.
// Magic numbers from linux/magic.h.

/**
 * - 'safe': syncfs writes back and commits everything, and (Linux 5.8+) reports writeback errors.
 * - 'no': syncfs is not trusted here: network and FUSE filesystems (what a remote or userspace
 *   server does on sync_fs is its own business), overlayfs (it syncs the upper filesystem, which we
 *   cannot see), and anything we do not know.
 */
export type SyncfsSupport = 'safe' | 'no';

export interface FsInfo {
  readonly name: string;
  /** Nothing written here survives a reboot: fsync returns 0 and means nothing. */
  readonly volatile: boolean;
  readonly syncfs: SyncfsSupport;
}

const disk = (name: string, syncfs: SyncfsSupport = 'safe'): FsInfo => ({ name, volatile: false, syncfs });
const remote = (name: string): FsInfo => ({ name, volatile: false, syncfs: 'no' });
const ram = (name: string): FsInfo => ({ name, volatile: true, syncfs: 'no' });

const TABLE = new Map<number, FsInfo>([
  [0xef53, disk('ext4')], // ext2/3/4 share the magic
  [0x58465342, disk('xfs')],
  // btrfs_sync_fs returns 0 when no transaction is running, even right after another task's
  // commit failed its device flush: faults.test saw syncfs return 0 on btrfs while every flush of
  // the device failed (about 1 run in 5). Per-file flushes there; see packages/core/README.md.
  [0x9123683e, disk('btrfs', 'no')],
  [0xf2f52010, disk('f2fs')],
  [0x2fc12fc1, disk('zfs', 'no')], // out of tree; not tested here
  [0x4d44, disk('vfat', 'no')],
  [0x2011bab0, disk('exfat', 'no')],
  [0x7366746e, disk('ntfs3', 'no')],
  [0x73717368, disk('squashfs', 'no')], // read-only: nothing to flush
  [0x6969, remote('nfs')],
  [0xff534d42, remote('cifs')],
  [0xfe534d42, remote('smb2')],
  [0x00c36400, remote('ceph')],
  [0x01021997, remote('9p')],
  [0x65735546, remote('fuse')], // also virtiofs
  [0x794c7630, remote('overlayfs')],
  [0x01021994, ram('tmpfs')], // also devtmpfs, /dev/shm, memfd
  [0x858458f6, ram('ramfs')],
  [0x958458f6, ram('hugetlbfs')],
  [0x62656572, ram('sysfs')],
  [0x9fa0, ram('proc')],
  [0x1cd1, ram('devpts')],
  [0x64626720, ram('debugfs')],
  [0x74726163, ram('tracefs')],
  [0x27e0eb, ram('cgroup')],
  [0x63677270, ram('cgroup2')],
  [0xcafe4a11, ram('bpf')],
  [0x50495045, ram('pipefs')],
  [0x534f434b, ram('sockfs')],
  [0x09041934, ram('anon_inode')],
]);

/** Unknown filesystems are assumed able to be durable, and get only per-file flushes. */
export function fsInfo(magic: number): FsInfo | null {
  if (magic < 0) return null;
  return TABLE.get(magic) ?? { name: `0x${magic.toString(16)}`, volatile: false, syncfs: 'no' };
}
