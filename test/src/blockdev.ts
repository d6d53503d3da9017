// A failing, logging disk for the fault and crash suites: an ext4, xfs or btrfs image served by
// test/fuse/blockfs.py (a one-file FUSE filesystem), attached to a loop device and mounted.
//
//   image file ──FUSE (blockfs.py: faults, write log)──▶ <fuse>/disk.img ──losetup──▶ /dev/loopN ──mount──▶ <mnt>
//
// The loop driver turns each write of the filesystem above into a FUSE WRITE of disk.img and each
// flush (and each FUA write: a loop device reports no FUA) into an fsync of it, so the server sees
// the disk's traffic in order and can fail any of it (BRIEF sections 3 and 4). No device-mapper.
//
// Everything lives under one temp directory per process. It is all removed (mounts, loop devices,
// FUSE servers, files) by close(), by a process 'exit'/signal handler, and, if this process is
// SIGKILLed, by the server's own watchdog (blockfs.py --parent).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO, skipBecause } from './helpers.js';

// mkfs.*, losetup and btrfs-map-logical live in /usr/sbin, which a CI user's PATH may lack.
for (const dir of ['/usr/sbin', '/sbin']) {
  if (!(process.env.PATH ?? '').split(':').includes(dir)) process.env.PATH = `${process.env.PATH ?? ''}:${dir}`;
}

export const FS_TYPES = ['ext4', 'xfs', 'btrfs'] as const;
export type FsType = (typeof FS_TYPES)[number];

/** Debian's python (pyenv's on PATH has no Debian packages): python3-fusepy is importable there. */
export const PYTHON = '/usr/bin/python3';
export const BLOCKFS = path.join(REPO, 'test', 'fuse', 'blockfs.py');

const IMAGE_MIB: Record<FsType, number> = { ext4: 256, xfs: 320, btrfs: 256 }; // mkfs.xfs wants >= 300 MB
const MKFS: Record<FsType, string[]> = {
  // 4 KiB blocks (a small ext4 would get 1 KiB ones); inode tables initialised now, not by a
  // background thread that would write during the test.
  ext4: ['mkfs.ext4', '-q', '-F', '-b', '4096', '-E', 'lazy_itable_init=0,lazy_journal_init=0'],
  xfs: ['mkfs.xfs', '-q', '-f'],
  btrfs: ['mkfs.btrfs', '-q', '-f'],
};
/**
 * commit=60 (ext4 and btrfs; xfs forces its log every 30 s): fewer timed commits, so that what
 * is durable at a crash point is there because of the flushes under test, not a timer.
 * nodiscard: the server has no fallocate, so discards would only fail.
 */
export const MOUNT_OPTIONS: Record<FsType, string> = { ext4: 'commit=60', xfs: 'defaults', btrfs: 'commit=60,nodiscard' };

// ---------------------------------------------------------------------------------------------
// Requirements: what the suites need, installed from Debian when we are root and it is missing.

const PACKAGES: { what: string; pkg: string; present: () => boolean; fs?: FsType }[] = [
  { what: 'losetup', pkg: 'mount', present: () => hasCommand('losetup') },
  { what: 'fallocate', pkg: 'util-linux', present: () => hasCommand('fallocate') },
  { what: 'mkfs.ext4', pkg: 'e2fsprogs', present: () => hasCommand('mkfs.ext4'), fs: 'ext4' },
  { what: 'mkfs.xfs', pkg: 'xfsprogs', present: () => hasCommand('mkfs.xfs'), fs: 'xfs' },
  { what: 'mkfs.btrfs', pkg: 'btrfs-progs', present: () => hasCommand('mkfs.btrfs') && hasCommand('btrfs-map-logical'), fs: 'btrfs' },
  { what: 'python3-fusepy (for /usr/bin/python3)', pkg: 'python3-fusepy', present: () => fusepyImports() },
];

function hasCommand(cmd: string): boolean {
  const res = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  return res.status === 0;
}

function fusepyImports(): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  const res = spawnSync(PYTHON, ['-c', 'import fusepy'], { stdio: 'ignore', timeout: 30_000 });
  return res.status === 0;
}

function kernelHas(fsName: string): boolean {
  const known = fs.readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim().split(/\s+/).pop() === fsName);
  if (known) return true;
  spawnSync('modprobe', [fsName], { stdio: 'ignore' });
  return fs.readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim().split(/\s+/).pop() === fsName);
}

export interface Requirements {
  /** Why nothing can run here (not root, no /dev/fuse, …), or null. */
  readonly reason: string | null;
  /** Per filesystem: why it cannot be tested, or null. */
  readonly fsReason: Record<FsType, string | null>;
  /** Debian packages this process installed. */
  readonly installed: readonly string[];
}

let cachedRequirements: Requirements | null = null;

/**
 * Checks root, /dev/fuse, loop devices and the tools; as root with apt-get, installs the missing
 * Debian packages first (CI has no other way to get them; .ci/run installs the same list).
 */
export function requirements(): Requirements {
  if (cachedRequirements) return cachedRequirements;
  const none: Record<FsType, string | null> = { ext4: null, xfs: null, btrfs: null };
  const fail = (reason: string): Requirements => (cachedRequirements = { reason, fsReason: none, installed: [] });
  if (process.platform !== 'linux') return fail('loop devices and FUSE are Linux only');
  if (process.getuid?.() !== 0) return fail('needs root (mount, losetup, FUSE): run the tests as root');
  if (!fs.existsSync('/dev/fuse')) return fail('/dev/fuse is missing (no FUSE in this kernel or container)');
  if (!fs.existsSync('/dev/loop-control')) return fail('/dev/loop-control is missing (no loop devices)');
  if (!kernelHas('fuse')) return fail('the kernel has no fuse filesystem');

  const installed: string[] = [];
  let missing = PACKAGES.filter((p) => !p.present());
  let aptError = '';
  if (missing.length > 0 && hasCommand('apt-get')) {
    const pkgs = [...new Set(missing.map((p) => p.pkg))];
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let res = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { env, encoding: 'utf8', timeout: 600_000 });
    if (res.status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 600_000 });
      res = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { env, encoding: 'utf8', timeout: 600_000 });
    }
    if (res.status === 0) {
      installed.push(...pkgs);
      console.log(`installed from Debian: ${pkgs.join(' ')}`);
    }
    else aptError = ` (apt-get install ${pkgs.join(' ')} failed: ${(res.stderr || res.stdout || String(res.error)).trim().split('\n').pop()})`;
    missing = PACKAGES.filter((p) => !p.present());
  }
  const common = missing.filter((p) => !p.fs);
  if (common.length > 0) {
    const what = common.map((p) => `${p.what} (Debian: ${p.pkg})`).join(', ');
    cachedRequirements = { reason: `missing ${what}${aptError || (hasCommand('apt-get') ? '' : ': no apt-get to install it')}`, fsReason: none, installed };
    return cachedRequirements;
  }
  const fsReason = { ...none };
  for (const fsType of FS_TYPES) {
    const tool = missing.find((p) => p.fs === fsType);
    if (tool) fsReason[fsType] = `${tool.what} is not installed (Debian: ${tool.pkg})${aptError}`;
    else if (!kernelHas(fsType)) fsReason[fsType] = `the kernel has no ${fsType}`;
  }
  cachedRequirements = { reason: null, fsReason, installed };
  return cachedRequirements;
}

const announced = new Set<string>();

/**
 * True (after printing one SKIP line per suite and reason, not one per test) when `fsType` cannot
 * be tested here.
 */
export function skipUnlessReady(suite: string, fsType: FsType): boolean {
  const req = requirements();
  const [scope, reason] = req.reason ? [suite, req.reason] : [`${suite} on ${fsType}`, req.fsReason[fsType]];
  if (reason === null) return false;
  if (!announced.has(scope)) skipBecause(scope, reason);
  announced.add(scope);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Cleanup: one root directory per process; everything under it goes, whatever happens.

let root: string | null = null;
const servers = new Set<ChildProcess>();

/** This process's temp directory for images, mounts and logs (created on first use). */
export function workRoot(): string {
  if (root) return root;
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fsync2-blockdev-'));
  process.on('exit', () => cleanupRoot());
  // If this process is SIGKILLed, the janitor (in its own session) cleans up after it.
  const janitor = spawn(PYTHON, [BLOCKFS, 'janitor', '--parent', String(process.pid), '--root', root], { detached: true, stdio: 'ignore' });
  janitor.on('error', () => undefined);
  janitor.unref();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupRoot();
      process.exit(128 + (os.constants.signals[sig] ?? 0));
    });
  }
  return root;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points under `dir`, deepest first, with their filesystem type. */
export function mountsUnder(dir: string): { mnt: string; type: string }[] {
  const out: { mnt: string; type: string }[] = [];
  const prefix = dir.replace(/\/$/, '') + '/';
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const mnt = unescapeMount(fields[4]!);
    const type = fields[fields.indexOf('-') + 1] ?? '';
    if (mnt === dir || mnt.startsWith(prefix)) out.push({ mnt, type });
  }
  return out.sort((a, b) => b.mnt.length - a.mnt.length);
}

/** Loop devices whose backing file is under `dir`. */
export function loopsUnder(dir: string): string[] {
  const res = spawnSync('losetup', ['-l', '-J'], { encoding: 'utf8' });
  if (res.status !== 0 || !res.stdout.trim()) return [];
  const prefix = dir.replace(/\/$/, '') + '/';
  const devs = (JSON.parse(res.stdout) as { loopdevices: { name: string; 'back-file'?: string }[] }).loopdevices;
  // A deleted backing file shows as "path (deleted)".
  return devs.filter((d) => (d['back-file'] ?? '').startsWith(prefix)).map((d) => d.name);
}

function umount(mnt: string): void {
  if (spawnSync('umount', [mnt], { stdio: 'ignore', timeout: 120_000 }).status !== 0) {
    spawnSync('umount', ['-l', mnt], { stdio: 'ignore', timeout: 60_000 });
  }
}

/** Removes every mount, loop device and FUSE server under `dir` (default: this process's root). */
export function cleanupRoot(dir: string | null = root): void {
  if (!dir) return;
  const mounts = mountsUnder(dir);
  // The filesystems above the loop devices first, then the loop devices, then the FUSE mounts.
  for (const m of mounts.filter((m) => !m.type.startsWith('fuse'))) umount(m.mnt);
  for (const dev of loopsUnder(dir)) spawnSync('losetup', ['-d', dev], { stdio: 'ignore' });
  for (const m of mounts.filter((m) => m.type.startsWith('fuse'))) umount(m.mnt);
  for (const child of servers) if (child.exitCode === null) child.kill('SIGKILL');
  servers.clear();
  fs.rmSync(dir, { recursive: true, force: true });
  if (dir === root) root = null;
}

// ---------------------------------------------------------------------------------------------
// The device.

export interface ServerStatus {
  /** Log records so far: a position in the write log. */
  readonly seq: number;
  readonly writes: number;
  readonly flushes: number;
  readonly bytes: number;
  readonly failedWrites: number;
  readonly failedFsyncs: number;
}

export interface Range {
  readonly offset: number;
  readonly length: number;
}

export interface DeviceOptions {
  readonly fs: FsType;
  /** Keep a write log (and a copy of the image as mkfs left it) for crash images. */
  readonly log?: boolean;
  readonly name?: string;
}

let counter = 0;

function run(cmd: string, args: readonly string[], timeout = 120_000): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  if (res.error) throw new Error(`${cmd}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${res.status}: ${(res.stderr || res.stdout).trim()}`);
  return res.stdout;
}

export class BlockDevice {
  readonly fs: FsType;
  readonly dir: string;
  /** The image as served (the "disk"). */
  readonly image: string;
  /** The image as mkfs left it, before the first mount (log mode only). */
  readonly base: string | null;
  readonly logPath: string | null;
  readonly fuseMnt: string;
  readonly ctlPath: string;
  /** Where the filesystem under test is mounted. */
  readonly mnt: string;
  device = '';
  #server: ChildProcess | null = null;
  #mounted = false;

  private constructor(options: DeviceOptions) {
    this.fs = options.fs;
    this.dir = fs.mkdtempSync(path.join(workRoot(), `${options.name ?? options.fs}-${counter++}-`));
    this.image = path.join(this.dir, 'disk.img');
    this.base = options.log ? path.join(this.dir, 'base.img') : null;
    this.logPath = options.log ? path.join(this.dir, 'writes.log') : null;
    this.fuseMnt = path.join(this.dir, 'fuse');
    this.ctlPath = path.join(this.fuseMnt, 'ctl');
    this.mnt = path.join(this.dir, 'mnt');
  }

  static async create(options: DeviceOptions): Promise<BlockDevice> {
    const dev = new BlockDevice(options);
    try {
      await dev.#start();
      return dev;
    } catch (err) {
      await dev.close().catch(() => undefined);
      throw err;
    }
  }

  async #start(): Promise<void> {
    fs.writeFileSync(this.image, '');
    fs.truncateSync(this.image, IMAGE_MIB[this.fs] * 1024 * 1024);
    const [mkfs, ...args] = MKFS[this.fs];
    run(mkfs!, [...args, this.image]);
    if (this.base) run('cp', ['--sparse=always', this.image, this.base]);
    fs.mkdirSync(this.fuseMnt);
    fs.mkdirSync(this.mnt);
    const out = fs.openSync(path.join(this.dir, 'server.out'), 'w');
    const server = spawn(
      PYTHON,
      [BLOCKFS, 'serve', '--image', this.image, '--mount', this.fuseMnt, ...(this.logPath ? ['--log', this.logPath] : []),
        '--parent', String(process.pid), '--watch', workRoot()],
      { stdio: ['ignore', out, out] },
    );
    fs.closeSync(out);
    this.#server = server;
    servers.add(server);
    server.on('exit', () => servers.delete(server));
    const deadline = Date.now() + 20_000;
    while (!mountsUnder(this.fuseMnt).some((m) => m.mnt === this.fuseMnt)) {
      if (server.exitCode !== null || Date.now() > deadline) {
        throw new Error(`blockfs.py did not mount: ${fs.readFileSync(path.join(this.dir, 'server.out'), 'utf8').trim()}`);
      }
      await sleep(50);
    }
    this.device = run('losetup', ['--find', '--show', '--direct-io=off', path.join(this.fuseMnt, 'disk.img')]).trim();
    run('mount', ['-t', this.fs, '-o', MOUNT_OPTIONS[this.fs], this.device, this.mnt]);
    this.#mounted = true;
  }

  /** Sends one command to the server (see blockfs.py). */
  ctl(command: string): void {
    const fd = fs.openSync(this.ctlPath, 'r+');
    try {
      fs.writeSync(fd, `${command}\n`);
    } finally {
      fs.closeSync(fd);
    }
  }

  status(): ServerStatus {
    return JSON.parse(fs.readFileSync(this.ctlPath, 'utf8')) as ServerStatus;
  }

  /** Bytes of the image itself (what the "disk" holds), read beside the FUSE server. */
  readImage(range: Range): Buffer {
    const fd = fs.openSync(this.image, 'r');
    try {
      const buf = Buffer.alloc(range.length);
      fs.readSync(fd, buf, 0, range.length, range.offset);
      return buf;
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Where bytes [start, start + length) of `file` live on the device (FIEMAP; for btrfs, whose
   * FIEMAP answers in its own logical address space, mapped to the device by btrfs-map-logical).
   * The file's extents must exist: fallocate it and make the allocation durable first.
   */
  physicalRanges(file: string, start: number, length: number): Range[] {
    const extents = JSON.parse(run(PYTHON, [BLOCKFS, 'fiemap', file])) as { logical: number; physical: number; length: number; flags: number }[];
    const out: Range[] = [];
    const end = start + length;
    let covered = 0;
    for (const e of extents) {
      const lo = Math.max(e.logical, start);
      const hi = Math.min(e.logical + e.length, end);
      if (lo >= hi) continue;
      const addr = e.physical + (lo - e.logical);
      out.push(...(this.fs === 'btrfs' ? this.#btrfsMap(addr, hi - lo) : [{ offset: addr, length: hi - lo }]));
      covered += hi - lo;
    }
    if (covered !== length) throw new Error(`${file}: FIEMAP maps ${covered} of ${length} bytes: ${JSON.stringify(extents)}`);
    return out;
  }

  #btrfsMap(logical: number, length: number): Range[] {
    const out: Range[] = [];
    // Single-device, data profile single: one mirror. Mapped block by block would be exact; a
    // range inside one chunk is contiguous, which the start and the last block confirm.
    const physicalOf = (l: number): number => {
      const m = run('btrfs-map-logical', ['-l', String(l), '-b', '4096', this.device]).match(/mirror 1 logical \d+ physical (\d+)/);
      if (!m) throw new Error(`btrfs-map-logical found no mapping for ${l}`);
      return Number(m[1]);
    };
    const first = physicalOf(logical);
    const last = physicalOf(logical + length - 4096);
    if (last - first === length - 4096) return [{ offset: first, length }];
    for (let l = logical; l < logical + length; l += 4096) out.push({ offset: physicalOf(l), length: 4096 });
    return out;
  }

  /** Unmounts the filesystem under test (its last writes and flushes reach the log). */
  unmount(): void {
    if (!this.#mounted) return;
    umount(this.mnt);
    this.#mounted = false;
  }

  /** Unmounts, detaches the loop device, stops the server; keeps dir (image, base, log). */
  async stop(): Promise<void> {
    this.unmount();
    if (this.device) {
      spawnSync('losetup', ['-d', this.device], { stdio: 'ignore' });
      this.device = '';
    }
    if (mountsUnder(this.fuseMnt).length > 0) umount(this.fuseMnt);
    const server = this.#server;
    if (server && server.exitCode === null && server.signalCode === null) {
      // Unmounted, the server leaves its loop, writes the rest of its log and exits by itself;
      // a signal now could cut the log short. Signals only for a server that hangs.
      const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      const term = setTimeout(() => server.kill('SIGTERM'), 10_000);
      const kill = setTimeout(() => server.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(term);
      clearTimeout(kill);
    }
    this.#server = null;
    if (this.fs === 'btrfs') spawnSync('btrfs', ['device', 'scan', '--forget'], { stdio: 'ignore' });
  }

  /** stop(), and the directory removed. */
  async close(): Promise<void> {
    await this.stop();
    cleanupRoot(this.dir);
  }
}

/** syncfs(2) of the filesystem holding `dir`, as `sync -f` does it; false when it failed. */
export function syncfs(dir: string): boolean {
  return spawnSync('sync', ['-f', dir], { stdio: 'ignore' }).status === 0;
}

/** fallocate(1): allocated (unwritten) extents for `length` bytes. */
export function fallocate(file: string, length: number): void {
  execFileSync('fallocate', ['-l', String(length), file]);
}

// ---------------------------------------------------------------------------------------------
// Crash images: a copy of the image as mkfs left it, plus the logged writes up to a crash point.

export const Kind = { WRITE: 1, FLUSH: 2, MARK: 3, FAILED_FLUSH: 4 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface LogRecord {
  readonly kind: Kind;
  readonly seq: number;
  readonly offset: number;
  readonly length: number;
  /** Where the payload starts in the log file. */
  readonly pos: number;
}

const HEADER = 1 + 8 + 8 + 4;

export class WriteLog {
  readonly records: LogRecord[] = [];

  constructor(readonly file: string) {
    const buf = fs.readFileSync(file);
    let pos = 0;
    while (pos + HEADER <= buf.length) {
      const kind = buf.readUInt8(pos) as Kind;
      const seq = Number(buf.readBigUInt64LE(pos + 1));
      const offset = Number(buf.readBigUInt64LE(pos + 9));
      const length = buf.readUInt32LE(pos + 17);
      if (seq !== this.records.length) throw new Error(`${file}: record ${this.records.length} has seq ${seq}`);
      this.records.push({ kind, seq, offset, length, pos: pos + HEADER });
      pos += HEADER + length;
    }
    if (pos !== buf.length) throw new Error(`${file}: ${buf.length - pos} bytes after the last record`);
  }

  get end(): number {
    return this.records.length;
  }

  /** Index of the last FLUSH before `point` (records [0, point) were served), or -1. */
  lastFlushBefore(point: number): number {
    for (let i = Math.min(point, this.records.length) - 1; i >= 0; i--) if (this.records[i]!.kind === Kind.FLUSH) return i;
    return -1;
  }

  /**
   * The disk after a power cut at `point`: every write before the last completed flush, and of
   * the writes after it (which a disk cache may or may not have kept) those `keep` picks.
   * Returns how many unflushed writes were kept and dropped.
   */
  buildImage(base: string, out: string, point: number, keep: (index: number) => boolean): { kept: number; dropped: number } {
    run('cp', ['--sparse=always', base, out]);
    const flush = this.lastFlushBefore(point);
    const log = fs.openSync(this.file, 'r');
    const img = fs.openSync(out, 'r+');
    let kept = 0;
    let dropped = 0;
    try {
      for (let i = 0; i < Math.min(point, this.records.length); i++) {
        const r = this.records[i]!;
        if (r.kind !== Kind.WRITE) continue;
        if (i > flush) {
          if (!keep(i)) {
            dropped++;
            continue;
          }
          kept++;
        }
        const data = Buffer.allocUnsafe(r.length);
        fs.readSync(log, data, 0, r.length, r.pos);
        fs.writeSync(img, data, 0, r.length, r.offset);
      }
    } finally {
      fs.closeSync(log);
      fs.closeSync(img);
    }
    return { kept, dropped };
  }
}

/** A crash image attached to a loop device and mounted read-write (so the journal replays). */
export function mountImage(fsType: FsType, image: string, mnt: string): { release(): void } {
  fs.mkdirSync(mnt, { recursive: true });
  const device = run('losetup', ['--find', '--show', image]).trim();
  let mounted = false;
  const release = (): void => {
    if (mounted) umount(mnt);
    mounted = false;
    spawnSync('losetup', ['-d', device], { stdio: 'ignore' });
    if (fsType === 'btrfs') spawnSync('btrfs', ['device', 'scan', '--forget'], { stdio: 'ignore' });
  };
  try {
    // xfs refuses a second filesystem with the same UUID; the images of one run share theirs.
    run('mount', ['-t', fsType, ...(fsType === 'xfs' ? ['-o', 'nouuid'] : []), device, mnt]);
    mounted = true;
  } catch (err) {
    release();
    throw err;
  }
  return { release };
}
