'use strict';
// Hook attribution against a small tapable-shaped hooks object, in this process: no build runs.
// What the signal handler would read is the JS thread's label word, so each case checks that word
// inside and after a tap. Real builds through every entry point are in attribution.test.js.

const { instrumentHooks } = require('../lib/attribution/hooks');
const { labels: getLabels } = require('../lib/attribution/labels');
const { FakeHook, FakeHookMap } = require('./helpers/fake-hooks');

const labels = getLabels();
if (!labels) throw new Error('the native addon is needed (npm run build)');

function context() {
  const spans = [];
  return {
    labels,
    skipped: [],
    ignore: (tap) => tap.name === 'PerfprobePlugin',
    spans: {
      list: spans,
      begin: (hook, plugin) => {
        const span = { hook, plugin, open: true };
        spans.push(span);
        return span;
      },
      end: (span) => (span.open = false),
    },
  };
}

/** The label pairs on the JS thread's word, as an object. */
const current = () => Object.fromEntries(labels.pairsOf(labels.current));

describe('hook attribution on a fake hooks object', () => {
  test('a sync tap runs labelled with its hook, plugin, stage and binding; the word is restored after', () => {
    const hooks = { processAssets: new FakeHook() };
    const ctx = context();
    instrumentHooks(hooks, 'compilation', ctx);
    let inside;
    hooks.processAssets.tap({ name: 'MinifyPlugin', stage: 400 }, () => (inside = current()));
    const before = labels.current;
    hooks.processAssets.callSync();
    expect(inside).toEqual({ hook: 'compilation.processAssets', plugin: 'MinifyPlugin', binding: 'callback:tap', stage: '400' });
    expect(labels.current).toBe(before);
    expect(ctx.spans.list).toEqual([{ hook: 'compilation.processAssets', plugin: 'MinifyPlugin', open: false }]);
  });

  test('taps registered before the probe attached are wrapped too', () => {
    const hooks = { emit: new FakeHook() };
    let inside;
    hooks.emit.tap('EarlyPlugin', () => (inside = current().plugin));
    instrumentHooks(hooks, 'compiler', context());
    hooks.emit.callSync();
    expect(inside).toBe('EarlyPlugin');
  });

  test('a tapAsync tap keeps its labels across a timer; the word is restored after', async () => {
    const hooks = { make: new FakeHook() };
    instrumentHooks(hooks, 'compiler', context());
    const seen = [];
    hooks.make.tapAsync('AsyncPlugin', (arg, callback) => {
      seen.push(current().plugin);
      setTimeout(() => {
        seen.push(current().plugin);
        callback(null, 'done');
      }, 5);
    });
    const outer = labels.current;
    await expect(hooks.make.callAsync('x')).resolves.toBe('done');
    expect(seen).toEqual(['AsyncPlugin', 'AsyncPlugin']);
    expect(labels.current).toBe(outer);
  });

  test('a tapAsync tap that calls back before returning completes', async () => {
    const hooks = { make: new FakeHook() };
    instrumentHooks(hooks, 'compiler', context());
    hooks.make.tapAsync('EagerPlugin', (callback) => callback(null, 42));
    await expect(hooks.make.callAsync()).resolves.toBe(42);
  });

  test('a tapPromise tap keeps its labels after its first await', async () => {
    const hooks = { seal: new FakeHook() };
    instrumentHooks(hooks, 'compilation', context());
    const seen = [];
    hooks.seal.tapPromise('PromisePlugin', async () => {
      seen.push(current().hook);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(current().hook);
    });
    await hooks.seal.promise();
    expect(seen).toEqual(['compilation.seal', 'compilation.seal']);
  });

  test("the probe's own taps are not labelled as a plugin", () => {
    const hooks = { done: new FakeHook() };
    instrumentHooks(hooks, 'compiler', context());
    let inside;
    hooks.done.tap('PerfprobePlugin', () => (inside = current().plugin));
    hooks.done.callSync();
    expect(inside).toBeUndefined();
  });

  test('a HookMap labels each hook it creates with the map name', () => {
    const hooks = { parser: new FakeHookMap() };
    instrumentHooks(hooks, 'normalModuleFactory', context());
    let inside;
    hooks.parser.for('javascript/auto').tap('ParserPlugin', () => (inside = current().hook));
    hooks.parser.for('javascript/auto').callSync();
    expect(inside).toBe('normalModuleFactory.parser');
  });

  test('getters are never read, fake hooks are skipped, a throwing hook costs only its own labels', () => {
    const hooks = { good: new FakeHook() };
    let getterRead = false;
    Object.defineProperty(hooks, 'deprecated', { enumerable: true, get: () => ((getterRead = true), new FakeHook()) });
    hooks.shim = Object.assign(new FakeHook(), { _fakeHook: true, intercept: () => { throw new Error('fake hooks cannot be intercepted'); } });
    hooks.broken = Object.assign(new FakeHook(), { intercept: () => { throw new Error('frozen'); } });
    const ctx = context();
    instrumentHooks(Object.freeze(hooks), 'compilation', ctx);
    expect(getterRead).toBe(false);
    expect(ctx.skipped).toEqual(['compilation.broken: frozen']);
    let inside;
    hooks.good.tap('StillLabelled', () => (inside = current().plugin));
    hooks.good.callSync();
    expect(inside).toBe('StillLabelled');
  });

  test('instrumenting the same hooks twice wraps each tap once', () => {
    const hooks = { emit: new FakeHook() };
    const ctx = context();
    instrumentHooks(hooks, 'compiler', ctx);
    instrumentHooks(hooks, 'compiler', ctx);
    hooks.emit.tap('Once', () => {});
    hooks.emit.callSync();
    expect(ctx.spans.list).toHaveLength(1);
  });

  test('an error thrown by a tap leaves the word as it was', () => {
    const hooks = { emit: new FakeHook() };
    instrumentHooks(hooks, 'compiler', context());
    hooks.emit.tap('Thrower', () => {
      throw new Error('boom');
    });
    const before = labels.current;
    expect(() => hooks.emit.callSync()).toThrow('boom');
    expect(labels.current).toBe(before);
  });
});
