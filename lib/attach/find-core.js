'use strict';
// Finds the `Compiler` class of every @rspack/core the process loads, however it is loaded.
//
// @rspack/core 2.x is an ES module: the real CLI's `import`, Rsbuild's and an `.mjs` config's never
// pass through `Module._load`, and loader hooks differ by Node line (`module.register` runs off
// thread on Node 20 and 22, `module.registerHooks` needs 22.15 or 24). What every release does, on
// every line, is load its native binding with a CommonJS require (`createRequire(import.meta.url)(
// process.env.RSPACK_BINDING || '@rspack/binding')` in @rspack/core 2.3.2's dist/index.js): a native
// addon cannot be imported any other way, so this hook is the one least likely to move. `Module._load`
// sees that require, and its `parent` names the @rspack/core file that asked. That file is still being
// evaluated then, so the class is looked up later, at the first construction of a binding class the
// Compiler constructor needs (`JsResolverFactory` in 2.3.2, `JsCompiler` at the latest, on the first
// build): by then the module has finished evaluating and `require()` of it returns the same namespace
// (require(esm): Node 20.19+, 22.12+, which @rspack/core 2.x's `engines` already requires).
// Measured: the real @rspack/cli 2.2.8 with @rspack/core 2.3.2 on Node 20.20, 22.23 and 24.22.
//
// A CommonJS `require('@rspack/core')` (or require(esm) of it) hands over the exports directly.

const Module = require('module');
const { FIND_CORE: STATE } = require('../keys');

/** Binding classes whose construction means @rspack/core has finished loading. */
const TRIGGERS = ['JsResolverFactory', 'JsCompiler'];

/**
 * Reads `key` of a module's exports, for every module node loads: a throwing getter or Proxy is that
 * module's business and answers "no", never a warning of ours.
 */
function peek(exports, key) {
  try {
    return exports[key];
  } catch {
    return undefined;
  }
}

function isRspackCore(exports) {
  // The package exports the `rspack` function itself (CommonJS) or a namespace, with the classes as
  // properties. `rspackVersion` first: only Rspack has it, so no other module's lazy `Compiler`
  // getter (webpack's index has such getters) is run early by this check.
  return (typeof exports === 'function' || (typeof exports === 'object' && exports !== null)) && typeof peek(exports, 'rspackVersion') === 'string' && typeof peek(exports, 'Compiler') === 'function';
}

const isBinding = (exports) => exports !== null && typeof exports === 'object' && typeof peek(exports, 'JsCompiler') === 'function';

/**
 * Calls `onCore(exports)` once for each @rspack/core found, and `onFailure(reason)` when a binding
 * was loaded by code whose Compiler class cannot be found (its compilers run without labels).
 * Process-wide: a second copy of this package registers its callbacks on the same hook.
 */
function watchRspackCore(onCore, onFailure) {
  let state = globalThis[STATE];
  if (!state) {
    state = globalThis[STATE] = { listeners: [], cores: new Set(), bindings: new WeakSet() };
    install(state);
  }
  state.listeners.push({ onCore, onFailure });
  for (const core of state.cores) onCore(core);
  findLoaded(state);
}

function found(state, exports) {
  if (state.cores.has(exports)) return;
  state.cores.add(exports);
  for (const l of state.listeners) l.onCore(exports);
}

function failed(state, reason) {
  for (const l of state.listeners) l.onFailure(reason);
}

/** The @rspack/core namespace of `file`, or a reason it cannot be had. */
function coreFrom(file) {
  try {
    const exports = require(file);
    return isRspackCore(exports) ? { exports } : { reason: `${file} exports no Compiler class` };
  } catch (e) {
    return { code: e.code, reason: `${file} could not be required for its Compiler class: ${e.code || ''}${e.code ? ' ' : ''}${e.message.split('\n')[0]}` };
  }
}

/**
 * Wraps the binding's trigger classes: their first construction after `file` finished loading
 * looks up the Compiler class. The binding's exports are plain writable properties.
 */
function watchBinding(state, binding, file) {
  if (state.bindings.has(binding)) return;
  state.bindings.add(binding);
  let done = false;
  for (const name of TRIGGERS) {
    const d = Object.getOwnPropertyDescriptor(binding, name);
    if (!d || !d.writable || typeof d.value !== 'function') continue;
    const target = d.value;
    const proxy = new Proxy(target, {
      construct(t, args, newTarget) {
        if (!done) {
          const r = coreFrom(file);
          if (r.exports) {
            done = true;
            found(state, r.exports);
            // Found at the first build's JsCompiler: that compiler's run() went by unwrapped.
            if (name === 'JsCompiler') failed(state, `a compiler of ${file} began building before its Compiler class was found: that first build has no labels`);
          } else if (name === 'JsCompiler') {
            // A compiler builds from this binding. No Compiler class here is a failure only if none
            // was found anywhere: a wrapper given as RSPACK_BINDING requires the binding too, and
            // @rspack/core, which requires the wrapper, is found through it.
            done = true;
            if (state.cores.size === 0) failed(state, r.reason);
          }
          // Otherwise (still evaluating, or not @rspack/core) the first build's JsCompiler decides.
        }
        return Reflect.construct(t, args, newTarget === proxy ? t : newTarget);
      },
    });
    binding[name] = proxy;
  }
}

function install(state) {
  const originalLoad = Module._load;
  Module._load = function (request, parent, ...rest) {
    const exports = originalLoad.call(this, request, parent, ...rest);
    try {
      if (isRspackCore(exports)) found(state, exports);
      // The platform package (`@rspack/binding-linux-x64-gnu`) is required by `@rspack/binding`'s
      // own loader with the same exports: only a requirer outside the binding packages is @rspack/core.
      else if (isBinding(exports) && parent && parent.filename && !/[\\/]@rspack(-debug)?[\\/]binding/.test(parent.filename)) watchBinding(state, exports, parent.filename);
    } catch (e) {
      failed(state, e.message);
    }
    return exports;
  };
}

/** An @rspack/core loaded before the hook (start() after `import '@rspack/core'`), through its binding. */
function findLoaded(state) {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!mod || !isBinding(mod.exports)) continue;
    // `module.parent` (documentation-only deprecated) is the module that first required it: for the
    // binding, @rspack/core's createRequire module.
    const parent = mod.parent && mod.parent.filename;
    if (!parent || /[\\/]@rspack(-debug)?[\\/]binding/.test(parent)) continue;
    if (state.bindings.has(mod.exports)) continue;
    state.bindings.add(mod.exports);
    const r = coreFrom(parent);
    if (r.exports) found(state, r.exports);
    else failed(state, `${r.reason} (binding ${file})`);
  }
}

module.exports = { watchRspackCore, isRspackCore };
