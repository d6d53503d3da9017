#!/usr/bin/env node
// Builds the prebuilt binary that ships in the tarball (`prepack` runs this):
// prebuilds/<platform>-<arch>/@fsync2+native.<libc>.node. No ABI tag: one Node-API binary serves
// every Node version; node-gyp-build finds it at install (no compile) and at load. prebuildify
// runs node-gyp in a scratch copy of the sources, so the workspace's own build/ is never touched
// (prebuildify moves the binary it builds out of build/Release). `postpack` removes prebuilds/
// again: binaries are never committed, and the workspace keeps loading what `pnpm install` built.
//
// Headers: the configured nodedir, else the running Node's own (nodedir.cjs): no download.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { withLocalNodedir } = require('./nodedir.cjs');

const root = path.join(__dirname, '..');
const out = path.join(root, 'prebuilds');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fsync2-prebuild-'));
try {
  for (const entry of ['package.json', 'binding.gyp', 'src']) {
    fs.cpSync(path.join(root, entry), path.join(tmp, entry), { recursive: true });
  }
  // binding.gyp asks node-addon-api for its include dir from the build's directory.
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');

  const env = withLocalNodedir();
  const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
  const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--target', `node@${process.versions.node}`, tmp];
  console.log(`[@fsync2/native] prebuildify ${args.slice(1, -1).join(' ')} (nodedir ${env.npm_config_nodedir ?? 'download'})`);
  const r = spawnSync(process.execPath, args, { cwd: tmp, env, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[@fsync2/native] prebuildify failed (${r.error?.message ?? `exit ${r.status}`}): no prebuilt binary to ship`);
    process.exit(1);
  }

  fs.rmSync(out, { recursive: true, force: true });
  fs.cpSync(path.join(tmp, 'prebuilds'), out, { recursive: true });
  const files = [];
  for (const dir of fs.readdirSync(out)) {
    for (const f of fs.readdirSync(path.join(out, dir))) files.push(path.join(dir, f));
  }
  // Proof that it loads here before it ships: every function the loader requires is present.
  for (const f of files) {
    const binding = require(path.join(out, f));
    if (typeof binding.flushBatch !== 'function' || typeof binding.fsync !== 'function') {
      throw new Error(`${f} does not export the addon's functions`);
    }
    console.log(`[@fsync2/native] prebuilt ${path.join('prebuilds', f)} (${fs.statSync(path.join(out, f)).size} bytes)`);
  }
  if (files.length === 0) throw new Error('prebuildify produced no binary');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
