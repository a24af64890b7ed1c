'use strict';
// The process-wide phase label with several compilers, on fake compilers (no build, no sampler):
// `compiler` only while one compiler builds, joined phases while several do.

const { trackPhases } = require('../lib/attribution/phases');
const { Spans } = require('../lib/attribution/spans');

/** A hook that records its taps; `call()` runs them in order. */
const hook = () => {
  const taps = [];
  return { taps, tap: (options, fn) => taps.push(fn), call: (...args) => taps.forEach((fn) => fn(...args)) };
};

function fakeCompiler(name) {
  const hooks = {};
  for (const key of ['beforeRun', 'watchRun', 'compile', 'make', 'finishMake', 'afterCompile', 'emit', 'afterEmit', 'done', 'afterDone', 'failed', 'watchClose', 'shutdown', 'thisCompilation']) hooks[key] = hook();
  const compilation = { hooks: {} };
  for (const key of ['seal', 'optimizeModules', 'optimizeTree', 'optimizeChunkModules', 'beforeModuleIds', 'processAssets', 'afterSeal']) compilation.hooks[key] = hook();
  return { name, hooks, compilation, run() {}, watch() {} };
}

/** Labels that keep the pairs of the last process-wide set. */
function fakeLabels() {
  const sets = [[]];
  return {
    process: [],
    id(pairs) {
      sets.push(pairs);
      return sets.length - 1;
    },
    setProcess(id) {
      this.process = Object.fromEntries(sets[id]);
    },
  };
}

test('two compilers building at once: joined phases, no compiler; one alone: its name', () => {
  const labels = fakeLabels();
  const spans = new Spans();
  const [a, b] = [fakeCompiler('a'), fakeCompiler('b')];
  trackPhases(a, labels, spans, 'PerfprobePlugin');
  trackPhases(b, labels, spans, 'PerfprobePlugin');
  a.hooks.beforeRun.call();
  expect(labels.process).toEqual({ phase: 'start', compiler: 'a' });
  b.hooks.beforeRun.call();
  b.hooks.make.call();
  expect(labels.process).toEqual({ phase: 'make+start' });
  a.hooks.thisCompilation.call(a.compilation);
  a.compilation.hooks.seal.call();
  expect(labels.process).toEqual({ phase: 'make+seal' });
  a.hooks.afterDone.call();
  expect(labels.process).toEqual({ phase: 'make', compiler: 'b' });
  b.hooks.failed.call();
  expect(labels.process).toEqual({});
});

test('a compiler never gets two trackers (the plugin and register.js both attach)', () => {
  const labels = fakeLabels();
  const spans = new Spans();
  const a = fakeCompiler('a');
  const first = trackPhases(a, labels, spans, 'PerfprobePlugin');
  expect(trackPhases(a, labels, spans, 'PerfprobePlugin')).toBe(first);
  // One tracker: its phase tap and its tap after the last stage, once.
  expect(a.hooks.make.taps).toHaveLength(2);
});

test('a sibling without the plugin gets a tracker when it runs', () => {
  const labels = fakeLabels();
  const spans = new Spans();
  class Compiler {}
  Compiler.prototype.run = function () {};
  const withPlugin = Object.assign(Object.create(Compiler.prototype), fakeCompiler('a'));
  delete withPlugin.run;
  const sibling = Object.assign(Object.create(Compiler.prototype), fakeCompiler('b'));
  delete sibling.run;
  trackPhases(withPlugin, labels, spans, 'PerfprobePlugin');
  withPlugin.hooks.make.call();
  sibling.run();
  sibling.hooks.make.call();
  expect(labels.process).toEqual({ phase: 'make' });
});

test('phases tap no hook whose call hands JS every module, and follow seal, optimize, ids-codegen-hash, process-assets', () => {
  // Compilers the tests above left building are process-wide state: this one builds alone.
  globalThis[Symbol.for('rspack-perfprobe.active-phase-trackers')]?.clear();
  const labels = fakeLabels();
  const spans = new Spans();
  const a = fakeCompiler('a');
  trackPhases(a, labels, spans, 'PerfprobePlugin');
  a.hooks.thisCompilation.call(a.compilation);
  // Rspack evaluates these hooks' arguments (every module as a JS object) before any tap runs.
  expect(a.compilation.hooks.optimizeModules.taps).toHaveLength(0);
  expect(a.compilation.hooks.beforeModuleIds.taps).toHaveLength(0);
  const seen = [];
  for (const key of ['seal', 'optimizeTree', 'optimizeChunkModules', 'processAssets', 'afterSeal']) {
    a.compilation.hooks[key].call();
    seen.push(labels.process.phase);
  }
  // optimizeChunkModules' tap runs after the hook's other taps: code generation starts there.
  expect(seen).toEqual(['seal', 'optimize', 'ids-codegen-hash', 'process-assets', 'after-seal']);
});

test("V8's listing of existing code is asked for after make's last tap, not at its first (Rspack calls each stage apart, and builds after the last)", () => {
  jest.resetModules();
  const asked = [];
  jest.doMock('../lib/v8-profile', () => ({ listExistingCodeSoon: () => asked.push('listing') }));
  const { trackPhases: track } = require('../lib/attribution/phases');
  const { Spans: FreshSpans } = require('../lib/attribution/spans');
  const taps = [];
  const compiler = fakeCompiler('a');
  compiler.hooks.make = { tap: (options, fn) => taps.push([options.stage, fn]) };
  track(compiler, fakeLabels(), new FreshSpans(), 'PerfprobePlugin');
  const stages = [...new Set(taps.map(([stage]) => stage))].sort((x, y) => x - y);
  expect(stages.length).toBeGreaterThan(1);
  for (const stage of stages) {
    if (stage === stages[stages.length - 1]) expect(asked).toEqual([]);
    for (const [s, fn] of taps) if (s === stage) fn({});
  }
  expect(asked).toEqual(['listing']);
  jest.dontMock('../lib/v8-profile');
});
