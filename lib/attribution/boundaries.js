'use strict';
// The JS<->Rust boundary as labels. JS->Rust: every method of the classes Rspack's binding exports
// (JsCompiler.build, JsCompilation.getAssets, ...) and its free functions (swc transform/minify,
// resolver, module* accessors) are wrapped; a synchronous call labels the JS thread's samples
// `binding=<Class.method>` on top of the labels in force; an asynchronous one (callback or promise)
// is timed until it completes. Rust->JS: taps and loaders carry `binding=callback:tap|loader`; the
// functions handed to `new JsCompiler(...)` in the fs bridges and the raw options (a function
// `output.filename`, say) carry `binding=callback:fs.<method>|options.<path>`.
// Wrapping costs one closure call per crossing; spans shorter than the option `minSpanUs` are only
// counted (see Spans.endBoundary).

const { callThrough } = require('./frames');

const wrappedBindings = new WeakSet();

/** The binding module @rspack/core loaded, found in the require cache (any version, any path). */
function findBinding() {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (/[\\/]@rspack(-debug)?[\\/]binding[\\/]/.test(file) && mod.exports && typeof mod.exports.JsCompiler === 'function') return mod.exports;
  }
  return null;
}

function instrumentBinding(binding, labels, spans) {
  if (!binding || wrappedBindings.has(binding)) return 0;
  wrappedBindings.add(binding);
  let wrapped = 0;
  for (const [exportName, value] of Object.entries(binding)) {
    if (typeof value !== 'function') continue;
    const proto = value.prototype;
    const methods = proto && /^[A-Z]/.test(exportName) ? Object.getOwnPropertyNames(proto) : [];
    if (methods.length > 1) {
      for (const method of methods) {
        if (method === 'constructor') continue;
        const d = Object.getOwnPropertyDescriptor(proto, method);
        if (!d || typeof d.value !== 'function' || !d.writable) continue;
        proto[method] = wrapCall(d.value, `${exportName}.${method}`, labels, spans, 'js->rust');
        wrapped++;
      }
    } else if (!/^[A-Z]/.test(exportName)) {
      const d = Object.getOwnPropertyDescriptor(binding, exportName);
      if (d && d.writable) {
        binding[exportName] = wrapCall(value, exportName, labels, spans, 'js->rust');
        wrapped++;
      }
    }
  }
  if (instrumentCompilerArguments(binding, labels, spans)) wrapped++;
  return wrapped;
}

/** Bounds of the walk through `new JsCompiler(...)`'s arguments (raw options are a small tree). */
const MAX_DEPTH = 8;
const MAX_FUNCTIONS = 1000;

/**
 * Wraps, at `new JsCompiler(...)`, every function Rust will call back: @rspack/core reads
 * `binding.JsCompiler` when it creates a compiler, so a construct trap sees the arguments first.
 */
function instrumentCompilerArguments(binding, labels, spans) {
  const d = Object.getOwnPropertyDescriptor(binding, 'JsCompiler');
  if (!d || !d.writable || typeof d.value !== 'function') return false;
  const JsCompiler = d.value;
  const proxy = new Proxy(JsCompiler, {
    construct(target, args, newTarget) {
      try {
        wrapCallbacks(args, labels, spans);
      } catch {
        // Labels are a nicety; the compiler must be built whatever happened here.
      }
      return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
    },
  });
  binding.JsCompiler = proxy;
  return true;
}

const isFsBridge = (o) => typeof o.writeFile === 'function' || typeof o.readFile === 'function' || typeof o.stat === 'function';
const isRawOptions = (o) => 'output' in o && 'module' in o;

function wrapCallbacks(args, labels, spans) {
  const seen = new WeakSet();
  let budget = MAX_FUNCTIONS;
  const walk = (object, path, depth) => {
    if (depth > MAX_DEPTH || seen.has(object)) return;
    seen.add(object);
    for (const key of Object.keys(object)) {
      const d = Object.getOwnPropertyDescriptor(object, key);
      if (!d || !('value' in d) || d.value === null) continue;
      const where = Array.isArray(object) ? `${path}[]` : `${path}.${key}`;
      if (typeof d.value === 'function') {
        // A function carrying properties is looked at by JS too (hook registries are): left alone.
        if (d.writable && Object.keys(d.value).length === 0 && budget-- > 0) object[key] = wrapCall(d.value, `callback:${where}`, labels, spans, 'rust->js');
      } else if (typeof d.value === 'object') {
        walk(d.value, where, depth + 1);
      }
    }
  };
  for (const arg of args) {
    if (arg === null || typeof arg !== 'object') continue;
    // Other arguments (hook registries, builtin plugins) are shared with @rspack/core's own code.
    if (isFsBridge(arg)) walk(arg, 'fs', 0);
    else if (isRawOptions(arg)) walk(arg, 'options', 0);
  }
}

function wrapCall(original, name, labels, spans, kind) {
  return function (...args) {
    const span = spans.begin('binding', name);
    const last = args.length ? args[args.length - 1] : undefined;
    if (typeof last === 'function') {
      // Asynchronous with a callback: counted and timed until the callback, not labelled (the JS
      // thread serves other work meanwhile, with labels of its own).
      span.async = true;
      args[args.length - 1] = function (...result) {
        spans.endBoundary(span, kind);
        return last.apply(this, result);
      };
      return original.apply(this, args);
    }
    let result;
    try {
      result = labels.runSync(labels.withPair(labels.current, 'binding', name), () => callThrough(original, this, args));
    } catch (e) {
      spans.endBoundary(span, kind);
      throw e;
    }
    if (result && typeof result.then === 'function') {
      span.async = true;
      const end = () => spans.endBoundary(span, kind);
      result.then(end, end);
    } else {
      spans.endBoundary(span, kind);
    }
    return result;
  };
}

module.exports = { findBinding, instrumentBinding };
