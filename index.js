'use strict';
// rspack-perfprobe: a sampling CPU profiler over every thread of an Rspack build.
// The contract is index.d.ts; this file only wires the pieces together.

globalThis[Symbol.for('rspack-perfprobe.load-started')] ??= process.hrtime.bigint();
const { normalizeOptions } = require('./lib/options');
const { startSession, current } = require('./lib/session');
const { PerfprobePlugin } = require('./lib/plugin');

/**
 * Starts profiling the whole process. If a session already runs (register.js, the CLI wrapper),
 * returns that one: there is one sampler per process.
 */
function start(options) {
  const normalized = normalizeOptions(options, 'perfprobe.start');
  return current() || startSession(normalized);
}

module.exports = { start, current, PerfprobePlugin };
