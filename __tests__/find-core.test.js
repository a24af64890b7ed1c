'use strict';
// lib/attach/find-core.js in this process: its check runs on the exports of every module node loads,
// so it must not run other modules' lazy getters or turn their throwing getters into our warnings.

const fs = require('fs');
const path = require('path');
const { isRspackCore } = require('../lib/attach/find-core');
const { tmpDir, runNode } = require('./helpers');

test("a module's lazy Compiler getter is not run, and a throwing one costs no warning", () => {
  const dir = tmpDir('find-core');
  // A webpack-like index: `Compiler` is a getter that loads its module when first read.
  fs.writeFileSync(path.join(dir, 'lazy.js'), `let reads = 0;
    module.exports = { get Compiler() { reads++; return function Compiler() {}; }, get reads() { return reads; } };`);
  fs.writeFileSync(path.join(dir, 'hostile.js'), `module.exports = new Proxy({}, { get() { throw new Error('no peeking'); } });`);
  // Jest loads modules itself: node's own Module._load, which the check hooks, runs in a child.
  const r = runNode(`
    const { watchRspackCore } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'attach', 'find-core.js'))});
    const found = [];
    const failures = [];
    watchRspackCore((core) => found.push(core), (reason) => failures.push(reason));
    const lazy = require(${JSON.stringify(path.join(dir, 'lazy.js'))});
    let threw = false;
    try { require(${JSON.stringify(path.join(dir, 'hostile.js'))}); } catch { threw = true; }
    console.log(JSON.stringify({ reads: lazy.reads, threw, failures, found: found.length }));`);
  expect(r.status).toBe(0);
  expect(r.json).toEqual({ reads: 0, threw: false, failures: [], found: 0 });
});

test('what @rspack/core exports is recognised; look-alikes are not', () => {
  function Compiler() {}
  expect(isRspackCore(Object.assign(() => {}, { Compiler, rspackVersion: '2.3.2' }))).toBe(true);
  expect(isRspackCore({ Compiler, rspackVersion: '2.3.2' })).toBe(true);
  expect(isRspackCore({ Compiler })).toBe(false);
  expect(isRspackCore({ rspackVersion: '2.3.2', Compiler: 'no' })).toBe(false);
  expect(isRspackCore(null)).toBe(false);
});
