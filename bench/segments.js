#!/usr/bin/env node
'use strict';
// Where a profiled build's extra wall time goes, segment by segment: `rspack build` of the app, with
// and without a way of profiling it, in turn, each marking the time of the build's hooks
// (bench/entries/timeline.js); per segment, the median of each round's difference from the
// unprofiled build of its round, with its 95% bootstrap interval.
//   node bench/segments.js [--kind libs] [--n 3] [--rounds 10] [--entry plugin|start] [--frequency 99]
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

const ROOT = path.join(__dirname, '..');
const RSPACK_CLI = fs.realpathSync(path.join(ROOT, 'node_modules', '.bin', 'rspack'));
const SEGMENTS = [
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
  ['config', 'exit', 'the whole build, from the config'],
];

function parseArgs(argv) {
  const opts = { kind: 'libs', n: 3, rounds: 10, entry: 'plugin', frequency: 99 };
  for (let i = 0; i < argv.length; i++) {
    const [key, value] = [argv[i], argv[++i]];
    if (key === '--kind') opts.kind = value;
    else if (key === '--n') opts.n = Number(value);
    else if (key === '--rounds') opts.rounds = Number(value);
    else if (key === '--entry') opts.entry = value;
    else if (key === '--frequency') opts.frequency = Number(value);
    else throw new Error(`unknown argument ${key}; usage: node bench/segments.js [--kind libs] [--n 3] [--rounds 10] [--entry plugin|start] [--frequency 99]`);
  }
  if (!['plugin', 'start'].includes(opts.entry)) throw new Error(`--entry is "${opts.entry}"; accepted: plugin or start`);
  if (!(opts.rounds >= 3) || !(opts.frequency > 0)) throw new Error('--rounds takes 3 or more, --frequency a positive number');
  return opts;
}

/** One cold build; its marks in ms from the config's request for plugins. */
function build(app, entry, frequency) {
  fs.rmSync(path.join(app, 'dist'), { recursive: true, force: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'perfprobe-segments-'));
  const marksFile = path.join(tmp, 'marks.json');
  const env = {
    ...process.env,
    NODE_OPTIONS: '',
    PERFPROBE_WORKLOAD_PLUGINS: path.join(__dirname, 'entries', 'timeline.js'),
    BENCH_TIMELINE_OUT: marksFile,
    BENCH_TIMELINE_ENTRY: entry || '',
    BENCH_OUT: path.join(tmp, 'profiles'),
    BENCH_FREQUENCY: String(frequency),
  };
  const r = spawnSync(process.execPath, [RSPACK_CLI, 'build', '-c', path.join(app, 'rspack.config.js')], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  try {
    if (r.status !== 0) throw new Error(`the build exited ${r.status}: ${(r.stderr || '').slice(-400)}`);
    return JSON.parse(fs.readFileSync(marksFile, 'utf8'));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { generate } = require(path.join(ROOT, 'scripts', 'workloads.js'));
  const app = generate({ kind: opts.kind, n: opts.n });
  build(app, opts.entry, opts.frequency);
  const pairs = [];
  for (let round = 0; round < opts.rounds; round++) {
    // Alternating which goes first, so drift on the machine hits both alike.
    const order = round % 2 ? [opts.entry, null] : [null, opts.entry];
    const [a, b] = order.map((entry) => build(app, entry, opts.frequency));
    const [none, probed] = order[0] ? [b, a] : [a, b];
    pairs.push({ none, probed });
    process.stderr.write(`segments: round ${round + 1}/${opts.rounds}: ${(none.exit - none.config).toFixed(0)} ms unprofiled, ${(probed.exit - probed.config).toFixed(0)} ms with the ${opts.entry}\n`);
  }
  const fmt = (x) => x.toFixed(1);
  const lines = [
    `${opts.kind} N=${opts.n}, the ${opts.entry} at ${opts.frequency} Hz against none, ${opts.rounds} rounds; Node ${process.versions.node}, ${os.cpus().length} CPUs (${os.cpus()[0].model.trim()}), Linux ${os.release()}.`,
    '',
    '| segment | unprofiled ms | profiled ms | difference ms (95% CI) |',
    '|---|---|---|---|',
  ];
  for (const [from, to, what] of SEGMENTS) {
    const span = (m) => m[to] - m[from];
    const diffs = pairs.map((p) => span(p.probed) - span(p.none));
    const ci = bootstrapCi(diffs);
    lines.push(`| ${what} | ${fmt(median(pairs.map((p) => span(p.none))))} | ${fmt(median(pairs.map((p) => span(p.probed))))} | ${diffs.length ? `${median(diffs) >= 0 ? '+' : ''}${fmt(median(diffs))}` : ''}${ci ? ` (${fmt(ci.low)} to ${fmt(ci.high)})` : ''} |`);
  }
  console.log(lines.join('\n'));
  console.log(`\nCommand: \`node bench/segments.js ${process.argv.slice(2).join(' ')}\``.replace(/ `$/, '`'));
}

main();
