'use strict';
// Preloaded by bench/run.js (NODE_OPTIONS=--require ...) for the pprof-99 / pprof-999 configurations:
// starts pprof-rs at process start and writes BENCH_PPROF_OUT/profile.pb at exit, plus
// post-processing.json with the time the exit handler took (report build + encode + write), which
// the bench reports as this profiler's post-processing cost, and the process CPU used while sampling,
// so fidelity can be computed over the same span perfprobe's summary.json uses.

const fs = require('fs');
const path = require('path');

const outDir = process.env.BENCH_PPROF_OUT;
const frequency = Number(process.env.BENCH_PPROF_FREQUENCY || 99);
if (outDir) {
  const addon = require('./pprof_baseline.node');
  const cpu0 = process.cpuUsage();
  addon.start(frequency);
  process.on('exit', () => {
    const t0 = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    const sessionCpuMs = (cpu.user + cpu.system) / 1000;
    const samples = addon.stop(path.join(outDir, 'profile.pb'));
    const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
    fs.writeFileSync(path.join(outDir, 'post-processing.json'), JSON.stringify({ totalMs, samples, frequency, sessionCpuMs }));
  });
}
