// The machine a result was taken on: without it a number means nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { cpus, release, totalmem, arch } from 'node:os';
import { fsInfo } from '@fsync2/core';

export interface Machine {
  readonly cpu: string;
  readonly cpus: number;
  readonly memGiB: number;
  readonly os: string;
  readonly kernel: string;
  readonly arch: string;
  readonly node: string;
  readonly fsync2: string;
  readonly gitCommit: string | null;
  /** The library's sources (packages/) differ from gitCommit: the numbers are of uncommitted code. */
  readonly gitDirty: boolean | null;
  readonly scratch: {
    readonly dir: string;
    readonly fsType: string;
    readonly volatile: boolean;
    readonly device: string | null;
    readonly mountOptions: string | null;
    /** /sys/block/<dev>/queue/write_cache: 'write back' means flushes reach a volatile cache. */
    readonly writeCache: string | null;
    readonly rotational: boolean | null;
  };
  /** vm.dirty_* sysctls: they decide whether "dirty" data is still dirty when a round starts. */
  readonly vm: Readonly<Record<string, number | null>>;
  readonly fdLimit: number;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function osName(): string {
  const text = readText('/etc/os-release') ?? '';
  return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? process.platform;
}

/** Mount point, source device and options of the mount holding `dir`, from mountinfo. */
function mountOf(dir: string): { device: string; options: string } | null {
  const text = readText('/proc/self/mountinfo');
  if (!text) return null;
  const real = realpathSync(dir);
  let bestLen = -1;
  let found: { device: string; options: string } | null = null;
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const point = fields[4]!.replace(/\\040/g, ' ');
    const [, source, superOpts] = right.split(' ');
    const inside = real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && point.length > bestLen) {
      bestLen = point.length;
      found = { device: source ?? '?', options: `${fields[5]}; ${superOpts ?? ''}` };
    }
  }
  return found;
}

function blockQueue(device: string | null, file: string): string | null {
  if (!device?.startsWith('/dev/')) return null;
  const name = basename(device);
  // A partition's queue lives with its whole disk.
  const disk = existsSync(`/sys/block/${name}`) ? name : name.replace(/p?\d+$/, '');
  return readText(`/sys/block/${disk}/queue/${file}`);
}

/** Max open files for this process (Node raises the soft limit to the hard one at startup). */
export function fdLimit(): number {
  const text = readText('/proc/self/limits') ?? '';
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1];
  return soft === undefined ? 1024 : soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
}

export function describeMachine(scratchDir: string, repoRoot: string): Machine {
  const cpuList = cpus();
  const mount = mountOf(scratchDir);
  const fs = fsInfo(statfsSync(scratchDir).type >>> 0);
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  const dirty = spawnSync('git', ['--no-optional-locks', 'status', '--porcelain', '--', 'packages'], { cwd: repoRoot, encoding: 'utf8' });
  const require = createRequire(import.meta.url);
  const core = JSON.parse(readFileSync(require.resolve('@fsync2/core/package.json'), 'utf8')) as { version: string };
  const sysctl = (name: string) => {
    const v = readText(`/proc/sys/vm/${name}`);
    return v === null ? null : Number(v);
  };
  const rotational = blockQueue(mount?.device ?? null, 'rotational');
  return {
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cpus: cpuList.length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: osName(),
    kernel: release(),
    arch: arch(),
    node: process.version,
    fsync2: core.version,
    gitCommit: git.status === 0 ? git.stdout.trim() : null,
    gitDirty: dirty.status === 0 ? dirty.stdout.trim().length > 0 : null,
    scratch: {
      dir: scratchDir,
      fsType: fs?.name ?? 'unknown',
      volatile: fs?.volatile ?? false,
      device: mount?.device ?? null,
      mountOptions: mount?.options ?? null,
      writeCache: blockQueue(mount?.device ?? null, 'write_cache'),
      rotational: rotational === null ? null : rotational === '1',
    },
    vm: {
      dirty_ratio: sysctl('dirty_ratio'),
      dirty_background_ratio: sysctl('dirty_background_ratio'),
      dirty_bytes: sysctl('dirty_bytes'),
      dirty_background_bytes: sysctl('dirty_background_bytes'),
      dirty_expire_centisecs: sysctl('dirty_expire_centisecs'),
    },
    fdLimit: fdLimit(),
  };
}

/** One line for the table's header and the chart's footer. */
export function machineLine(m: Machine): string {
  const disk = [m.scratch.fsType, m.scratch.device, m.scratch.writeCache ? `cache: ${m.scratch.writeCache}` : null]
    .filter(Boolean)
    .join(', ');
  return `${m.cpus} × ${m.cpu}, ${m.memGiB} GiB, ${m.os}, Linux ${m.kernel}, ${disk}, Node ${m.node.slice(1)}`;
}

/** Which fsync2 was measured. */
export function codeLine(m: Machine): string {
  const at = m.gitCommit ? ` at ${m.gitCommit}${m.gitDirty ? ' + uncommitted changes' : ''}` : '';
  return `fsync2 ${m.fsync2}${at}`;
}
