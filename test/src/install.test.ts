// Without a working compiler, installing @fsync2/native still succeeds, says why, and the package
// loads into the pure-TS path with a reason (the behavioural suites then run on that path too).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO, scratch } from './helpers.js';

const run = promisify(execFile);

/** node-gyp as npm and pnpm put it on PATH for install scripts, when we can find it. */
function nodeGypDirs(): string[] {
  const dirs: string[] = [];
  try {
    const root = execFileSync('npm', ['root', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    for (const d of [path.join(root, 'pnpm/dist/node-gyp-bin'), path.join(root, 'npm/bin/node-gyp-bin')]) {
      if (fs.existsSync(d)) dirs.push(d);
    }
  } catch {
    // no npm: node-gyp-build then fails to find node-gyp at all, which is the same case
  }
  return dirs;
}

test('a failing compiler: install exits 0 with a message; loadNative() reports why', async () => {
  const s = scratch();
  try {
    const pkg = path.join(REPO, 'packages/native');
    const copy = path.join(s.dir, 'native');
    fs.mkdirSync(copy);
    for (const entry of ['package.json', 'binding.gyp', 'src', 'scripts', 'dist']) {
      fs.cpSync(path.join(pkg, entry), path.join(copy, entry), { recursive: true });
    }
    // The dependencies, dereferenced out of pnpm's store so the copy stands alone.
    fs.cpSync(path.join(pkg, 'node_modules'), path.join(copy, 'node_modules'), { recursive: true, dereference: true });
    const script = JSON.parse(fs.readFileSync(path.join(copy, 'package.json'), 'utf8')).scripts.install as string;
    const env = {
      ...process.env,
      CC: 'false',
      CXX: 'false',
      PATH: [path.join(copy, 'node_modules/.bin'), ...nodeGypDirs(), path.dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
    };
    const { stdout, stderr } = await run('sh', ['-c', script], { cwd: copy, env, timeout: 120_000 });
    assert.match(stdout, /pure-TS path/, `install output: ${stdout}\n${stderr}`);
    assert.not.ok(fs.existsSync(path.join(copy, 'build/Release/fsync2.node')), 'the compile should have failed');
    const probe = `const s = require(${JSON.stringify(path.join(copy, 'dist/index.cjs'))}).loadNative();
      console.log(JSON.stringify({ available: s.available, reason: s.reason }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' }));
    assert.is(out.available, false);
    assert.match(out.reason, /addon not built/);
  } finally {
    s.cleanup();
  }
});

test('FSYNC2_NATIVE=off forces the pure-TS path and says so', () => {
  const probe = `const s = require('@fsync2/native').loadNative(); console.log(JSON.stringify(s.reason ?? null));`;
  const reason = JSON.parse(
    execFileSync(process.execPath, ['-e', probe], { cwd: path.join(REPO, 'packages/core'), env: { ...process.env, FSYNC2_NATIVE: 'off' }, encoding: 'utf8' }),
  );
  assert.match(reason, /FSYNC2_NATIVE=off/);
});

test.run();
