'use strict';
// rspack-perfprobe: a sampling CPU profiler over every thread of an Rspack build.
// The contract is index.d.ts; the code is lib/api.js, loaded as lib/load.js says.

const { LOAD_STARTED } = require('./lib/keys');

globalThis[LOAD_STARTED] ??= process.hrtime.bigint();
module.exports = require('./lib/load').api();
