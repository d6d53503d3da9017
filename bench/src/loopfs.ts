// W7's second filesystem: an ext4 image on the disk under test, attached to a loop device and
// mounted. Needs root, losetup, mkfs.ext4 and mount; otherwise W7 is skipped with the reason.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

export interface LoopFs {
  readonly mount: string;
  readonly device: string;
  readonly image: string;
  readonly imageMiB: number;
  /** Unmounts, detaches and removes the image; also runs on exit. */
  readonly release: () => void;
}

function run(cmd: string, args: readonly string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.error) throw new Error(`${cmd}: ${(res.error as NodeJS.ErrnoException).code ?? res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(res.stderr || res.stdout).trim().split('\n')[0]}`);
  return res.stdout.trim();
}

// Written out rather than sparse, so the loop device's writes do not allocate in the disk's
// filesystem as they go; synced so none of it is still dirty when the rounds start.
function writeImage(path: string, mib: number): void {
  const fd = openSync(path, 'wx');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < mib; i++) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/** Mounts a fresh loop ext4 under `scratch`, or returns why it cannot. */
export function mountLoopFs(scratch: string, imageMiB: number): LoopFs | string {
  if (process.platform !== 'linux') return 'loop devices are Linux only';
  if (process.getuid?.() !== 0) return 'needs root (losetup, mount): run as root to include W7';
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
    const res = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (res.error) return `${tool} not found`;
  }
  const image = join(scratch, 'w7.img');
  const mount = join(scratch, 'w7-mnt');
  let device = '';
  let mounted = false;
  const release = onCleanup(() => {
    if (mounted) {
      const res = spawnSync('umount', [mount], { stdio: 'ignore' });
      if (res.status !== 0) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
    }
    if (device) spawnSync('losetup', ['-d', device], { stdio: 'ignore' });
    rmSync(image, { force: true });
    rmSync(mount, { recursive: true, force: true });
  });
  try {
    writeImage(image, imageMiB);
    device = run('losetup', ['--find', '--show', image]);
    // Initialised up front: lazy init would write inode tables in the background during rounds.
    run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', device]);
    mkdirSync(mount);
    run('mount', [device, mount]);
    mounted = true;
    run('sync', []);
    return { mount, device, image, imageMiB, release };
  } catch (err) {
    release();
    return `could not mount a loop ext4: ${(err as Error).message}`;
  }
}
