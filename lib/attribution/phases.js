'use strict';
// The build phase, process-wide: worker threads cannot see JS hooks, so their samples carry the
// phase the compiler is in, set from compiler/compilation hooks that fire once per build.
// Each is a JS tap at the lowest stage, so it runs before every other tap of its hook; one
// Rust->JS call per hook per build.

const { nowNs } = require('./spans');

const FIRST = -2147483648;

/** [hook owner, hook name, phase]. Rspack has no JS hook where code generation starts: from
 * beforeModuleIds to processAssets the compiler assigns ids, generates code and hashes. */
const COMPILER_PHASES = [
  ['beforeRun', 'start'],
  ['watchRun', 'start'],
  ['compile', 'compile'],
  ['make', 'make'],
  ['finishMake', 'finish-make'],
  ['afterCompile', 'after-compile'],
  ['emit', 'emit'],
  ['afterEmit', 'after-emit'],
  ['done', 'done'],
];
const COMPILATION_PHASES = [
  ['seal', 'seal'],
  ['optimizeModules', 'optimize'],
  ['optimizeChunkModules', 'optimize-chunks'],
  ['beforeModuleIds', 'ids-codegen-hash'],
  ['processAssets', 'process-assets'],
  ['afterSeal', 'after-seal'],
];

class PhaseTracker {
  constructor(compiler, labels, spans) {
    this.compilerName = compiler.name || (compiler.options && compiler.options.name) || undefined;
    this.labels = labels;
    this.spans = spans;
    this.current = null;
  }

  enter(phase) {
    const now = nowNs();
    if (this.current) this.spans.phase(this.current.phase, this.current.start, now);
    this.current = phase ? { phase, start: now } : null;
    const pairs = phase ? [['phase', phase]] : [];
    if (phase && this.compilerName) pairs.push(['compiler', this.compilerName]);
    this.labels.setProcess(phase ? this.labels.id(pairs) : 0);
  }
}

function tapFirst(hook, name, fn) {
  if (!hook || typeof hook.tap !== 'function') return;
  hook.tap({ name, stage: FIRST }, fn);
}

/** Sets the process-wide phase label as the compiler moves through a build. */
function trackPhases(compiler, labels, spans, pluginName) {
  const tracker = new PhaseTracker(compiler, labels, spans);
  for (const [hook, phase] of COMPILER_PHASES) tapFirst(compiler.hooks[hook], pluginName, () => tracker.enter(phase));
  tapFirst(compiler.hooks.afterDone, pluginName, () => tracker.enter(null));
  tapFirst(compiler.hooks.failed, pluginName, () => tracker.enter(null));
  tapFirst(compiler.hooks.thisCompilation, pluginName, (compilation) => {
    for (const [hook, phase] of COMPILATION_PHASES) tapFirst(compilation.hooks[hook], pluginName, () => tracker.enter(phase));
  });
  return tracker;
}

module.exports = { trackPhases };
