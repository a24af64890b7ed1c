'use strict';
// Every key this package keeps process-wide. One process may load two copies of the package
// (register.js from the CLI's install, the plugin from the project's), and both must see one sampler,
// one label memory, one hook on module loading: such state hangs off `globalThis` (or off objects
// both copies see, a compiler or its class) under keys registered with Symbol.for, the same symbol in
// every copy. register.js and index.js read LOAD_STARTED before anything else loads: this module
// requires nothing.

module.exports = {
  /** When the package began to load: a profile's start-up cost includes loading whichever copy came first. */
  LOAD_STARTED: Symbol.for('rspack-perfprobe.load-started'),
  /** register.js ran: a second copy's register.js, preloaded too, must not profile the process again. */
  REGISTERED: Symbol.for('rspack-perfprobe.registered'),
  /** The running session: the sampler is process-wide, and a plugin joins a session another copy started. */
  CURRENT_SESSION: Symbol.for('rspack-perfprobe.current-session'),
  /** The JS of every copy loaded (lib/own-code.js): the summary folds its frames into their callers. */
  OWN_JS: Symbol.for('rspack-perfprobe.own-js'),
  /**
   * On a plugin: it may only join a session (compilers.js applies it under register.js or start()).
   * compilers.js sets it on plugins of its own copy, so no other copy reads it: it is here with the
   * package's other marks, not because it must be shared.
   */
  PLUGIN_JOIN_ONLY: Symbol.for('rspack-perfprobe.plugin-join-only'),
  /** On a compiler: some copy's plugin is applied, so no other copy attaches a second one. */
  PLUGIN_APPLIED: Symbol.for('rspack-perfprobe.plugin-applied'),
  /** On a Compiler class: its run()/watch() are wrapped once, whichever copy came first. */
  COMPILER_PATCHED: Symbol.for('rspack-perfprobe.compiler-patched'),
  /** compilers.js's state: one wrapper per Compiler class, its options replaced by later callers of any copy. */
  ATTACH: Symbol.for('rspack-perfprobe.attach'),
  /** find-core.js's hook on Module._load: installed once per process, with every copy's listeners. */
  FIND_CORE: Symbol.for('rspack-perfprobe.find-core'),
  /** Rspack's tracing: Rspack accepts one registration per process, whichever copy makes it. */
  RSPACK_SPANS: Symbol.for('rspack-perfprobe.rspack-spans'),
  /** A session's request for Rspack's spans, made before Rspack loaded: the first compiler of any copy registers it. */
  RSPACK_SPANS_PENDING: Symbol.for('rspack-perfprobe.rspack-spans-pending'),
  /** The running session's heap and lag recorder: the span edges of every copy take its points. */
  PROCESS_COUNTERS: Symbol.for('rspack-perfprobe.process-counters'),
  /** The span recorder: the session, whichever copy started it, takes what every copy's wrappers recorded. */
  SPANS: Symbol.for('rspack-perfprobe.spans'),
  /** The label words: V8 refuses a second external buffer over the same memory, and every copy writes the same words. */
  LABEL_WORDS: Symbol.for('rspack-perfprobe.label-words'),
  /** Phase trackers of the compilers building now: the process-wide phase label is made from all of them. */
  ACTIVE_PHASE_TRACKERS: Symbol.for('rspack-perfprobe.active-phase-trackers'),
  /** Each compiler's phase tracker: one per compiler, whichever copy's plugin saw it first. */
  PHASE_TRACKERS: Symbol.for('rspack-perfprobe.phase-trackers'),
  /** On a Compiler class: its run()/watch() give sibling compilers a tracker, wrapped once for all copies. */
  PHASE_SIBLINGS_PATCHED: Symbol.for('rspack-perfprobe.phase-siblings-patched'),
};
