#!/usr/bin/env node
// Builds the small N-API addon in native/ (directory-relative, symlink-safe file calls that
// Node's fs lacks). node-gyp comes with npm; it is pointed at the headers of the Node.js that
// runs it when they are installed beside it (Debian's nodejs ships them in /usr/include/node),
// so no header download is needed.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodeGyp =
  process.env.npm_config_node_gyp ||
  [path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find((candidate) =>
    fs.existsSync(candidate),
  );
if (!nodeGyp) {
  console.error('custodia: cannot find node-gyp (it comes with npm); install npm alongside Node.js');
  process.exit(1);
}
const args = [nodeGyp, 'rebuild', '--loglevel=warn'];
if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
execFileSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
