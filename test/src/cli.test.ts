// The fsync2 command on real trees: sync, copy (with --verify and --remove-source), a volatile
// destination, an unreadable file, an interrupted copy, bad arguments and configuration.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, scratch, skipBecause, TMPFS } from './helpers.js';

const BIN = path.join(REPO, 'packages/cli/dist/main.js');
const exec = promisify(execFile);

async function fsync2(args: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): Promise<{ code: number; out: string; err: string }> {
  const [cmd, ...rest] = prefix.length ? [...prefix, process.execPath, BIN, ...args] : [process.execPath, BIN, ...args];
  try {
    const { stdout, stderr } = await exec(cmd!, rest, { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 64 << 20 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout, err: err.stderr };
  }
}

/** A nested tree with empty files, one large file and a symlink; returns file path → sha256. */
function tree(root: string, n = 60, large = 0): Map<string, string> {
  const sums = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, `a${i % 3}`, `b${i % 2}`);
    fs.mkdirSync(dir, { recursive: true });
    const data = Buffer.alloc(i % 5 === 0 ? 0 : 100 * i, i);
    const file = path.join(dir, `f${i}`);
    fs.writeFileSync(file, data);
    sums.set(path.relative(root, file), createHash('sha256').update(data).digest('hex'));
  }
  if (large) {
    const data = Buffer.alloc(large, 7);
    fs.writeFileSync(path.join(root, 'large'), data);
    sums.set('large', createHash('sha256').update(data).digest('hex'));
  }
  fs.symlinkSync('a0', path.join(root, 'link'));
  return sums;
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('sync: every file and directory of a tree, JSON report, exit 0', async () => {
  const s = scratch();
  try {
    tree(path.join(s.dir, 't'));
    const { code, out } = await fsync2(['sync', '--json', '--data', path.join(s.dir, 't')]);
    assert.is(code, 0);
    const r = JSON.parse(out);
    assert.is(r.files, 60);
    assert.is(r.directories, 1 + 3 + 6);
    assert.is(r.durable, true);
    assert.equal(r.links, [path.join(s.dir, 't', 'link')]);
    assert.is(r.filesystems.length, 1);
    assert.ok(r.filesystems[0].plan);
  } finally {
    s.cleanup();
  }
});

test('copy --verify --remove-source: nested trees, empty and large files, a symlink; sources gone only once copies are durable', async () => {
  const s = scratch();
  try {
    const src = path.join(s.dir, 'src');
    const sums = tree(src, 60, 24 << 20);
    const dest = path.join(s.dir, 'dest');
    const { code, out, err } = await fsync2(['copy', '--verify', '--remove-source', '--json', src, dest]);
    assert.is(code, 0, err);
    const r = JSON.parse(out);
    assert.is(r.copied, 61);
    assert.is(r.durable, 61);
    assert.is(r.verified, 61);
    assert.is(r.removed, 62, '61 files and the symlink');
    assert.not.ok(fs.existsSync(src), 'the emptied source tree is removed');
    for (const [rel, sum] of sums) assert.is(sha(path.join(dest, rel)), sum, rel);
    assert.is(fs.readlinkSync(path.join(dest, 'link')), 'a0');
  } finally {
    s.cleanup();
  }
});

test('copy keeps modes and times', async () => {
  const s = scratch();
  try {
    const file = path.join(s.dir, 'f');
    fs.writeFileSync(file, 'x');
    fs.chmodSync(file, 0o640);
    fs.utimesSync(file, new Date('2020-01-02T03:04:05Z'), new Date('2021-02-03T04:05:06Z'));
    assert.is((await fsync2(['copy', file, path.join(s.dir, 'g')])).code, 0);
    const st = fs.statSync(path.join(s.dir, 'g'));
    assert.is(st.mode & 0o777, 0o640);
    assert.is(st.mtime.toISOString(), '2021-02-03T04:05:06.000Z');
  } finally {
    s.cleanup();
  }
});

test('a destination on tmpfs: reported volatile, exit 1, no source removed', async () => {
  const s = scratch();
  const shm = scratch('fsync2-cli-', TMPFS);
  try {
    const src = path.join(s.dir, 'src');
    const sums = tree(src, 10);
    const { code, out } = await fsync2(['copy', '--remove-source', '--json', src, path.join(shm.dir, 'dest')]);
    assert.is(code, 1);
    const r = JSON.parse(out);
    assert.is(r.removed, 0);
    assert.ok(r.filesystems.every((f: { volatile: boolean }) => f.volatile));
    assert.ok(r.failures.some((f: { code: string }) => f.code === 'VOLATILE'));
    for (const rel of sums.keys()) assert.ok(fs.existsSync(path.join(src, rel)), `${rel} was removed`);
  } finally {
    s.cleanup();
    shm.cleanup();
  }
});

test('an unreadable file: exit 1, named, its source kept, the others copied and removed', async () => {
  // Root reads every file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it obeys mode 000,
  // while still owning (and reading) the checkout wherever it lies.
  const withoutDac = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'] : [];
  if (withoutDac.length) {
    try {
      execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    } catch {
      if (skipBecause('unreadable file', 'root reads every file, and setpriv (util-linux) is missing to drop its DAC capabilities')) return;
    }
  }
  const s = scratch();
  try {
    const src = path.join(s.dir, 'src');
    tree(src, 6);
    const secret = path.join(src, 'a0', 'b0', 'f0');
    fs.chmodSync(secret, 0o000);
    const { code, err, out } = await fsync2(['copy', '--remove-source', '--json', src, path.join(s.dir, 'dest')], {}, withoutDac);
    assert.is(code, 1, err);
    const r = JSON.parse(out);
    assert.ok(r.failures.some((f: { path: string; code: string }) => f.path === secret && f.code === 'EACCES'), JSON.stringify(r.failures));
    assert.ok(fs.existsSync(secret), 'the unreadable source was kept');
    assert.is(r.removed, 6, 'five other files and the symlink');
  } finally {
    s.cleanup();
  }
});

test('an interrupted copy never removes a source whose copy is not durable and identical', async () => {
  const s = scratch();
  try {
    const src = path.join(s.dir, 'src');
    const sums = tree(src, 1500);
    const dest = path.join(s.dir, 'dest');
    const child = spawn(process.execPath, [BIN, 'copy', '--remove-source', '--json', src, dest], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // Interrupt once the first sources are gone: the removal phase is running.
    const started = Date.now();
    while (Date.now() - started < 60_000) {
      await new Promise((r) => setTimeout(r, 5));
      if (!fs.existsSync(path.join(src, 'a0', 'b0', 'f0')) || child.exitCode !== null) break;
    }
    child.kill('SIGINT');
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    assert.ok(code === 130 || code === 0, `exit ${code}`);
    let removed = 0;
    for (const [rel, sum] of sums) {
      if (fs.existsSync(path.join(src, rel))) continue;
      removed++;
      assert.is(sha(path.join(dest, rel)), sum, `${rel} removed but its copy differs`);
    }
    const r = JSON.parse(out);
    assert.is(r.interrupted, code === 130);
    assert.ok(removed > 0);
    if (code === 130) assert.ok(removed < sums.size, 'interrupted before the end');
  } finally {
    s.cleanup();
  }
});

test('bad arguments and configuration exit 2 with a readable message', async () => {
  const s = scratch();
  try {
    assert.is((await fsync2([])).code, 2);
    const one = await fsync2(['copy', s.dir]);
    assert.is(one.code, 2);
    assert.match(one.err, /SRC and a DEST/);
    const strategy = await fsync2(['sync', '--strategy', 'fastest', s.dir]);
    assert.is(strategy.code, 2);
    assert.match(strategy.err, /fastest/);
    const both = await fsync2(['sync', '--data', '--full', s.dir]);
    assert.is(both.code, 2);
    const env = await fsync2(['sync', s.dir], { FSYNC2_MAX_THREADS: 'zero' });
    assert.is(env.code, 2);
    assert.match(env.err, /options\.pool\.maxThreads.*FSYNC2_MAX_THREADS/);
    const cfg = path.join(s.dir, 'cfg.json');
    fs.writeFileSync(cfg, JSON.stringify({ groupCommit: { windowUs: -1 } }));
    const bad = await fsync2(['sync', '--config', cfg, s.dir]);
    assert.is(bad.code, 2);
    assert.match(bad.err, /options\.groupCommit\.windowUs.*--config/);
    fs.writeFileSync(cfg, '{');
    assert.match((await fsync2(['sync', '--config', cfg, s.dir])).err, /not JSON/);
    fs.writeFileSync(cfg, JSON.stringify({ strategy: 'perFile', pool: { maxThreads: 2 } }));
    const good = await fsync2(['sync', '--json', '--config', cfg, s.dir], { FSYNC2_MODE: 'data' });
    assert.is(good.code, 0);
    assert.is(JSON.parse(good.out).filesystems[0].plan, 'perFile');
    assert.is((await fsync2(['copy', '--help'])).code, 0);
    const missing = await fsync2(['sync', path.join(s.dir, 'nope')]);
    assert.is(missing.code, 1);
    assert.match(missing.err, /ENOENT/);
  } finally {
    s.cleanup();
  }
});

test.run();
