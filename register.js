'use strict';
// `require('rspack-perfprobe/register')` (or `node --require`, as the CLI sets up): profiles the
// whole process, configured by PERFPROBE_* environment variables, and writes the profile when the
// process exits. The code is lib/register.js, loaded as lib/load.js says.

const { LOAD_STARTED } = require('./lib/keys');

globalThis[LOAD_STARTED] ??= process.hrtime.bigint();
require('./lib/load').register();
