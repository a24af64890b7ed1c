'use strict';
// Attribution: labels every sample with what the build was doing. The JS thread's samples get the
// hook, plugin and stage of the tap that ran; every thread's samples get the build phase (and the
// compiler's name in a MultiCompiler). Spans of the same edges go into the Chrome trace.

const { labels: getLabels } = require('./labels');
const { instrumentHooks } = require('./hooks');
const { trackPhases } = require('./phases');
const { sharedSpans } = require('./spans');
const { findBinding, instrumentBinding } = require('./boundaries');
const { instrumentLoaderContext } = require('./loaders');
const { registerPendingRspackSpans } = require('./rspack-spans');

const PLUGIN_NAME = 'PerfprobePlugin';

/**
 * Instruments `compiler` and the compilations and module factories it creates. Returns the span
 * recorder (null when the native addon is unavailable: nothing to label then).
 */
function attach(compiler, warn, { minSpanUs } = {}) {
  const labels = getLabels();
  if (!labels) return null;
  const spans = sharedSpans();
  if (minSpanUs !== undefined) spans.minSpanUs = minSpanUs;
  // Our own phase taps are not attributed to a plugin: they are the probe.
  const ctx = { labels, spans, skipped: spans.skippedHooks, ignore: (tap) => tap.name === PLUGIN_NAME };
  // Instrumentation runs inside Rspack's hook calls: a failure here must cost labels, never the build.
  const guard = (what, fn) => {
    try {
      fn();
    } catch (e) {
      warn(`labels for ${what} are off: ${e.message}`);
    }
  };
  guard('phases', () => trackPhases(compiler, labels, spans, PLUGIN_NAME));
  guard('compiler hooks', () => instrumentHooks(compiler.hooks, 'compiler', ctx));
  guard('binding calls', () => instrumentBinding(findBinding(), labels, spans));
  // Before the first build starts: a session that asked for Rspack's spans before Rspack loaded.
  guard("Rspack's spans", registerPendingRspackSpans);
  const NormalModule = (compiler.rspack || compiler.webpack || {}).NormalModule;
  compiler.hooks.thisCompilation.tap(PLUGIN_NAME, (compilation) => {
    guard('compilation hooks', () => instrumentHooks(compilation.hooks, 'compilation', ctx));
    guard('loaders', () => {
      if (!NormalModule || typeof NormalModule.getCompilationHooks !== 'function') return;
      NormalModule.getCompilationHooks(compilation).loader.tap(PLUGIN_NAME, (loaderContext) => {
        try {
          instrumentLoaderContext(loaderContext, labels, spans);
        } catch (e) {
          warn(`labels for loaders are off: ${e.message}`);
        }
      });
    });
  });
  compiler.hooks.normalModuleFactory.tap(PLUGIN_NAME, (factory) => {
    guard('normalModuleFactory hooks', () => instrumentHooks(factory.hooks, 'normalModuleFactory', ctx));
  });
  compiler.hooks.contextModuleFactory.tap(PLUGIN_NAME, (factory) => {
    guard('contextModuleFactory hooks', () => instrumentHooks(factory.hooks, 'contextModuleFactory', ctx));
  });
  return spans;
}

module.exports = { attach, PLUGIN_NAME };
