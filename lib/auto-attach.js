'use strict';
// Labels without the plugin in the config: under register.js (the CLI, `node -r`), each
// Rspack compiler gets the plugin when it first runs or watches, so `perfprobe -- rspack build`
// labels phases, hooks, plugins, loaders and binding calls like the plugin does. The plugin joins
// the register session (it never starts a second one); a compiler that has the plugin already is
// left alone.

const Module = require('module');

const APPLIED = Symbol.for('rspack-perfprobe.plugin-applied');
const PATCHED = Symbol.for('rspack-perfprobe.compiler-patched');

function isRspackCore(exports) {
  // The package exports the `rspack` function itself, with the classes as properties.
  return (typeof exports === 'function' || (typeof exports === 'object' && exports !== null)) && typeof exports.Compiler === 'function' && typeof exports.rspackVersion === 'string';
}

/** Wraps `Compiler.prototype.run`/`watch` of a loaded @rspack/core to apply the plugin first. */
function patchCompiler(Compiler, applyPlugin) {
  const proto = Compiler.prototype;
  if (proto[PATCHED]) return;
  proto[PATCHED] = true;
  for (const method of ['run', 'watch']) {
    const original = proto[method];
    if (typeof original !== 'function') continue;
    proto[method] = function (...args) {
      if (!this[APPLIED]) applyPlugin(this);
      return original.apply(this, args);
    };
  }
}

/**
 * Watches `require` for @rspack/core (by what it exports: the CLI, a config and a script may load
 * it from different paths). `warn` receives problems; nothing here throws into the program.
 */
function attachToRspackCompilers(options, warn) {
  const applyPlugin = (compiler) => {
    try {
      const { PerfprobePlugin, JOIN_ONLY } = require('./plugin');
      const plugin = new PerfprobePlugin({ ...options, quiet: true });
      // register.js owns the sessions: once its session is stopped (or, on demand, before it
      // starts) a build must not start one of its own.
      plugin[JOIN_ONLY] = true;
      plugin.apply(compiler);
    } catch (e) {
      warn(`labels are off for a compiler: ${e.message}`);
    }
  };
  const originalLoad = Module._load;
  Module._load = function (...args) {
    const exports = originalLoad.apply(this, args);
    try {
      if (isRspackCore(exports)) patchCompiler(exports.Compiler, applyPlugin);
    } catch (e) {
      warn(`labels are off: ${e.message}`);
    }
    return exports;
  };
}

module.exports = { attachToRspackCompilers, APPLIED };
