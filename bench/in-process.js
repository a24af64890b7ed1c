#!/usr/bin/env node
'use strict';
// What profiling costs a build, to within about a percent: one node process builds the generated app
// again and again with Rspack's JS API (a new compiler each time, so every build is cold), unprofiled
// and with `new PerfprobePlugin()` in turn, and compares each profiled build's process CPU and wall
// time with the unprofiled build of the same round.
//   node bench/in-process.js [--n 3000] [--rounds 15] [--configs off,plugin-99,plugin-999]
//
// Why in one process: whole `rspack build` processes on a shared virtual machine vary by ±4% from run
// to run (start-up, page cache, where the heap lands), which hides a 2% effect behind 30+ rounds; builds
// in one warm process vary by about 1%. What this cannot see is what happens once per process (loading
// the addon, node's exit): summary.json's `startMs` and the whole-process runs of `bench/run.js`
// measure those. After the first profiled build the binding's functions stay wrapped (the wrapper
// counts and times each call whether or not a session runs), so the unprofiled builds carry that part
// of the label layer too: `bench/call-cost.js` measures it per crossing.
// Prints a Markdown table and writes bench/in-process-results.json. Asserts nothing.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { median, bootstrapCi } = require('./stats');

const ROOT = path.join(__dirname, '..');
const RESULTS = path.join(__dirname, 'in-process-results.json');

const plugin = (options) => (outDir) => {
  const { PerfprobePlugin } = require('..');
  return new PerfprobePlugin({ quiet: true, outDir, ...options });
};
const CONFIGS = {
  off: null,
  'plugin-1': plugin({ frequency: 1 }),
  'plugin-99': plugin({ frequency: 99 }),
  'plugin-999': plugin({ frequency: 999 }),
  'plugin-99-perf-event': plugin({ frequency: 99, timer: 'perf-event' }),
  'plugin-999-perf-event': plugin({ frequency: 999, timer: 'perf-event' }),
  'plugin-999-no-js': plugin({ frequency: 999, jsProfiler: false }),
};

function parseArgs(argv) {
  const opts = { n: 3000, rounds: 15, configs: ['off', 'plugin-99', 'plugin-999'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--n') opts.n = Number(argv[++i]);
    else if (a === '--rounds') opts.rounds = Number(argv[++i]);
    else if (a === '--configs') opts.configs = argv[++i].split(',');
    else throw new Error(`unknown argument ${a}; usage: node bench/in-process.js [--n 3000] [--rounds 15] [--configs ${Object.keys(CONFIGS).join(',')}]`);
  }
  for (const id of opts.configs) if (!(id in CONFIGS)) throw new Error(`unknown configuration ${id}; known: ${Object.keys(CONFIGS).join(', ')}`);
  if (!opts.configs.includes('off')) opts.configs.unshift('off');
  if (!(opts.n > 0) || !(opts.rounds > 0)) throw new Error('--n and --rounds take positive numbers');
  return opts;
}

/** One cold build of `app`, with `extra` plugins; its wall and process CPU in ms. */
async function build(rspack, app, extra) {
  delete require.cache[path.join(app, 'rspack.config.js')];
  const config = require(path.join(app, 'rspack.config.js'));
  config.plugins = [...config.plugins, ...extra];
  fs.rmSync(path.join(app, 'dist'), { recursive: true, force: true });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const compiler = rspack(config);
  const stats = await new Promise((resolve, reject) => compiler.run((err, s) => (err ? reject(err) : resolve(s))));
  await new Promise((resolve) => compiler.close(resolve));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  if (stats.hasErrors()) throw new Error(`the build failed: ${stats.toString({ all: false, errors: true })}`);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  // What the builds load (lib/load.js), built from lib/ as it is now.
  require(path.join(ROOT, 'scripts', 'bundle.js')).bundle();
  const { generate } = require(path.join(ROOT, 'scripts', 'workloads.js'));
  const app = generate({ kind: 'react', n: opts.n });
  const { rspack } = require(require.resolve('@rspack/core', { paths: [ROOT] }));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'perfprobe-in-process-'));
  const withOut = (id) => (CONFIGS[id] ? [CONFIGS[id](out)] : []);
  // Warm-up: one build of each configuration (JIT, page cache, the addon loaded), untimed.
  for (const id of opts.configs) await build(rspack, app, withOut(id));
  const runs = [];
  for (let round = 0; round < opts.rounds; round++) {
    const k = round % opts.configs.length;
    for (const id of [...opts.configs.slice(k), ...opts.configs.slice(0, k)]) {
      const r = { id, round, ...(await build(rspack, app, withOut(id))) };
      runs.push(r);
      process.stderr.write(`in-process: round ${round + 1}/${opts.rounds} ${id}: ${(r.wallMs / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s CPU\n`);
    }
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out);
  }
  fs.rmSync(out, { recursive: true, force: true });
  const base = Object.fromEntries(runs.filter((r) => r.id === 'off').map((r) => [r.round, r]));
  const rows = opts.configs.map((id) => {
    const mine = runs.filter((r) => r.id === id);
    const wall = mine.map((r) => r.wallMs / base[r.round].wallMs);
    const cpu = mine.map((r) => r.cpuMs / base[r.round].cpuMs);
    return { id, wallMs: median(mine.map((r) => r.wallMs)), cpuMs: median(mine.map((r) => r.cpuMs)), wallRatio: median(wall), wallCi: bootstrapCi(wall), cpuRatio: median(cpu), cpuCi: bootstrapCi(cpu) };
  });
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0] && os.cpus()[0].model, node: process.version, rspack: rspack.rspackVersion, date: new Date().toISOString() };
  const command = `node bench/in-process.js ${process.argv.slice(2).join(' ')}`.trim();
  const tmp = `${RESULTS}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ command, machine, params: opts, rows, runs }, null, 2)}\n`);
  fs.renameSync(tmp, RESULTS);
  const ci = (c) => (c ? `, CI ${c.low.toFixed(3)}–${c.high.toFixed(3)}` : '');
  console.log(`\n${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node.slice(1)}, Rspack ${machine.rspack}; react N=${opts.n}, ${opts.rounds} rounds in one process; medians, ratios paired by round (95% CI).\n`);
  console.log('| configuration | wall | wall / off | CPU | CPU / off |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const ratio = (x, c) => (r.id === 'off' ? '—' : `${x.toFixed(3)}x${ci(c)}`);
    console.log(`| \`${r.id}\` | ${(r.wallMs / 1000).toFixed(2)} s | ${ratio(r.wallRatio, r.wallCi)} | ${(r.cpuMs / 1000).toFixed(2)} s | ${ratio(r.cpuRatio, r.cpuCi)} |`);
  }
  console.log(`\nCommand: \`${command}\`. Raw runs: ${path.relative(process.cwd(), RESULTS)}`);
}

main().catch((e) => {
  console.error(e.stack || e.message);
  process.exit(1);
});
