// What fstatfs(2)'s f_type tells about durability. Magic numbers from linux/magic.h.

export interface FsInfo {
  readonly name: string;
  /** Nothing written here survives a reboot: fsync returns 0 and means nothing. */
  readonly volatile: boolean;
}

const TABLE = new Map<number, FsInfo>([
  [0xef53, { name: 'ext4', volatile: false }], // ext2/3/4 share the magic
  [0x58465342, { name: 'xfs', volatile: false }],
  [0x9123683e, { name: 'btrfs', volatile: false }],
  [0x2fc12fc1, { name: 'zfs', volatile: false }],
  [0xf2f52010, { name: 'f2fs', volatile: false }],
  [0x4d44, { name: 'vfat', volatile: false }],
  [0x2011bab0, { name: 'exfat', volatile: false }],
  [0x7366746e, { name: 'ntfs3', volatile: false }],
  [0x6969, { name: 'nfs', volatile: false }],
  [0xff534d42, { name: 'cifs', volatile: false }],
  [0xfe534d42, { name: 'smb2', volatile: false }],
  [0x00c36400, { name: 'ceph', volatile: false }],
  [0x01021997, { name: '9p', volatile: false }],
  [0x65735546, { name: 'fuse', volatile: false }],
  [0x794c7630, { name: 'overlayfs', volatile: false }],
  [0x73717368, { name: 'squashfs', volatile: false }],
  [0x01021994, { name: 'tmpfs', volatile: true }], // also devtmpfs, /dev/shm, memfd
  [0x858458f6, { name: 'ramfs', volatile: true }],
  [0x958458f6, { name: 'hugetlbfs', volatile: true }],
  [0x62656572, { name: 'sysfs', volatile: true }],
  [0x9fa0, { name: 'proc', volatile: true }],
  [0x1cd1, { name: 'devpts', volatile: true }],
  [0x64626720, { name: 'debugfs', volatile: true }],
  [0x74726163, { name: 'tracefs', volatile: true }],
  [0x27e0eb, { name: 'cgroup', volatile: true }],
  [0x63677270, { name: 'cgroup2', volatile: true }],
  [0xcafe4a11, { name: 'bpf', volatile: true }],
  [0x50495045, { name: 'pipefs', volatile: true }],
  [0x534f434b, { name: 'sockfs', volatile: true }],
  [0x09041934, { name: 'anon_inode', volatile: true }],
]);

/** Unknown filesystems are assumed able to be durable and get the safe per-file plan. */
export function fsInfo(magic: number): FsInfo | null {
  if (magic < 0) return null;
  return TABLE.get(magic) ?? { name: `0x${magic.toString(16)}`, volatile: false };
}
