#!/usr/bin/env node
// The package's `install` script: node-gyp-build keeps a prebuilt binary that loads here (no
// compile), else compiles src/ with node-gyp. node-gyp gets this Node's own headers when it has
// them (nodedir.cjs), so a source build needs no download. A failed build still exits 0 and says
// why: fsync2 then runs its pure-TS path (loadNative() reports the reason).
'use strict';
const { spawnSync } = require('node:child_process');
const { withLocalNodedir } = require('./nodedir.cjs');

const env = withLocalNodedir();
const bin = require.resolve('node-gyp-build/bin.js');
const r = spawnSync(process.execPath, [bin], { stdio: 'inherit', env });
if (r.status !== 0) {
  console.log('[@fsync2/native] could not build the addon: fsync2 will use its pure-TS path (slower, no syncfs or sync_file_range)');
}
