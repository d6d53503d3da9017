// Real files on real filesystems for the tests: the machine's disk (os.tmpdir()), tmpfs (/dev/shm).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = path.join(REPO, 'test', 'fixtures');

/** The backend this run must use: the runner repeats behavioural suites with FSYNC2_NATIVE=off. */
export const EXPECTED_BACKEND: 'native' | 'js' =
  process.env.FSYNC2_NATIVE === 'off' || process.env.FSYNC2_NATIVE === '0' ? 'js' : 'native';

export const TMPFS = '/dev/shm';

export function statfsType(p: string): number {
  return fs.statfsSync(p).type;
}

/** A fresh directory on the disk (not tmpfs), removed by the returned cleanup. */
export function scratch(prefix = 'fsync2-test-', base = os.tmpdir()): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(base, prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** n new files of `size` random bytes: fresh dirty pages, never a rewrite of old ones. */
export function writeFiles(dir: string, n: number, size = 4096, prefix = 'f'): string[] {
  const files: string[] = [];
  const data = Buffer.alloc(size, 0x5a);
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `${prefix}${i}`);
    fs.writeFileSync(file, data);
    files.push(file);
  }
  return files;
}

/**
 * Prints a visible skip line (the runner collects them) and returns true when `reason` is set.
 * A test that cannot run here says so; it never passes silently.
 */
export function skipBecause(name: string, reason: string | null): boolean {
  if (reason === null) return false;
  console.log(`SKIP ${name}: ${reason}`);
  return true;
}

/** Node has no mkfifo; coreutils does. */
export function mkfifo(p: string): void {
  execFileSync('mkfifo', [p]);
}

/**
 * An fd number that is not open. A just-closed fd is a poor choice: the process (the pool's own
 * threads included) may reuse the number at once.
 */
export function closedFd(): number {
  const open = fs.readdirSync('/proc/self/fd').map(Number);
  const fd = Math.max(...open) + 500;
  assertClosed(fd);
  return fd;
}

function assertClosed(fd: number): void {
  try {
    fs.fstatSync(fd);
  } catch {
    return;
  }
  throw new Error(`fd ${fd} is open`);
}

/** null when strace can run, else why not (the strace tests then print a skip line). */
export function straceMissing(): string | null {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'strace is not installed (apt-get install strace; .ci/run installs it)';
  }
}

/** Calls per syscall from the table `strace -c` writes. */
export function straceCounts(table: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of table.split('\n')) {
    const m = line.trim().match(/^[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/);
    if (m && m[2] !== 'total') out[m[2]!] = Number(m[1]);
  }
  return out;
}

/** mulberry32: small, seeded, good enough to pick interleavings, sizes and crash points reproducibly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A clean environment, as in a fresh shell: no settings of the pnpm run that started this test. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^pnpm_/i.test(k) || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((d) => !d.includes(`${path.sep}node_modules${path.sep}.bin`) && !d.includes('node-gyp-bin'))
    .join(':');
  return { ...env, ...extra };
}

/**
 * pnpm's entry script, to run with a given node: the one this test run was started with
 * (`npx pnpm@… test`), else `pnpm` on PATH, else the root package.json's `packageManager` version
 * fetched through npm (so `node test/run.mjs consumer` works too). null when none of that works.
 */
export function pnpmScript(): string | null {
  const execpath = process.env.npm_execpath;
  if (execpath && /pnpm/.test(path.basename(execpath)) && fs.existsSync(execpath)) return execpath;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, 'pnpm');
    if (dir && fs.existsSync(p)) return fs.realpathSync(p);
  }
  const pm = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).packageManager as string | undefined;
  if (!pm?.startsWith('pnpm@')) return null;
  try {
    const bin = execFileSync('npm', ['exec', '--yes', `--package=${pm}`, '-c', 'command -v pnpm'], {
      encoding: 'utf8', env: cleanEnv(), cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'ignore'], timeout: 300_000,
    }).trim();
    return bin && fs.existsSync(bin) ? fs.realpathSync(bin) : null;
  } catch {
    return null;
  }
}
