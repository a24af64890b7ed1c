'use strict';
// Rspack's own tracing spans (option `rspackSpans`): registered through the binding's
// `registerGlobalTrace` directly (@rspack/core's `experiments.globalTrace.register` also starts V8's
// profiler and a hook-intercepting plugin), with its logger layer writing into a FIFO the addon
// drains on a thread of its own (crates/core/src/rspack_spans/reader.rs); at stop, samples taken
// inside a span carry its name as `rspack_span`.

const os = require('os');
const path = require('path');
const { findBinding } = require('./boundaries');
const { RSPACK_SPANS: STATE, RSPACK_SPANS_PENDING: PENDING } = require('../keys');

/**
 * Phase- and plugin-level spans only: `info` less the targets that open a span per module, per
 * loader run, per dependency or per module-factory call. Those overlap across worker threads and
 * the records carry no thread, so they could not be joined by time; and they are what makes
 * tracing costly (measured on a 1.2k-module build with 2.3.2: `info` alone cost 1.08x CPU, a
 * phase-level filter 1.04x). Targets as the 2.2.7 and 2.3.2 bindings name them.
 */
const FILTER = [
  'info',
  'rspack_core::normal_module=off',
  'rspack_core::concatenated_module=off',
  // Hook dispatch spans, one per dependency for some hooks; the plugins' own spans stay.
  'rspack_core::compilation=off',
  'rspack_loader_runner=off',
  'rspack_loader_swc=off',
  'rspack_loader_lightningcss=off',
  'rspack_loader_react_refresh=off',
  'rspack_loader_preact_refresh=off',
  'rspack_plugin_javascript::parser_and_generator=off',
  'rspack_plugin_javascript::plugin::url_plugin=off',
  'rspack_plugin_css::plugin::impl_plugin_for_css_plugin=off',
].join(',');

/** The binding @rspack/core uses (or will use): the loaded one, else resolved as core resolves it. */
function rspackBinding(cwd) {
  const loaded = findBinding();
  if (loaded) return loaded;
  const core = require.resolve('@rspack/core/package.json', { paths: [cwd] });
  const request = process.env.RSPACK_BINDING || '@rspack/binding';
  return require(require.resolve(request, { paths: [path.dirname(core)] }));
}

/**
 * Registers Rspack's tracing for this process once; later calls (the next build of a watcher) find
 * it registered. Returns whether spans are read. Any failure is one warning, and the build goes on.
 */
function registerRspackSpans(native, warn, { env = process.env, cwd = process.cwd() } = {}) {
  const state = globalThis[STATE];
  if (state) return state.registered;
  const refuse = (message) => {
    globalThis[STATE] = { registered: false };
    warn(`option \`rspackSpans\`: ${message}; going on without Rspack's spans`);
    return false;
  };
  if (env.RSPACK_PROFILE) {
    return refuse(`Rspack's own tracing is on (RSPACK_PROFILE=${env.RSPACK_PROFILE}) and a process can register it only once`);
  }
  if (!native || typeof native.openRspackTrace !== 'function') return refuse('the native addon cannot read them');
  let binding;
  try {
    binding = rspackBinding(cwd);
  } catch (e) {
    return refuse(`no Rspack binding found from ${cwd} (${e.message.split('\n')[0]})`);
  }
  if (typeof binding.registerGlobalTrace !== 'function') return refuse("this Rspack's binding has no registerGlobalTrace");
  let fifo;
  try {
    fifo = native.openRspackTrace(os.tmpdir());
  } catch (e) {
    return refuse(`cannot create the pipe Rspack writes into: ${e.message}`);
  }
  let accepted = false;
  try {
    binding.registerGlobalTrace(FILTER, 'logger', fifo);
    accepted = true;
  } catch (e) {
    return refuse(`Rspack refused the registration: ${e.message}`);
  } finally {
    // The addon warns when a session's spans do not come, only if Rspack took the registration.
    native.rspackTraceRegistered(fifo, accepted);
  }
  globalThis[STATE] = { registered: true };
  return true;
}

/**
 * For a session that asks for spans: registers now if Rspack's binding is loaded (the plugin's own
 * session), else when the first compiler is attached ({@link registerPendingRspackSpans}). A process
 * the CLI preloads the probe into may never load Rspack (npm, a script runner): it neither loads
 * the binding nor warns. Returns true: the session takes the spans there will be.
 */
function requestRspackSpans(native, warn) {
  if (findBinding()) return registerRspackSpans(native, warn);
  if (!globalThis[STATE]) globalThis[PENDING] = { native, warn };
  return true;
}

/** Registers a pending request, once a compiler exists (and so the binding is loaded). */
function registerPendingRspackSpans() {
  const pending = globalThis[PENDING];
  if (!pending) return;
  globalThis[PENDING] = undefined;
  registerRspackSpans(pending.native, pending.warn);
}

module.exports = { requestRspackSpans, registerPendingRspackSpans, registerRspackSpans, FILTER };
