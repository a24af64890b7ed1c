'use strict';
// The API way, for the bench: `perfprobe.start()` when rspack.config.js loads, `stop()` awaited in the
// compiler's done hook (the generated app's config adds the plugin this file returns, through
// PERFPROBE_WORKLOAD_PLUGINS).
const perfprobe = require('../..');

const session = perfprobe.start({ outDir: process.env.BENCH_OUT, frequency: Number(process.env.BENCH_FREQUENCY), quiet: true });

module.exports = () => [
  {
    apply(compiler) {
      compiler.hooks.done.tapPromise('bench-start-stop', () => session.stop());
    },
  },
];
