'use strict';
// The README's first way, for the bench: `new PerfprobePlugin()` in rspack.config.js (the generated
// app's config adds the plugins this file returns, through PERFPROBE_WORKLOAD_PLUGINS).
const { PerfprobePlugin } = require('../..');

module.exports = () => [new PerfprobePlugin({ outDir: process.env.BENCH_OUT, frequency: Number(process.env.BENCH_FREQUENCY), quiet: true })];
