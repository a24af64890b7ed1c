'use strict';
// The JS<->Rust boundary as labels. JS->Rust: every method of the classes Rspack's binding exports
// (JsCompiler.build, JsCompilation.getAssets, ...) and its free functions (swc transform/minify,
// resolver, module* accessors) are wrapped; a synchronous call labels the JS thread's samples
// `binding=<Class.method>` on top of the labels in force; an asynchronous one (callback or promise)
// is timed until it completes. Rust->JS: taps and loaders carry `binding=callback:tap|loader`.
// Wrapping costs one closure call per crossing; spans shorter than MIN_SPAN_US are only counted.

const MIN_SPAN_US = 100;
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
        proto[method] = wrapCall(d.value, `${exportName}.${method}`, labels, spans);
        wrapped++;
      }
    } else if (!/^[A-Z]/.test(exportName)) {
      const d = Object.getOwnPropertyDescriptor(binding, exportName);
      if (d && d.writable) {
        binding[exportName] = wrapCall(value, exportName, labels, spans);
        wrapped++;
      }
    }
  }
  return wrapped;
}

function wrapCall(original, name, labels, spans) {
  return function (...args) {
    const span = spans.begin('binding', name);
    const last = args.length ? args[args.length - 1] : undefined;
    if (typeof last === 'function') {
      // Asynchronous with a callback: counted and timed until the callback, not labelled (the JS
      // thread serves other work meanwhile, with labels of its own).
      args[args.length - 1] = function (...result) {
        spans.endBoundary(span, 'js->rust', MIN_SPAN_US);
        return last.apply(this, result);
      };
      return original.apply(this, args);
    }
    let result;
    try {
      result = labels.runSync(labels.withPair(labels.current, 'binding', name), () => original.apply(this, args));
    } catch (e) {
      spans.endBoundary(span, 'js->rust', MIN_SPAN_US);
      throw e;
    }
    if (result && typeof result.then === 'function') {
      const end = () => spans.endBoundary(span, 'js->rust', MIN_SPAN_US);
      result.then(end, end);
    } else {
      spans.endBoundary(span, 'js->rust', MIN_SPAN_US);
    }
    return result;
  };
}

module.exports = { findBinding, instrumentBinding, MIN_SPAN_US };
