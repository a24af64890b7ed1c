#!/usr/bin/env node
'use strict';
// Where a profiled build's extra wall time goes, segment by segment: `rspack build` of the app, with
// and without a way of profiling it, in turn, each marking the time of the build's hooks
// (bench/entries/timeline.js); per segment, the median of each round's difference from the
// unprofiled build of its round, with its 95% bootstrap interval.
//   node bench/segments.js [--kind libs] [--n 3] [--rounds 10] [--entry plugin|start|cli] [--frequency 99] [--perf]
// `cli` is the CLI's way in: register.js preloaded through NODE_OPTIONS, as `perfprobe -- rspack build`
// runs it. Segments run from node's start to the process's end as the bench sees it return.
//
// With --perf each build runs under `perf record` (cpu-clock, every 250 µs of CPU, every thread), and
// a second table gives the same paired difference for the CPU each module's code used (the kernel's
// included): where the extra CPU goes, by the probe's own code, V8's, libc's, the kernel's and
// Rspack's. perf's own sampling slows both builds of a round alike.
//
// Why: a whole build's wall time varies by ±5-25% from run to run on a shared virtual machine, which
// hides a 1% effect behind dozens of rounds; the short segments where the JS thread runs the probe's
// own work (loading it, starting the session, V8's listing, the export in `done`) vary by a
// millisecond or two, so ten rounds tell each apart. The long segments (make, and from finishMake to
// done) carry the sampling's cost spread over the build, and the machine's noise with it.
// Prints a Markdown table. Asserts nothing.

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { median, bootstrapCi } = require('./stats');

/** perf's sampling period (ns of a thread's CPU): 4 kHz, fine enough for a millisecond. */
const PERF_PERIOD_NS = 250000;

const ROOT = path.join(__dirname, '..');
const RSPACK_CLI = fs.realpathSync(path.join(ROOT, 'node_modules', '.bin', 'rspack'));
const SEGMENTS = [
  ['start', 'config', "node's start to the config (node, the CLI's preload, Rspack's CLI)"],
  ['config', 'loaded', 'loading the probe (require, constructor)'],
  ['loaded', 'beforeRun', 'config to beforeRun (apply)'],
  ['beforeRun', 'afterBeforeRun', 'beforeRun (the session starts)'],
  ['afterBeforeRun', 'thisCompilation', 'to thisCompilation'],
  ['thisCompilation', 'make', 'to make'],
  ['make', 'afterMake', "make's taps"],
  ['afterMake', 'finishMake', 'make (Rust builds the modules)'],
  ['finishMake', 'done', 'finishMake to done (seal, code generation, minification)'],
  ['done', 'shutdown', 'done (the session stops, the profile is written)'],
  ['shutdown', 'exit', 'shutdown to exit'],
  ['exit', 'end', "exit to the process's end (node's teardown; the CLI's export)"],
  ['start', 'end', 'the whole process'],
];

function parseArgs(argv) {
  const opts = { kind: 'libs', n: 3, rounds: 10, entry: 'plugin', frequency: 99, perf: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--perf') {
      opts.perf = true;
      continue;
    }
    const [key, value] = [argv[i], argv[++i]];
    if (key === '--kind') opts.kind = value;
    else if (key === '--n') opts.n = Number(value);
    else if (key === '--rounds') opts.rounds = Number(value);
    else if (key === '--entry') opts.entry = value;
    else if (key === '--frequency') opts.frequency = Number(value);
    else throw new Error(`unknown argument ${key}; usage: node bench/segments.js [--kind libs] [--n 3] [--rounds 10] [--entry plugin|start] [--frequency 99] [--perf]`);
  }
  if (!['plugin', 'start', 'cli'].includes(opts.entry)) throw new Error(`--entry is "${opts.entry}"; accepted: plugin, start or cli`);
  if (!(opts.rounds >= 3) || !(opts.frequency > 0)) throw new Error('--rounds takes 3 or more, --frequency a positive number');
  return opts;
}

/** CPU ms by module (its file's name, or `kernel`) in a `perf record` file. */
function cpuByModule(perfData) {
  const r = spawnSync('perf', ['report', '-i', perfData, '--stdio', '-q', '-n', '--sort', 'dso', '-F', 'sample,dso'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`perf report exited ${r.status}: ${(r.stderr || '').slice(-400)}`);
  const ms = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\S.*?)\s*$/.exec(line);
    if (!m) continue;
    const module = m[2] === '[kernel.kallsyms]' ? 'kernel' : /^\[JIT\]/.test(m[2]) ? 'JIT code' : path.basename(m[2]);
    ms[module] = (ms[module] || 0) + (Number(m[1]) * PERF_PERIOD_NS) / 1e6;
  }
  return ms;
}

/** One cold build; its marks in ms from node's start (with `perf`, `cpuMs` by module). */
function build(app, entry, frequency, perf) {
  fs.rmSync(path.join(app, 'dist'), { recursive: true, force: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'perfprobe-segments-'));
  const marksFile = path.join(tmp, 'marks.json');
  const env = {
    ...process.env,
    NODE_OPTIONS: '',
    PERFPROBE_WORKLOAD_PLUGINS: path.join(__dirname, 'entries', 'timeline.js'),
    BENCH_TIMELINE_OUT: marksFile,
    BENCH_TIMELINE_ENTRY: entry === 'cli' ? '' : entry || '',
    BENCH_OUT: path.join(tmp, 'profiles'),
    BENCH_FREQUENCY: String(frequency),
    ...(entry === 'cli'
      ? { NODE_OPTIONS: `--require ${path.join(ROOT, 'register.js')}`, PERFPROBE_OUT: path.join(tmp, 'profiles'), PERFPROBE_FREQUENCY: String(frequency), PERFPROBE_QUIET: '1' }
      : {}),
  };
  const command = [process.execPath, RSPACK_CLI, 'build', '-c', path.join(app, 'rspack.config.js')];
  const perfData = path.join(tmp, 'perf.data');
  if (perf) command.unshift('perf', 'record', '-q', '-e', 'cpu-clock', '-c', String(PERF_PERIOD_NS), '-o', perfData, '--');
  const r = spawnSync(command[0], command.slice(1), { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ended = performance.timeOrigin + performance.now();
  try {
    if (r.status !== 0) throw new Error(`the build exited ${r.status}: ${(r.stderr || '').slice(-400)}`);
    const marks = JSON.parse(fs.readFileSync(marksFile, 'utf8'));
    marks.start = 0;
    marks.end = ended - marks.timeOrigin;
    return perf ? { ...marks, cpuMs: cpuByModule(perfData) } : marks;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  // What the builds load (lib/load.js), built from lib/ as it is now.
  require(path.join(ROOT, 'scripts', 'bundle.js')).bundle();
  const { generate } = require(path.join(ROOT, 'scripts', 'workloads.js'));
  if (opts.perf) require(path.join(ROOT, 'scripts', 'setup.js')).aptInstall('perf', 'linux-perf');
  const app = generate({ kind: opts.kind, n: opts.n });
  build(app, opts.entry, opts.frequency, false);
  const pairs = [];
  for (let round = 0; round < opts.rounds; round++) {
    // Alternating which goes first, so drift on the machine hits both alike.
    const order = round % 2 ? [opts.entry, null] : [null, opts.entry];
    const [a, b] = order.map((entry) => build(app, entry, opts.frequency, opts.perf));
    const [none, probed] = order[0] ? [b, a] : [a, b];
    pairs.push({ none, probed });
    process.stderr.write(`segments: round ${round + 1}/${opts.rounds}: ${none.end.toFixed(0)} ms unprofiled, ${probed.end.toFixed(0)} ms with the ${opts.entry}\n`);
  }
  const fmt = (x) => x.toFixed(1);
  const row = (what, none, probed) => {
    const diffs = none.map((x, i) => probed[i] - x);
    const ci = bootstrapCi(diffs);
    return `| ${what} | ${fmt(median(none))} | ${fmt(median(probed))} | ${median(diffs) >= 0 ? '+' : ''}${fmt(median(diffs))}${ci ? ` (${fmt(ci.low)} to ${fmt(ci.high)})` : ''} |`;
  };
  const lines = [
    `${opts.kind} N=${opts.n}, the ${opts.entry} at ${opts.frequency} Hz against none, ${opts.rounds} rounds; Node ${process.versions.node}, ${os.cpus().length} CPUs (${os.cpus()[0].model.trim()}), Linux ${os.release()}.`,
    '',
    '| segment | unprofiled ms | profiled ms | difference ms (95% CI) |',
    '|---|---|---|---|',
  ];
  for (const [from, to, what] of SEGMENTS) {
    const span = (m) => m[to] - m[from];
    lines.push(row(what, pairs.map((p) => span(p.none)), pairs.map((p) => span(p.probed))));
  }
  if (opts.perf) {
    const modules = [...new Set(pairs.flatMap((p) => [...Object.keys(p.none.cpuMs), ...Object.keys(p.probed.cpuMs)]))];
    const cpu = (m, module) => m.cpuMs[module] || 0;
    const diff = (module) => Math.abs(median(pairs.map((p) => cpu(p.probed, module) - cpu(p.none, module))));
    lines.push('', '| CPU of the code of | unprofiled ms | profiled ms | difference ms (95% CI) |', '|---|---|---|---|');
    for (const module of modules.sort((x, y) => diff(y) - diff(x)).filter((m) => diff(m) >= 0.5)) {
      lines.push(row(module, pairs.map((p) => cpu(p.none, module)), pairs.map((p) => cpu(p.probed, module))));
    }
    const total = (m) => Object.values(m.cpuMs).reduce((a, b) => a + b, 0);
    lines.push(row('all of them', pairs.map((p) => total(p.none)), pairs.map((p) => total(p.probed))));
  }
  console.log(lines.join('\n'));
  console.log(`\nCommand: \`node bench/segments.js ${process.argv.slice(2).join(' ')}\``.replace(/ `$/, '`'));
}

main();
