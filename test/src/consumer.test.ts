// fsync2 as another project gets it: `pnpm pack` each package, then install the tarballs outside
// this repository (with npm, and separately in a pnpm workspace), run a program and the `fsync2`
// command, and compile a strict TypeScript consumer against the published .d.ts. The addon's
// three ways in are each proven from the tarball: the prebuilt binary without a compiler, the
// source build when the prebuilt cannot load, and the pure-TS path when neither works.
// Needs the npm registry (third-party dependencies and TypeScript), as `pnpm install` does.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cleanEnv as baseEnv, pnpmScript, REPO, scratch } from './helpers.js';

const exec = promisify(execFile);
const PACKAGES = ['native', 'workers', 'core', 'cli'] as const;
type Pkg = (typeof PACKAGES)[number];
/** The TypeScript the repository builds with, and the 5.x line most projects still use. */
const TS_REPO = JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules/typescript/package.json'), 'utf8')).version as string;
const PLATFORM = `${process.platform}-${process.arch}`;

const work = scratch('fsync2-consumer-');
const tarballs = {} as Record<Pkg, string>;

/**
 * npm's user and global config files as they are, minus any `nodedir` line (a machine may set one:
 * this one's ~/.npmrc has nodedir=/usr), so that a source build must find Node's headers itself.
 * Registry, proxy and CA settings are kept.
 */
const npmrc = (() => {
  const out: Record<string, string> = {};
  for (const [key, name] of [['userconfig', 'user.npmrc'], ['globalconfig', 'global.npmrc']] as const) {
    let file = '';
    try {
      file = execFileSync('npm', ['config', 'get', key], { encoding: 'utf8', env: baseEnv() }).trim();
    } catch {
      // no npm: every npm step fails anyway, with its own message
    }
    const text = file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const copy = path.join(work.dir, name);
    fs.writeFileSync(copy, text.split('\n').filter((l) => !/^\s*nodedir\s*=/.test(l)).join('\n'));
    out[`npm_config_${key}`] = copy;
  }
  return out;
})();

/**
 * A fresh shell's environment and quiet npm. No nodedir is configured, and node-gyp cannot download
 * headers (an unreachable dist-url, an empty devdir, so no cached headers either): a source build
 * must find this Node's own headers by itself, as it must on a user's machine offline.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...baseEnv(), ...npmrc }; // (no npm_* variables of this run)
  env.npm_config_dist_url = 'http://127.0.0.1:9';
  env.npm_config_devdir = path.join(work.dir, 'node-gyp-devdir');
  env.npm_config_audit = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_update_notifier = 'false';
  return { ...env, ...extra };
}

/** pnpm as this test run was started (npx pnpm@…), else the one on PATH, else the packageManager one. */
function pnpm(): { cmd: string; pre: string[] } {
  const script = pnpmScript();
  if (!script) throw new Error('pnpm not found (npm_execpath, PATH, or npm exec of the packageManager version)');
  return { cmd: process.execPath, pre: [script] };
}

async function sh(cmd: string, args: string[], cwd: string, env = cleanEnv(), timeout = 600_000): Promise<string> {
  try {
    const { stdout, stderr } = await exec(cmd, args, { cwd, env, timeout, maxBuffer: 64 * 2 ** 20 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const PROGRAM = `import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSyncer, SyncError } from '@fsync2/core';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsync2-consumer-files-'));
const files = Array.from({ length: 40 }, (_, i) => {
  const f = path.join(dir, 'f' + i);
  fs.writeFileSync(f, Buffer.alloc(i * 512, i));
  return f;
});
const syncer = createSyncer({ mode: 'data' });
const report = await syncer.sync(files, { parents: true });
let streamed = 0;
for await (const r of syncer.each(files)) if (r.durable) streamed++;
let missing = null;
try {
  await syncer.sync([path.join(dir, 'missing')]);
} catch (err) {
  if (err instanceof SyncError) missing = err.errors[0].code;
}
await syncer.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  backend: report.backend, nativeSource: report.nativeSource, nativeReason: report.nativeReason,
  durable: report.durable, results: report.results.length, parents: report.results[0].parents.length, streamed, missing,
}));
`;

const CONSUMER_TS = `import {
  createSyncer, sync, Syncer, SyncError, TargetError, OptionsError, ClosedError, AbortError, QueueFullError, WorkerError,
  planChannel, STRATEGIES, MODES, errnoCode, fsInfo,
  type SyncReport, type TargetResult, type SyncerOptions, type SyncOptions, type SyncerStats, type PlanEvent,
  type NativeSource, type Strategy, type Mode, type SyncTarget,
} from '@fsync2/core';

const options: SyncerOptions = { strategy: 'auto', mode: 'data', pool: { maxThreads: 8 }, groupCommit: { windowUs: 0 }, maxQueue: 1000 };
const syncer: Syncer = createSyncer(options);
const call: SyncOptions = { parents: true, mode: 'full', signal: AbortSignal.timeout(10_000) };
const targets: SyncTarget[] = ['/tmp', 0, { target: '/tmp', mode: 'data' }];
const report: SyncReport = await syncer.sync(targets, call);
const source: NativeSource | null = report.nativeSource;
const backend: 'native' | 'js' = report.backend;
for await (const r of syncer.each(['/tmp'])) {
  const ino: bigint | null = r.ino;
  const error: TargetError | null = r.error;
  void ino;
  void error;
}
const stats: SyncerStats = syncer.stats();
const p99: number = stats.latencyMs.p99;
planChannel.subscribe((message: unknown) => void (message as PlanEvent).plan);
const strategies: readonly Strategy[] = STRATEGIES;
const modes: readonly Mode[] = MODES;
try {
  await sync(['/nonexistent']);
} catch (err) {
  if (err instanceof SyncError) {
    const codes: string[] = err.errors.map((e: TargetError) => e.code);
    const all: readonly TargetResult[] = err.report.results;
    void codes;
    void all;
  } else if (err instanceof OptionsError || err instanceof ClosedError || err instanceof AbortError || err instanceof QueueFullError || err instanceof WorkerError) {
    throw err;
  }
}
// @ts-expect-error: not a strategy (proves the published option types are not \`any\`)
createSyncer({ strategy: 'fastest' });
void source; void backend; void p99; void strategies; void modes; void errnoCode; void fsInfo;
await syncer.close();
`;

const TSCONFIG = JSON.stringify({
  compilerOptions: {
    strict: true,
    target: 'es2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    skipLibCheck: false,
    noEmit: true,
  },
  files: ['consumer.ts'],
});

function prebuiltFiles(pkgDir: string): string[] {
  const dir = path.join(pkgDir, 'prebuilds', PLATFORM);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')).map((f) => path.join(dir, f)) : [];
}

// ---------------------------------------------------------------- pack

test('pnpm pack: four tarballs, workspace:^ rewritten, exports with types, the prebuilt binary inside, the workspace untouched', async () => {
  assert.not.ok(work.dir.startsWith(REPO), 'the consumers live outside the repository');
  const packs = path.join(work.dir, 'packs');
  fs.mkdirSync(packs);
  const native = path.join(REPO, 'packages/native');
  const built = path.join(native, 'build/Release/fsync2.node');
  const builtBefore = fs.existsSync(built) ? fs.statSync(built).mtimeMs : null;
  const p = pnpm();
  for (const name of PACKAGES) {
    const out = await sh(p.cmd, [...p.pre, 'pack', '--pack-destination', packs], path.join(REPO, 'packages', name));
    const tgz = fs.readdirSync(packs).find((f) => f.startsWith(`fsync2-${name}-`) && f.endsWith('.tgz'));
    assert.ok(tgz, `no tarball for ${name}:\n${out}`);
    tarballs[name] = path.join(packs, tgz!);
  }
  // prepack built the prebuilt binary in a scratch copy; postpack removed it again.
  assert.not.ok(fs.existsSync(path.join(native, 'prebuilds')), 'packages/native/prebuilds/ is removed after packing');
  if (builtBefore !== null) assert.is(fs.statSync(built).mtimeMs, builtBefore, 'the workspace build/ is untouched');

  for (const name of PACKAGES) {
    const list = execFileSync('tar', ['tzf', tarballs[name]], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const manifest = JSON.parse(execFileSync('tar', ['xzOf', tarballs[name], 'package/package.json'], { encoding: 'utf8' }));
    assert.not.match(JSON.stringify(manifest), /workspace:/, `${name}: workspace: specifiers are rewritten`);
    assert.ok(manifest.license && manifest.engines?.node && Array.isArray(manifest.files), `${name}: license, engines, files`);
    assert.ok(list.includes('package/README.md'), `${name}: README`);
    assert.not.ok(list.some((f) => /tsbuildinfo|\/build\/|\/test\//.test(f)), `${name}: no build state or tests: ${list.join(' ')}`);
    const root = manifest.exports['.'];
    const entries = name === 'native' ? [root.import, root.require] : [root];
    for (const e of entries) {
      assert.ok(e.types && list.includes(`package/${e.types.slice(2)}`), `${name}: exports types ${e.types}`);
      assert.ok(list.includes(`package/${e.default.slice(2)}`), `${name}: exports entry ${e.default}`);
    }
    if (name !== 'native') assert.is(manifest.type, 'module', `${name}: ESM`);
  }
  const core = JSON.parse(execFileSync('tar', ['xzOf', tarballs.core, 'package/package.json'], { encoding: 'utf8' }));
  assert.is(core.dependencies['@fsync2/workers'], '^0.1.0');
  assert.is(core.dependencies['@fsync2/native'], '^0.1.0');
  const nativeList = execFileSync('tar', ['tzf', tarballs.native], { encoding: 'utf8' });
  assert.match(nativeList, new RegExp(`package/prebuilds/${PLATFORM}/@fsync2\\+native\\.(glibc|musl)\\.node`));
  assert.match(nativeList, /package\/binding\.gyp/);
  assert.match(nativeList, /package\/src\/fsync2\.cc/);
});

// ---------------------------------------------------------------- npm

const npmDir = path.join(work.dir, 'npm-app');

test('npm without a compiler (CC=false): installs the tarballs and runs on the prebuilt binary', async () => {
  fs.mkdirSync(npmDir);
  const deps = Object.fromEntries(PACKAGES.map((n) => [`@fsync2/${n}`, `file:${tarballs[n]}`]));
  fs.writeFileSync(path.join(npmDir, 'package.json'), JSON.stringify({
    name: 'fsync2-npm-consumer',
    private: true,
    type: 'module',
    dependencies: deps,
    devDependencies: { typescript: TS_REPO, ts5: 'npm:typescript@^5', '@types/node': '^20.19.0' },
    // The @fsync2 dependencies of the tarballs resolve to the tarballs, never to the registry.
    overrides: Object.fromEntries(PACKAGES.map((n) => [`@fsync2/${n}`, `$@fsync2/${n}`])),
  }, null, 2));
  fs.writeFileSync(path.join(npmDir, 'program.mjs'), PROGRAM);
  const log = await sh('npm', ['install', '--foreground-scripts'], npmDir, cleanEnv({ CC: 'false', CXX: 'false' }));
  const nativeDir = path.join(npmDir, 'node_modules/@fsync2/native');
  assert.is(prebuiltFiles(nativeDir).length, 1, 'the prebuilt binary is installed');
  assert.not.ok(fs.existsSync(path.join(nativeDir, 'build/Release/fsync2.node')), `nothing was compiled:\n${log}`);
  // (--foreground-scripts shows the script's command line too: match only what it printed.)
  assert.not.match(log, /^\[@fsync2\/native\] could not build/m, 'the install script found a working binary');
  assert.not.match(log, /^gyp info/m, 'node-gyp did not run');

  const out = JSON.parse(await sh(process.execPath, ['program.mjs'], npmDir));
  assert.equal(out, {
    backend: 'native', nativeSource: 'prebuilt', nativeReason: null, durable: true, results: 40, parents: 1, streamed: 40, missing: 'ENOENT',
  });
  console.log(`INFO npm install of the tarballs with CC=false: backend ${out.backend}, nativeSource ${out.nativeSource}`);

  // The addon package's own entries: ESM named exports and CommonJS, one module instance.
  const esm = await sh(process.execPath, ['--input-type=module', '-e',
    "import { loadNative } from '@fsync2/native'; const s = loadNative(); console.log(s.available, s.source)"], npmDir);
  assert.is(esm.trim(), 'true prebuilt');
  const cjs = await sh(process.execPath, ['-e', "const s = require('@fsync2/native').loadNative(); console.log(s.available, s.source)"], npmDir);
  assert.is(cjs.trim(), 'true prebuilt');

  // The fsync2 command from @fsync2/cli's tarball.
  const cli = JSON.parse(await sh(path.join(npmDir, 'node_modules/.bin/fsync2'), ['sync', '--json', npmDir + '/program.mjs'], npmDir));
  assert.is(cli.durable, true);
  assert.is(cli.nativeSource, 'prebuilt');
});

test(`npm: strict TypeScript (${TS_REPO} and 5.x) compiles a consumer against the published .d.ts, and rejects a wrong one`, async () => {
  fs.writeFileSync(path.join(npmDir, 'consumer.ts'), CONSUMER_TS);
  fs.writeFileSync(path.join(npmDir, 'tsconfig.json'), TSCONFIG);
  const compilers = { [TS_REPO]: 'node_modules/typescript/bin/tsc', '5.x': 'node_modules/ts5/bin/tsc' };
  for (const tsc of Object.values(compilers)) await sh(process.execPath, [tsc, '-p', '.'], npmDir);
  // The same compile fails on a consumer that misreads a report field: the types are real.
  fs.writeFileSync(path.join(npmDir, 'consumer.ts'), `${CONSUMER_TS}\nconst wrong: number = report.nativeSource;\nvoid wrong;\n`);
  for (const [version, tsc] of Object.entries(compilers)) {
    let failed = '';
    try {
      await sh(process.execPath, [tsc, '-p', '.'], npmDir);
    } catch (err) {
      failed = (err as Error).message;
    }
    assert.match(failed, /TS2322/, `TypeScript ${version} must reject the wrong consumer`);
  }
  const ts5 = JSON.parse(fs.readFileSync(path.join(npmDir, 'node_modules/ts5/package.json'), 'utf8')).version;
  console.log(`INFO strict tsc against the published .d.ts: TypeScript ${TS_REPO} and ${ts5} pass`);
  fs.writeFileSync(path.join(npmDir, 'consumer.ts'), CONSUMER_TS);
});

test('npm: a prebuilt that cannot load and no compiler: install succeeds and says why; fsync2 runs on the pure-TS path', async () => {
  const nativeDir = path.join(npmDir, 'node_modules/@fsync2/native');
  for (const f of prebuiltFiles(nativeDir)) fs.writeFileSync(f, 'not an ELF file: the binary of another platform or libc');
  const log = await sh('npm', ['rebuild', '@fsync2/native', '--foreground-scripts'], npmDir, cleanEnv({ CC: 'false', CXX: 'false' }));
  assert.match(log, /^\[@fsync2\/native\] could not build the addon: fsync2 will use its pure-TS path/m);
  const out = JSON.parse(await sh(process.execPath, ['program.mjs'], npmDir));
  assert.is(out.backend, 'js');
  assert.is(out.nativeSource, null);
  assert.match(out.nativeReason, /prebuilt addon at .* failed to load/);
  assert.is(out.durable, true);
  assert.is(out.streamed, 40);
  console.log(`INFO prebuilt unusable, no compiler: install exit 0, backend ${out.backend} (${out.nativeReason.slice(0, 60)}…)`);
});

test('npm: a prebuilt that cannot load, with a compiler: node-gyp builds the addon from the tarball\'s sources', async () => {
  const nativeDir = path.join(npmDir, 'node_modules/@fsync2/native');
  fs.rmSync(path.join(nativeDir, 'build'), { recursive: true, force: true });
  const log = await sh('npm', ['rebuild', '@fsync2/native', '--foreground-scripts'], npmDir);
  assert.ok(fs.existsSync(path.join(nativeDir, 'build/Release/fsync2.node')), `compiled:\n${log}`);
  // Offline: no nodedir was configured and downloads cannot work (cleanEnv), so the install script
  // gave node-gyp this Node's own headers.
  const gypi = fs.readFileSync(path.join(nativeDir, 'build/config.gypi'), 'utf8');
  assert.ok(gypi.includes(`"nodedir": ${JSON.stringify(path.dirname(path.dirname(process.execPath)))}`), `node-gyp used this Node's headers:\n${gypi.match(/"nodedir".*/)?.[0]}`);
  const out = JSON.parse(await sh(process.execPath, ['program.mjs'], npmDir));
  assert.is(out.backend, 'native');
  assert.is(out.nativeSource, 'build');
  assert.is(out.durable, true);
  console.log(`INFO prebuilt unusable, with a compiler: node-gyp built the addon, backend ${out.backend}, nativeSource ${out.nativeSource}`);
});

// ---------------------------------------------------------------- pnpm workspace

test('a pnpm workspace that depends on the tarballs: install scripts blocked (pnpm 10), the prebuilt runs; strict tsc passes', async () => {
  const ws = path.join(work.dir, 'pnpm-ws');
  const app = path.join(ws, 'app');
  fs.mkdirSync(app, { recursive: true });
  fs.writeFileSync(path.join(ws, 'pnpm-workspace.yaml'), 'packages:\n  - app\n');
  fs.writeFileSync(path.join(ws, 'package.json'), JSON.stringify({
    name: 'fsync2-pnpm-consumer-root',
    private: true,
    pnpm: { overrides: { '@fsync2/native': `file:${tarballs.native}`, '@fsync2/workers': `file:${tarballs.workers}` } },
  }, null, 2));
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'app',
    private: true,
    type: 'module',
    dependencies: { '@fsync2/core': `file:${tarballs.core}` },
    devDependencies: { typescript: TS_REPO, '@types/node': '^20.19.0' },
  }, null, 2));
  fs.writeFileSync(path.join(app, 'program.mjs'), PROGRAM);
  fs.writeFileSync(path.join(app, 'consumer.ts'), CONSUMER_TS);
  fs.writeFileSync(path.join(app, 'tsconfig.json'), TSCONFIG);
  const p = pnpm();
  await sh(p.cmd, [...p.pre, 'install'], ws, cleanEnv({ CC: 'false', CXX: 'false' }));
  // Only @fsync2/core is a direct dependency; the others come with it.
  assert.equal(fs.readdirSync(path.join(app, 'node_modules/@fsync2')), ['core']);
  const out = JSON.parse(await sh(process.execPath, ['program.mjs'], app));
  assert.is(out.backend, 'native');
  assert.is(out.nativeSource, 'prebuilt');
  assert.is(out.durable, true);
  assert.is(out.streamed, 40);
  await sh(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], app);
  // The README's way to allow the install script (and so the source build where the prebuilt does
  // not fit): approve-builds runs it now; with the prebuilt fitting, it compiles nothing.
  const approved = await sh(p.cmd, [...p.pre, 'approve-builds', '--all'], ws, cleanEnv({ CC: 'false', CXX: 'false' }));
  assert.match(approved, /@fsync2\/native install\$ node scripts\/install\.cjs/, `approve-builds ran the install script:\n${approved}`);
  assert.not.match(approved, /could not build/);
  // (written to pnpm-workspace.yaml, or to package.json's "pnpm" field where the root has one, as here)
  const settings = ['pnpm-workspace.yaml', 'package.json'].map((f) => fs.readFileSync(path.join(ws, f), 'utf8')).join('\n');
  assert.match(settings, /onlyBuiltDependencies["']?:[\s\S]*@fsync2\/native/, settings);
  assert.is(JSON.parse(await sh(process.execPath, ['program.mjs'], app)).nativeSource, 'prebuilt');
  console.log(`INFO pnpm workspace on the tarballs (install scripts blocked): backend ${out.backend}, nativeSource ${out.nativeSource}; strict tsc passes; approve-builds runs the install script`);
});

test.after(() => work.cleanup());

test.run();
