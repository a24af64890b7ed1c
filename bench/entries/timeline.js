'use strict';
// For bench/segments.js: marks the time of the build's hooks, in ms since the process started, from
// when rspack.config.js asks for its plugins to the process's exit, then adds the way of profiling
// BENCH_TIMELINE_ENTRY names (`plugin` or `start`, the files beside this one), or none (the CLI's
// preload comes through NODE_OPTIONS). The marks go to BENCH_TIMELINE_OUT at exit, with the
// process's start in ms since the epoch (`timeOrigin`), for the bench to time the exit. Marks are
// taken at stages around every other tap, so each segment holds what the probe's taps do in it.

const fs = require('fs');
const path = require('path');

const EARLY = -1000;
const LATE = 1000;
const marks = { timeOrigin: performance.timeOrigin };
const mark = (name) => {
  marks[name] = performance.now();
};
process.on('exit', () => {
  mark('exit');
  fs.writeFileSync(process.env.BENCH_TIMELINE_OUT, JSON.stringify(marks));
});

class Timeline {
  apply(compiler) {
    const at = (hook, stage, name) => hook.tap({ name: 'bench-timeline', stage }, () => mark(name));
    at(compiler.hooks.beforeRun, EARLY, 'beforeRun');
    at(compiler.hooks.beforeRun, LATE, 'afterBeforeRun');
    at(compiler.hooks.thisCompilation, EARLY, 'thisCompilation');
    at(compiler.hooks.make, EARLY, 'make');
    at(compiler.hooks.make, LATE, 'afterMake');
    at(compiler.hooks.finishMake, EARLY, 'finishMake');
    at(compiler.hooks.done, EARLY, 'done');
    compiler.hooks.shutdown.tapPromise('bench-timeline', async () => mark('shutdown'));
  }
}

module.exports = () => {
  const timeline = new Timeline();
  mark('config');
  const entry = process.env.BENCH_TIMELINE_ENTRY;
  const probe = entry ? require(path.join(__dirname, `${entry}.js`))() : [];
  mark('loaded');
  return [timeline, ...probe];
};
