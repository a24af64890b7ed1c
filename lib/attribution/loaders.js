'use strict';
// `loader` labels: Rspack hands each module's loader objects to NormalModule's `loader` hook (a JS
// hook, no extra Rust->JS call) before it loads their functions; accessors on `normal` and `pitch`
// wrap each function as it is set, so the JS thread's samples inside it carry `loader=<name>`
// (sync, this.async() or promise loaders alike).

const path = require('path');
const { callThrough, scrubStack } = require('./frames');

/** A loader's name: its package (scoped or not) when it comes from node_modules, else its path from cwd. */
function loaderName(loaderPath) {
  const clean = String(loaderPath).split('?')[0];
  const m = clean.match(/node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/g);
  if (m) return m[m.length - 1].replace(/^node_modules[\\/]/, '').replace(/\\/g, '/');
  return path.relative(process.cwd(), clean) || clean;
}

/** Names by loader path: every module's loader run names the same few loaders again. */
const namesByPath = new Map();

function cachedLoaderName(loaderPath) {
  let name = namesByPath.get(loaderPath);
  if (name === undefined) namesByPath.set(loaderPath, (name = loaderName(loaderPath)));
  return name;
}

/** Wrappers by loader function, then by name and kind: every module's loader objects are new, the
 * functions set on them are the loader module's own, so one wrapper serves every module. */
const wrappersByFn = new WeakMap();

/** Label ids by loader name, then by the label set in force when it runs: every module's loader
 * run gets new loader objects, and building the set's key on each call cost more than the lookup. */
const idsByName = new Map();

function labelIdFor(labels, name, outer) {
  let ids = idsByName.get(name);
  if (!ids) idsByName.set(name, (ids = new Map()));
  let id = ids.get(outer);
  if (id === undefined) ids.set(outer, (id = labels.id(labels.pairsOf(outer).concat([['loader', name], ['binding', 'callback:loader']]))));
  return id;
}

function wrapLoaderFn(fn, name, kind, labels, spans) {
  if (typeof fn !== 'function' || fn.__perfprobeLoader) return fn;
  let byKey = wrappersByFn.get(fn);
  if (!byKey) wrappersByFn.set(fn, (byKey = new Map()));
  const key = `${kind}\u0000${name}`;
  let wrapped = byKey.get(key);
  if (!wrapped) byKey.set(key, (wrapped = makeWrapper(fn, name, kind, labels, spans)));
  return wrapped;
}

function makeWrapper(fn, name, kind, labels, spans) {
  const spanName = `${name} (${kind})`;
  const wrapped = function (...args) {
    const ctx = this;
    const outer = labels.current;
    // Timed by wall clock only: its CPU is the samples labelled with it (a thread CPU clock read is
    // a syscall, 2-5 µs on a virtual machine, twice per call).
    const span = spans.begin('loader', spanName);
    let async = false;
    const finish = () => spans.endBoundary(span, 'rust->js', 0);
    const originalAsync = ctx && ctx.async;
    // A loader may call this.async()'s callback before it returns: `settled` does not exist yet then.
    let settled = null;
    let calledBack = false;
    const run = labels.runAsync(labelIdFor(labels, name, outer), () => {
      if (typeof originalAsync === 'function') {
        ctx.async = function () {
          async = true;
          const callback = originalAsync.call(this);
          return (...r) => {
            scrubStack(r[0]);
            if (settled) settled();
            else calledBack = true;
            finish();
            return labels.outside(outer, () => callback(...r));
          };
        };
      }
      try {
        return callThrough(fn, ctx, args);
      } finally {
        if (typeof originalAsync === 'function') ctx.async = originalAsync;
      }
    });
    settled = run.settled;
    if (calledBack) settled();
    const result = run.result;
    if (result && typeof result.then === 'function') {
      const end = (error) => {
        scrubStack(error);
        settled();
        finish();
      };
      result.then(end, end);
    } else if (!async) {
      settled();
      finish();
    }
    return result;
  };
  Object.defineProperty(wrapped, '__perfprobeLoader', { value: true });
  for (const key of ['raw', 'pitch']) if (key in fn) wrapped[key] = fn[key];
  return wrapped;
}

/** Instruments the loader objects of one module's loader run. */
function instrumentLoaderContext(loaderContext, labels, spans) {
  for (const loader of loaderContext.loaders || []) {
    if (!loader || !loader.path || String(loader.path).startsWith('builtin:')) continue;
    const name = cachedLoaderName(loader.path);
    for (const kind of ['normal', 'pitch']) {
      let current = loader[kind];
      try {
        Object.defineProperty(loader, kind, {
          configurable: true,
          enumerable: true,
          get: () => current,
          set: (fn) => {
            current = wrapLoaderFn(fn, name, kind, labels, spans);
          },
        });
        if (current) current = wrapLoaderFn(current, name, kind, labels, spans);
      } catch {
        // A loader object that refuses accessors keeps working, unlabelled.
      }
    }
  }
}

module.exports = { instrumentLoaderContext, loaderName };
