#!/usr/bin/env node
'use strict';
// Builds a generated workload app with Rspack's JS API in this process:
//   node scripts/build-app.js <appDir>
// Exit code 0 on success, 1 on compilation errors. Honours PERFPROBE_RSPACK_CORE (which
// @rspack/core to use) like the generated config does. Used by tests, the demo and the bench.

const path = require('path');
const { reportBuildOutcome } = require('./build-outcome');

const appDir = path.resolve(process.argv[2] || '.');
const corePath = process.env.PERFPROBE_RSPACK_CORE || require.resolve('@rspack/core', { paths: [appDir, path.join(__dirname, '..')] });
const { rspack } = require(corePath);
const config = require(path.join(appDir, 'rspack.config.js'));

// RSPACK_PROFILE as @rspack/cli reads it: Rspack's own tracing (which also starts V8's profiler),
// so tests can check that perfprobe coexists with it.
async function main() {
  const traceOutput = process.env.RSPACK_TRACE_OUTPUT || path.join(appDir, 'rspack-trace.log');
  if (process.env.RSPACK_PROFILE) {
    await rspack.experiments.globalTrace.register(process.env.RSPACK_PROFILE, process.env.RSPACK_TRACE_LAYER || 'logger', traceOutput);
  }
  const started = process.hrtime.bigint();
  const compiler = rspack(config);
  const { err, stats } = await new Promise((resolve) => compiler.run((err, stats) => resolve({ err, stats })));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await new Promise((resolve) => compiler.close(resolve));
  if (process.env.RSPACK_PROFILE) await rspack.experiments.globalTrace.cleanup();
  if (!reportBuildOutcome(err, stats)) return;
  if (process.env.PERFPROBE_BUILD_REPORT !== '0') {
    console.log(JSON.stringify({ buildMs: Math.round(ms), errors: stats.hasErrors() }));
  }
}

main();
