'use strict';
// Labels without the plugin in the config: under register.js (the CLI, `node -r`) and start(), each
// Rspack compiler gets the plugin when it first runs or watches, so `perfprobe -- rspack build`
// labels phases, hooks, plugins, loaders and binding calls like the plugin does. The plugin joins
// the running session (it never starts one of its own); a compiler that has the plugin already is
// left alone. find-core.js finds the Compiler class however @rspack/core was loaded.
//
// `Compiler.prototype.run` and `.watch` are webpack's public API, which MultiCompiler, the CLI and
// Rsbuild all go through: wrapping them reaches every compiler of that class, made before or after.

const { watchRspackCore } = require('./find-core');
const { PLUGIN_APPLIED: APPLIED, PLUGIN_JOIN_ONLY: JOIN_ONLY, COMPILER_PATCHED: PATCHED, ATTACH: STATE } = require('../keys');

/** Wraps `Compiler.prototype.run`/`watch` to call `state.apply(compiler)` first. */
function patchCompiler(Compiler, state) {
  const proto = Compiler.prototype;
  if (Object.prototype.hasOwnProperty.call(proto, PATCHED)) return;
  Object.defineProperty(proto, PATCHED, { value: true });
  for (const method of ['run', 'watch']) {
    const original = proto[method];
    if (typeof original !== 'function') continue;
    proto[method] = function (...args) {
      if (!this[APPLIED]) state.apply(this);
      return original.apply(this, args);
    };
  }
}

/** Failures kept for one summary at most (a watcher may make compilers all day). */
const MAX_FAILURES = 100;

function createState(options, warn) {
  const state = { options, warn, failures: [], reasons: new Set() };
  // Compilers that could not be attached, for summary.json (`attribution.unattachedCompilers`): each
  // failure belongs to the session running when it happened.
  const contributor = {
    contribute: () => {
      const unattachedCompilers = state.failures;
      state.failures = [];
      return { traceEvents: [], attribution: { unattachedCompilers } };
    },
  };
  state.fail = (reason, compiler) => {
    const name = compiler && (compiler.name || (compiler.options && compiler.options.name));
    if (state.failures.length < MAX_FAILURES) state.failures.push(name ? { reason, compiler: name } : { reason });
    const { current } = require('../session');
    const session = current();
    if (session) session.addContributor(contributor);
    if (state.reasons.has(reason)) return;
    state.reasons.add(reason);
    state.warn(`labels are off for a compiler: ${reason}`);
  };
  state.apply = (compiler) => {
    try {
      const { PerfprobePlugin } = require('../plugin');
      const plugin = new PerfprobePlugin({ ...state.options, quiet: true });
      // The session's owner (register.js, start()) writes: once its session is stopped (or, on
      // demand, before it starts) a build must not start one of its own.
      plugin[JOIN_ONLY] = true;
      plugin.apply(compiler);
    } catch (e) {
      state.fail(e.message, compiler);
    }
  };
  return state;
}

/**
 * Attaches the plugin (configured by `options`) to every Rspack compiler that runs from now on,
 * however @rspack/core is loaded. `warn` receives one warning per distinct reason a compiler could
 * not be attached; nothing here throws into the program. Process-wide: a later call (start() under
 * register.js, a second copy of this package) only replaces the options and warn.
 */
function attachToRspackCompilers(options, warn) {
  const existing = globalThis[STATE];
  if (existing) {
    existing.options = options;
    existing.warn = warn;
    return;
  }
  const state = (globalThis[STATE] = createState(options, warn));
  watchRspackCore(
    (core) => {
      try {
        patchCompiler(core.Compiler, state);
      } catch (e) {
        state.fail(`@rspack/core ${core.rspackVersion}: ${e.message}`);
      }
    },
    (reason) => state.fail(reason),
  );
}

module.exports = { attachToRspackCompilers, patchCompiler };
