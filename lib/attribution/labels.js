'use strict';
// The JS side of Go-style labels: a label set is interned once in native code and referred to by id;
// the JS thread's current id is one word of memory the signal handler reads. Setting it is a plain
// store into an Int32Array, no Node-API call per span edge.

const { AsyncLocalStorage, createHook } = require('async_hooks');
const { loadNative } = require('../native');
const { LABEL_WORDS: SHARED } = require('../keys');

/** How long the async hook stays on after the last labelled async work settled. */
const IDLE_MS = 50;

class Labels {
  constructor(binding) {
    // One buffer per process: V8 refuses two external buffers over the same memory, and a second
    // copy of this package must write the same words.
    globalThis[SHARED] = globalThis[SHARED] || binding.labelWords();
    this.words = globalThis[SHARED];
    // Which word the signal handler reads as the JS thread's labels, and which as the process's.
    ({ jsThread: this.jsWord, process: this.processWord } = binding.constants().labelWords);
    this.binding = binding;
    this.ids = new Map();
    this.pairsById = new Map();
    this.derived = new Map();
    // Async taps (tapAsync / tapPromise) keep their labels across awaits: each continuation that
    // belongs to a labelled tap sets the word before it runs and restores it after. The hook is
    // only enabled while such a tap is in flight, so promise-heavy code pays nothing otherwise; it
    // stays on until nothing has been in flight for IDLE_MS, because turning async hooks on and off
    // costs more than the hook does while loaders run one after another (each of 2000 modules
    // toggled them: ~25 ms of a js-loaders build's JS thread, measured with `--cpu-prof`).
    this.context = new AsyncLocalStorage();
    this.inFlight = 0;
    this.idleSince = 0;
    const saved = [];
    this.hook = createHook({
      before: () => {
        saved.push(this.words[this.jsWord]);
        const id = this.context.getStore();
        if (id !== undefined) this.words[this.jsWord] = id;
      },
      after: () => {
        if (saved.length) this.words[this.jsWord] = saved.pop();
        // Disabled here, between callbacks, never inside one: a hook disabled between a `before` and
        // its `after` would leave the word set to a tap that has finished.
        if (this.inFlight === 0 && saved.length === 0 && this.enabled && performance.now() - this.idleSince >= IDLE_MS) {
          this.enabled = false;
          this.hook.disable();
        }
      },
    });
    this.enabled = false;
  }

  /** The id of a label set given as [[key, value], ...] (interned once, then cached). */
  id(pairs) {
    const key = pairs.map(([k, v]) => `${k}\u0001${v}`).join('\u0002');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.binding.internLabels(pairs.map(([k, v]) => [String(k), String(v)]));
      this.ids.set(key, id);
      this.pairsById.set(id, pairs);
    }
    return id;
  }

  /** The pairs of a label set this process interned (none for 0). */
  pairsOf(id) {
    return this.pairsById.get(id) || [];
  }

  /** The set `id` with one more (or a replaced) key: what a call made inside a labelled span gets. */
  withPair(id, key, value) {
    const cacheKey = `${id}\u0003${key}\u0003${value}`;
    let out = this.derived.get(cacheKey);
    if (out === undefined) {
      out = this.id(this.pairsOf(id).filter(([k]) => k !== key).concat([[key, value]]));
      this.derived.set(cacheKey, out);
    }
    return out;
  }

  get current() {
    return this.words[this.jsWord];
  }

  /** Runs fn with the JS thread labelled `id`; sync work only (see runAsync). */
  runSync(id, fn) {
    const previous = this.words[this.jsWord];
    this.words[this.jsWord] = id;
    try {
      return fn();
    } finally {
      this.words[this.jsWord] = previous;
    }
  }

  /**
   * Runs fn with the label `id` for its synchronous part and for every continuation of the async work
   * it starts; `settled` must be called once that work is over.
   */
  runAsync(id, fn) {
    if (this.inFlight++ === 0 && !this.enabled) {
      this.enabled = true;
      this.hook.enable();
    }
    let done = false;
    const settled = () => {
      if (done) return;
      done = true;
      if (--this.inFlight === 0) this.idleSince = performance.now();
    };
    try {
      return { result: this.context.run(id, () => this.runSync(id, fn)), settled };
    } catch (e) {
      settled();
      throw e;
    }
  }

  /** Runs fn outside any labelled async context, with the JS thread labelled `id`. */
  outside(id, fn) {
    return this.context.exit(() => this.runSync(id, fn));
  }

  /** The process-wide label set (the build phase), which worker threads' samples carry. */
  setProcess(id) {
    this.words[this.processWord] = id;
  }
}

let instance;

/** The process's Labels, or null when the native addon is not available. */
function labels() {
  if (instance !== undefined) return instance;
  const { binding } = loadNative();
  instance = binding ? new Labels(binding) : null;
  return instance;
}

module.exports = { labels };
