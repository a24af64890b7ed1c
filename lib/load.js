'use strict';
// Loads the probe's code: dist/perfprobe.js where it is built (all of lib/ in one file, by
// scripts/bundle.js: `npm run build`, and before `npm pack`), lib/ itself otherwise. Node resolves,
// reads and compiles every file it requires on its own: loading the plugin's ~25 files took
// 14.0 ms of the JS thread in a build, the one file 8.3-8.7 ms (docs/performance.md).

const fs = require('fs');
const path = require('path');

const BUNDLE = path.join(__dirname, '..', 'dist', 'perfprobe.js');

module.exports = fs.existsSync(BUNDLE) ? require(BUNDLE) : require('./entries');
