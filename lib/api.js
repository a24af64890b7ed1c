'use strict';
// What `require('rspack-perfprobe')` returns (index.js), whose contract is index.d.ts: this file only
// wires the pieces together.

const { normalizeOptions } = require('./options');
const { current, stderrWarn } = require('./session');
const { PerfprobePlugin } = require('./plugin');

/**
 * Starts profiling the whole process and returns this caller's handle (lib/handles.js: callers
 * that overlap share the one sampler). Every Rspack compiler that runs meanwhile is labelled, as
 * under register.js.
 */
function start(options) {
  // Loaded here: the plugin, the README's first way, needs neither (1.7 ms of its process's start).
  const { openHandle } = require('./handles');
  const { attachToRspackCompilers } = require('./attach/compilers');
  const normalized = normalizeOptions(options, 'perfprobe.start');
  const handle = openHandle(normalized);
  // A session owned elsewhere (register.js) has attached compilers with its owner's options.
  if (handle.running && !handle.foreign) {
    attachToRspackCompilers(normalized, stderrWarn(normalized.quiet));
  }
  return handle;
}

module.exports = { start, current, PerfprobePlugin };
