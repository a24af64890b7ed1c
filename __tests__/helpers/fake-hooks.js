'use strict';
// Hooks in tapable's shape, for tests that instrument hooks without a build.

/** A hook in tapable's shape: `intercept({ register })`, `tap`/`tapAsync`/`tapPromise`, call helpers. */
class FakeHook {
  constructor() {
    this.taps = [];
    this.interceptors = [];
  }
  intercept(interceptor) {
    this.interceptors.push(interceptor);
    this.taps = this.taps.map((t) => (interceptor.register ? interceptor.register(t) : t));
  }
  add(type, options, fn) {
    let tap = { type, fn, ...(typeof options === 'string' ? { name: options } : options) };
    for (const i of this.interceptors) if (i.register) tap = i.register(tap);
    this.taps.push(tap);
  }
  tap(options, fn) {
    this.add('sync', options, fn);
  }
  tapAsync(options, fn) {
    this.add('async', options, fn);
  }
  tapPromise(options, fn) {
    this.add('promise', options, fn);
  }
  callSync(...args) {
    return this.taps.map((t) => t.fn(...args));
  }
  callAsync(...args) {
    return new Promise((resolve, reject) => {
      const [tap] = this.taps;
      tap.fn(...args, (err, value) => (err ? reject(err) : resolve(value)));
    });
  }
  promise(...args) {
    return Promise.all(this.taps.map((t) => t.fn(...args)));
  }
}

class FakeHookMap {
  constructor() {
    this.factories = [];
    this.map = new Map();
  }
  intercept(interceptor) {
    if (interceptor.factory) this.factories.push(interceptor.factory);
  }
  for(key) {
    if (!this.map.has(key)) {
      let hook = new FakeHook();
      for (const f of this.factories) hook = f(key, hook);
      this.map.set(key, hook);
    }
    return this.map.get(key);
  }
}

module.exports = { FakeHook, FakeHookMap };
