'use strict';
// The build phase, process-wide: worker threads cannot see JS hooks, so their samples carry the
// phase the compiler is in, set from compiler/compilation hooks that fire once per build.
// Each is a JS tap at the lowest stage, so it runs before every other tap of its hook (or at the
// highest, to mark where the hook's work ends); one Rust->JS call per hook and stage per build.

const { nowNs } = require('./spans');
const { listExistingCodeSoon } = require('../v8-profile');
const { ACTIVE_PHASE_TRACKERS: ACTIVE, PHASE_TRACKERS: TRACKERS, PHASE_SIBLINGS_PATCHED: PATCHED } = require('../keys');

const FIRST = -2147483648;
const LAST = 2147483647;

/** [hook owner, hook name, phase]. Rspack has no JS hook where code generation starts: from
 * the end of optimizeChunkModules to processAssets the compiler assigns ids, generates code and hashes. */
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
/**
 * [hook name, stage, phase]. Only hooks whose Rust->JS call hands JS no per-module data: Rspack
 * evaluates a hook's arguments before any tap runs, and optimizeModules (every module, as JS
 * objects) or beforeModuleIds (every module and its identifier) cost the JS thread ~15 µs a module
 * while the compiler waits for it (110 ms of a react N=7000 build, measured with `--cpu-prof`). So
 * `seal` also holds dependency optimization, the chunk graph and optimizeModules/optimizeChunks
 * (SplitChunks), and `ids-codegen-hash` starts after the last tap of optimizeChunkModules.
 */
const COMPILATION_PHASES = [
  ['seal', FIRST, 'seal'],
  ['optimizeTree', FIRST, 'optimize'],
  ['optimizeChunkModules', LAST, 'ids-codegen-hash'],
  ['processAssets', FIRST, 'process-assets'],
  ['afterSeal', FIRST, 'after-seal'],
];

const activeTrackers = () => (globalThis[ACTIVE] ??= new Set());
const trackers = () => (globalThis[TRACKERS] ??= new WeakMap());

/**
 * Publishes the process-wide label set from every compiler building now. Worker threads cannot
 * tell which compiler their work is for, so `compiler` is set only while one compiler builds;
 * with several, the phase is the set of theirs (`make+seal`) and no compiler is named: work of a
 * compiler is labelled with that compiler or with none, never with another.
 */
function publish(labels) {
  const active = [...activeTrackers()];
  if (active.length === 0) {
    labels.setProcess(0);
    return;
  }
  const phases = [...new Set(active.map((t) => t.current.phase))].sort();
  const pairs = [['phase', phases.join('+')]];
  if (active.length === 1 && active[0].compilerName) pairs.push(['compiler', active[0].compilerName]);
  labels.setProcess(labels.id(pairs));
}

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
    if (phase) activeTrackers().add(this);
    else activeTrackers().delete(this);
    publish(this.labels);
  }
}

function tapAt(hook, name, stage, fn) {
  if (!hook || typeof hook.tap !== 'function') return;
  hook.tap({ name, stage }, fn);
}

/** Sets the process-wide phase label as the compiler moves through a build (once per compiler). */
function trackPhases(compiler, labels, spans, pluginName) {
  const known = trackers().get(compiler);
  if (known) return known;
  const tracker = new PhaseTracker(compiler, labels, spans);
  trackers().set(compiler, tracker);
  for (const [hook, phase] of COMPILER_PHASES) tapAt(compiler.hooks[hook], pluginName, FIRST, () => tracker.enter(phase));
  for (const hook of ['afterDone', 'failed', 'watchClose', 'shutdown']) tapAt(compiler.hooks[hook], pluginName, FIRST, () => tracker.enter(null));
  // After make's last tap the compiler builds modules in Rust and the JS thread mostly waits. Not
  // at its first: Rspack calls each stage's taps in a call of its own and starts building only
  // after the last, so work queued at the first ran between stages, on the build's critical path.
  tapAt(compiler.hooks.make, pluginName, LAST, listExistingCodeSoon);
  tapAt(compiler.hooks.thisCompilation, pluginName, FIRST, (compilation) => {
    for (const [hook, stage, phase] of COMPILATION_PHASES) tapAt(compilation.hooks[hook], pluginName, stage, () => tracker.enter(phase));
  });
  trackSiblings(compiler, labels, spans, pluginName);
  return tracker;
}

/**
 * Gives every other compiler of the same class a phase tracker when it runs or watches: a
 * MultiCompiler with the plugin in one config only still builds the others in parallel, and their
 * work must not carry this compiler's name.
 */
function trackSiblings(compiler, labels, spans, pluginName) {
  const proto = Object.getPrototypeOf(compiler);
  // Own property: a patched base class must not hide an unpatched subclass.
  if (!proto || proto === Object.prototype || Object.prototype.hasOwnProperty.call(proto, PATCHED)) return;
  Object.defineProperty(proto, PATCHED, { value: true });
  for (const method of ['run', 'watch']) {
    const original = proto[method];
    if (typeof original !== 'function') continue;
    proto[method] = function (...args) {
      if (!trackers().has(this)) {
        try {
          trackPhases(this, labels, spans, pluginName);
        } catch {
          // Its phases go unlabelled; the build goes on.
        }
      }
      return original.apply(this, args);
    };
  }
}

module.exports = { trackPhases };
