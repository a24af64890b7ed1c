'use strict';
// Labels every tap of every hook of Rspack's hook objects with `hook`, `plugin` and `stage`, by
// wrapping tap functions in a `register` interceptor. Only `register`: a call/done interceptor would
// make Rspack call into JS for every hook call (QueriedHook.isUsed), changing what is measured.
// Hooks are discovered at run time, so a hook a new Rspack version adds is covered too, and
// `register` also sees taps added after the probe attached.

const { callThrough, scrubStack } = require('./frames');

// Hook objects may be frozen: remember what was instrumented beside them, not on them.
const instrumented = new WeakSet();
const wrappers = new WeakSet();

/** Instruments every hook (and hook map) of `hooks`, naming them `<owner>.<key>`. */
function instrumentHooks(hooks, owner, ctx) {
  if (!hooks || instrumented.has(hooks)) return;
  instrumented.add(hooks);
  for (const key of Object.keys(hooks)) {
    // Data properties only: deprecated hooks are getters that print a warning when read.
    const descriptor = Object.getOwnPropertyDescriptor(hooks, key);
    if (!descriptor || !('value' in descriptor)) continue;
    const hook = descriptor.value;
    // Fake hooks are compatibility shims over processAssets (their taps land there and are labelled
    // there); they throw on intercept.
    if (!hook || typeof hook.intercept !== 'function' || hook._fakeHook) continue;
    const name = `${owner}.${key}`;
    try {
      if (typeof hook.for === 'function' && typeof hook.tap !== 'function') {
        // A HookMap: instrument each hook it creates.
        hook.intercept({ factory: (mapKey, created) => (instrumentHook(created, name, ctx), created) });
      } else {
        instrumentHook(hook, name, ctx);
      }
    } catch (e) {
      // One odd hook costs its own labels, not the others'.
      ctx.skipped.push(`${name}: ${e.message}`);
    }
  }
}

function instrumentHook(hook, name, ctx) {
  if (!hook || typeof hook.intercept !== 'function' || instrumented.has(hook)) return;
  instrumented.add(hook);
  hook.intercept({ register: (tap) => wrapTap(tap, name, ctx) });
}

function wrapTap(tap, hookName, ctx) {
  if (!tap || typeof tap.fn !== 'function' || wrappers.has(tap.fn) || ctx.ignore(tap)) return tap;
  const { labels, spans } = ctx;
  const plugin = tap.name;
  const pairs = [['hook', hookName], ['plugin', plugin], ['binding', 'callback:tap']];
  if (typeof tap.stage === 'number' && tap.stage !== 0) pairs.push(['stage', String(tap.stage)]);
  let id;
  const labelId = () => (id === undefined ? (id = labels.id(pairs)) : id);
  const original = tap.fn;
  let fn;
  if (tap.type === 'async') {
    fn = function (...args) {
      const callback = args.pop();
      const span = spans.begin(hookName, plugin);
      const outer = labels.current;
      // Many taps call back before they return: `settled` does not exist yet then.
      let settled = null;
      let calledBack = false;
      const run = labels.runAsync(labelId(), () =>
        callThrough(original, this, [...args, (...result) => {
          scrubStack(result[0]);
          if (settled) settled();
          else calledBack = true;
          spans.end(span);
          // What Rspack does next is not this tap's work: leave its async context and labels.
          return labels.outside(outer, () => callback(...result));
        }]),
      );
      settled = run.settled;
      if (calledBack) settled();
    };
  } else if (tap.type === 'promise') {
    fn = function (...args) {
      const span = spans.begin(hookName, plugin);
      const { result, settled } = labels.runAsync(labelId(), () => callThrough(original, this, args));
      const finish = (error) => {
        scrubStack(error);
        settled();
        spans.end(span);
      };
      if (result && typeof result.then === 'function') {
        result.then(finish, finish);
      } else {
        finish();
      }
      return result;
    };
  } else {
    fn = function (...args) {
      const span = spans.begin(hookName, plugin);
      try {
        return labels.runSync(labelId(), () => callThrough(original, this, args));
      } finally {
        spans.end(span);
      }
    };
  }
  wrappers.add(fn);
  return { ...tap, fn };
}

module.exports = { instrumentHooks };
