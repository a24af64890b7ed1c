#!/usr/bin/env node
'use strict';
// Overhead benchmark: cold production builds of a generated React app with the real `rspack build`
// (@rspack/cli), unprofiled and under each way of profiling it, in fresh node processes.
//   node bench/run.js [entries|sampler|layers|targets|timers|spans|all|scaling] [--kind react] [--n 10000] [--pairs 5] [--configs a,b]
//   node bench/run.js scaling [--pairs 2] [--ns 1000,3000,10000,20000]
//   --node 24 (a line scripts/setup.js --test installed under .work/node-<line>) or --node <path>:
//   every configuration, the baseline included, runs under that node (its bin first on PATH, so
//   the CLI's `#!/usr/bin/env node` is that node too); results.json keeps it apart per node.
// Prints a Markdown table and writes bench/results.json (every raw run + machine info). Asserts nothing.
//
// Method: one untimed warm-up build (fills the OS file cache), then --pairs rounds; each round runs
// every configuration once, in an order rotated per round, each right after an unprofiled build,
// and one more unprofiled build closes the last round. A run's ratio is to the geometric mean of the
// unprofiled builds just before and after it, which cancels most of the machine's drift
// (bench/bracketing.js has the measurements); the 95% intervals are block-bootstrapped over the
// ratios in run order.

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { buildCdylib } = require('../scripts/build');
const { probeCosts } = require('../lib/report/costs');
const { median, bootstrapCi } = require('./stats');
const { schedule, bracketedRatios } = require('./bracketing');

const ROOT = path.join(__dirname, '..');
/** The node every build runs under: this one, or --node's. */
let NODE = process.execPath;
// The bin npm links as node_modules/.bin/rspack (the package's exports hide its path from require).
const RSPACK_CLI = fs.realpathSync(path.join(ROOT, 'node_modules', '.bin', 'rspack'));
const ENTRIES = path.join(__dirname, 'entries');
const PPROF_DIR = path.join(__dirname, 'pprof-baseline');
const PPROF_ADDON = path.join(PPROF_DIR, 'pprof_baseline.node');
const RESULTS = path.join(__dirname, 'results.json');
const EXIT_MARK = path.join(__dirname, 'exit-mark.js');
const CLI = path.join(ROOT, 'bin', 'perfprobe');

// Above this share of the machine's CPU used by other processes during a run, the run is called disturbed.
const DISTURBED_SHARE = 0.05;
/** The files of a profile folder, as the addon (built before the first run) names them. */
const probeFiles = () => require('../lib/native').addonConstants().outputFiles;

/** `rspack build` of the app, as its users type it (the CLI's bin under the chosen node). */
const rspackBuild = (app) => [NODE, RSPACK_CLI, 'build', '-c', path.join(app, 'rspack.config.js')];

// Through the CLI (bin/perfprobe, which execs the build), as users run it: every layer is on
// (native sampling, V8's JS profiler, labels for the compiler, trace spans) unless `layers`
// switches some off.
const probe = (hz, layers = {}) => ({
  cmd: (app, tmp) => [CLI, '--out', tmp, '--frequency', String(hz), '--', ...rspackBuild(app)],
  env: () => ({
    ...(layers.js === false ? { PERFPROBE_JS_PROFILER: '0' } : {}),
    ...(layers.labels === false ? { PERFPROBE_LABELS: '0' } : {}),
    ...(layers.mode ? { PERFPROBE_MODE: layers.mode } : {}),
    ...(layers.rspackSpans ? { PERFPROBE_RSPACK_SPANS: '1' } : {}),
  }),
  collect: collectProbe,
});
// Inside the build's own process, preloaded as `node -r rspack-perfprobe/register` runs it: every
// layer on, without the CLI's wrapper.
// `timer` unset is the default, `auto` (CPU-clock timers at 99 Hz on a 250 Hz kernel, the sampler
// thread at 999 Hz).
const probeInProcess = (hz, timer) => ({
  cmd: rspackBuild,
  env: (tmp) => ({
    NODE_OPTIONS: `--require ${path.join(ROOT, 'register.js')}`,
    PERFPROBE_OUT: tmp,
    PERFPROBE_FREQUENCY: String(hz),
    PERFPROBE_QUIET: '1',
    ...(timer ? { PERFPROBE_TIMER: timer } : {}),
  }),
  collect: collectProbe,
  inProcess: true,
});
const pprof = (hz) => ({
  cmd: rspackBuild,
  env: (tmp) => ({ NODE_OPTIONS: `--require ${path.join(PPROF_DIR, 'register.js')}`, BENCH_PPROF_OUT: tmp, BENCH_PPROF_FREQUENCY: String(hz) }),
  collect: collectPprof,
});
// A file of the generated config's PERFPROBE_WORKLOAD_PLUGINS (bench/entries/): `new PerfprobePlugin()`
// in rspack.config.js, or `perfprobe.start()` there with `stop()` in the done hook.
const inConfig = (entry, hz) => ({
  cmd: rspackBuild,
  env: (tmp) => ({ PERFPROBE_WORKLOAD_PLUGINS: path.join(ENTRIES, `${entry}.js`), BENCH_OUT: tmp, BENCH_FREQUENCY: String(hz) }),
  collect: collectProbe,
  inProcess: true,
});
const CONFIGS = {
  baseline: { cmd: rspackBuild, env: () => ({}), collect: () => ({}) },
  'probe-99': probe(99),
  'probe-999': probe(999),
  'plugin-99': inConfig('plugin', 99),
  'plugin-999': inConfig('plugin', 999),
  'start-99': inConfig('start', 99),
  'start-999': inConfig('start', 999),
  'probe-99-in-process': probeInProcess(99),
  'probe-999-in-process': probeInProcess(999),
  'probe-99-in-process-sampler-thread': probeInProcess(99, 'sampler-thread'),
  'probe-99-in-process-perf-event': probeInProcess(99, 'perf-event'),
  'probe-99-in-process-cpu-clock': probeInProcess(99, 'cpu-clock'),
  'probe-999-in-process-sampler-thread': probeInProcess(999, 'sampler-thread'),
  'probe-999-in-process-perf-event': probeInProcess(999, 'perf-event'),
  'probe-999-in-process-cpu-clock': probeInProcess(999, 'cpu-clock'),
  'probe-99-no-labels': probe(99, { labels: false }),
  'probe-99-no-js': probe(99, { js: false }),
  'probe-99-sampling-only': probe(99, { labels: false, js: false }),
  'probe-999-sampling-only': probe(999, { labels: false, js: false }),
  // Everything but the samples: what being loaded, started and written costs.
  'probe-1': probe(1),
  'probe-99-wall': probe(99, { mode: 'both' }),
  'probe-99-rspack-spans': probe(99, { rspackSpans: true }),
  'probe-999-rspack-spans': probe(999, { rspackSpans: true }),
  'pprof-99': pprof(99),
  'pprof-999': pprof(999),
  'cpu-prof': { cmd: (app, tmp) => [NODE, '--cpu-prof', '--cpu-prof-dir', tmp, ...rspackBuild(app).slice(1)], env: () => ({}), collect: collectFiles },
  'rspack-profile': {
    cmd: rspackBuild,
    env: (tmp) => ({ RSPACK_PROFILE: 'OVERVIEW', RSPACK_TRACE_OUTPUT: path.join(tmp, 'trace.log') }),
    collect: collectFiles,
  },
};
const SETS = {
  // The three ways users profile a build (the CLI, the plugin in the config, the API), side by side.
  entries: ['baseline', 'probe-99', 'plugin-99', 'start-99', 'probe-999', 'plugin-999', 'start-999'],
  sampler: ['baseline', 'probe-99', 'probe-999', 'pprof-99', 'pprof-999'],
  // The wall targets, through the CLI and in-process, and nothing else: more rounds in the same time.
  targets: ['baseline', 'probe-99', 'probe-999', 'probe-99-in-process', 'probe-999-in-process'],
  // Each timer by name, side by side (option `timer`; at 999 Hz `cpu-clock` stops at the kernel's tick).
  timers: [
    'baseline',
    'probe-99-in-process-sampler-thread',
    'probe-99-in-process-perf-event',
    'probe-99-in-process-cpu-clock',
    'probe-999-in-process-sampler-thread',
    'probe-999-in-process-perf-event',
    'probe-999-in-process-cpu-clock',
  ],
  // What each layer costs: run with --kind js-plugins for the attribution layer's worst case.
  layers: ['baseline', 'probe-99', 'probe-99-no-labels', 'probe-99-no-js', 'probe-99-sampling-only', 'probe-99-wall'],
  // Option rspackSpans (Rspack's own tracing, phase- and plugin-level filter) beside the default.
  spans: ['baseline', 'probe-99', 'probe-99-rspack-spans', 'probe-999', 'probe-999-rspack-spans'],
  all: ['baseline', 'probe-99', 'probe-999', 'pprof-99', 'pprof-999', 'cpu-prof', 'rspack-profile'],
};

/** --node's value: a Node line installed by scripts/setup.js --test, or a node binary's path. */
function nodeBinary(value) {
  const { NODE_LINES, nodeLineDir } = require('../scripts/setup');
  const file = NODE_LINES[value] ? path.join(nodeLineDir(value), 'bin', 'node') : path.resolve(String(value));
  if (!fs.existsSync(file)) {
    throw new Error(`--node ${value}: no node at ${file}; a line (${Object.keys(NODE_LINES).join(', ')}, installed by node scripts/setup.js --test) or a node binary's path`);
  }
  return file;
}

function parseArgs(argv) {
  const opts = { set: 'all', kind: 'react', n: 10000, pairs: 5, configs: null, ns: [1000, 3000, 10000, 20000], node: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a in SETS || a === 'scaling') opts.set = a;
    else if (a === '--kind') opts.kind = argv[++i];
    else if (a === '--ns') opts.ns = argv[++i].split(',').map(Number);
    else if (a === '--n') opts.n = Number(argv[++i]);
    else if (a === '--pairs') opts.pairs = Number(argv[++i]);
    else if (a === '--configs') opts.configs = argv[++i].split(',');
    else if (a === '--node') opts.node = nodeBinary(argv[++i]);
    else throw new Error(`unknown argument ${a}; usage: node bench/run.js [entries|sampler|layers|targets|timers|spans|all|scaling] [--kind react|js-loaders|js-plugins|libs] [--n 10000 (libs: 1-3)] [--ns 1000,3000] [--pairs 5] [--configs a,b] [--node 22|24|26|<path>]`);
  }
  if (opts.set === 'scaling') return { ...opts, ids: ['baseline', 'probe-999'] };
  let ids = opts.configs || SETS[opts.set];
  for (const id of ids) if (!CONFIGS[id]) throw new Error(`unknown configuration ${id}; known: ${Object.keys(CONFIGS).join(', ')}`);
  // Every ratio is taken against baseline builds, so they always run.
  if (!ids.includes('baseline')) ids = ['baseline', ...ids];
  if (!(opts.n > 0) || !(opts.pairs > 0)) throw new Error('--n and --pairs take positive numbers');
  return { ...opts, ids };
}

/** The bench-only pprof-rs addon, built and installed like the project's own addons. */
function buildPprofAddon() {
  buildCdylib({ pkg: 'perfprobe-bench-pprof', crateLib: 'perfprobe_bench_pprof', dest: PPROF_ADDON, quiet: true });
}

function sizes(dir, names) {
  const out = {};
  for (const f of names) {
    try {
      out[f] = fs.statSync(path.join(dir, f)).size;
    } catch {}
  }
  return out;
}

function collectFiles(tmp) {
  return { sizes: sizes(tmp, fs.readdirSync(tmp)) };
}

function collectProbe(tmp, m) {
  const folders = fs.readdirSync(tmp).filter((f) => fs.existsSync(path.join(tmp, f, probeFiles().summary)));
  if (folders.length !== 1) return { error: `expected one profile folder, found ${folders.length}` };
  const dir = path.join(tmp, folders[0]);
  const s = JSON.parse(fs.readFileSync(path.join(dir, probeFiles().summary), 'utf8'));
  return {
    costs: probeCosts(s),
    fidelity: s.fidelity,
    // Sampled CPU over all CPU of the measured command (the CLI's sh, node start-up and exit included).
    fidelityVsChildCpu: s.sampledCpuMs / (m.cpuUserMs + m.cpuSysMs),
    samples: s.samples,
    postProcessingMs: s.postProcessing && s.postProcessing.totalMs,
    partial: s.partial,
    timer: s.timer,
    stats: s.stats,
    sizes: sizes(dir, Object.values(probeFiles())),
  };
}

function collectPprof(tmp, m) {
  const file = path.join(tmp, 'profile.pb');
  if (!fs.existsSync(file)) return { error: 'no profile.pb written' };
  const { Profile } = require('pprof-format');
  const p = Profile.decode(fs.readFileSync(file));
  const str = (i) => p.stringTable.strings[Number(i)];
  // pprof-rs writes [samples/count, cpu/nanoseconds]; fall back to count x period otherwise.
  const cpuIdx = p.sampleType.findIndex((t) => str(t.type) === 'cpu' && str(t.unit) === 'nanoseconds');
  let sampledNs = 0;
  let count = 0;
  for (const s of p.sample) {
    count += Number(s.value[0]);
    sampledNs += cpuIdx >= 0 ? Number(s.value[cpuIdx]) : Number(s.value[0]) * Number(p.period);
  }
  const side = JSON.parse(fs.readFileSync(path.join(tmp, 'post-processing.json'), 'utf8'));
  return {
    // Sampled CPU over the process CPU between start and the exit handler: summary.json's definition.
    fidelity: sampledNs / 1e6 / side.sessionCpuMs,
    fidelityVsChildCpu: sampledNs / 1e6 / (m.cpuUserMs + m.cpuSysMs),
    samples: count,
    postProcessingMs: side.totalMs,
    sizes: sizes(tmp, ['profile.pb']),
  };
}

function runOne(id, app, round) {
  const cfg = CONFIGS[id];
  // Cold build: no output left from the previous run (the generated config has no persistent cache).
  fs.rmSync(path.join(app, 'dist'), { recursive: true, force: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `perfprobe-bench-${id}-`));
  // Children start clean: no inherited preload or profiler switches.
  const env = { NODE_OPTIONS: null, PERFPROBE_OUT: null, PERFPROBE_FREQUENCY: null, PERFPROBE_DISABLE: null, RSPACK_PROFILE: null, ...cfg.env(tmp) };
  // First preload of every build process: marks when its exit began (bench/exit-mark.js).
  const exitMark = `${tmp}.exit-mark`;
  env.NODE_OPTIONS = [`--require ${EXIT_MARK}`, env.NODE_OPTIONS].filter(Boolean).join(' ');
  env.BENCH_EXIT_MARK = exitMark;
  const [cmd, ...args] = cfg.cmd(app, tmp);
  const measureEnv = { ...process.env, PATH: `${path.dirname(NODE)}${path.delimiter}${process.env.PATH}`, BENCH_MEASURE_ENV: JSON.stringify(env) };
  delete measureEnv.NODE_OPTIONS;
  // Load average at start: explains an outlier if something else ran on the machine meanwhile.
  let run = { id, round, load1: os.loadavg()[0] };
  const r = spawnSync(NODE, [path.join(__dirname, 'measure.js'), cmd, ...args], { env: measureEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
  try {
    const m = JSON.parse(r.stdout.trim().split('\n').pop());
    // otherCpuShare: the part of the machine's CPU capacity used by anything but this command during
    // the run (other jobs, this bench's own poller). A few % is normal; more makes the run noisy.
    const otherCpuShare = (m.machineBusyMs - m.cpuUserMs - m.cpuSysMs) / (m.wallMs * os.cpus().length);
    run = { ...run, ...m, cpuMs: m.cpuUserMs + m.cpuSysMs, otherCpuShare };
    // From the build process's exit event to the command's end: the probe's export at exit (which
    // runs beside node's teardown) shows here as the difference to the unprofiled runs.
    if (fs.existsSync(exitMark)) run.exitTailMs = m.endUnixMs - Number(fs.readFileSync(exitMark, 'utf8'));
    if (m.code !== 0) run.error = `exit ${m.code}${m.signal ? ` (${m.signal})` : ''}: ${m.stderrTail.slice(-400)}`;
    else Object.assign(run, cfg.collect(tmp, run));
  } catch (e) {
    run.error = `measure failed: ${e.message}; ${(r.stderr || '').slice(-400)}`;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(exitMark, { force: true });
  if (!run.error) delete run.stdoutTail;
  return run;
}

/**
 * Costs measured apart, before the rounds, each in short alternating runs (so the machine's drift
 * cancels): what the CLI adds to a command (a sh that sets the environment and execs it; the probe
 * in the command is switched off, its start-up is in summary.json), and what one instrumented JS<->Rust
 * crossing costs the JS thread (bench/call-cost.js).
 */
function measureFixedCosts(repeats = 11) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'perfprobe-bench-fixed-'));
  const env = { ...process.env, PATH: `${path.dirname(NODE)}${path.delimiter}${process.env.PATH}`, NODE_OPTIONS: '', PERFPROBE_DISABLE: '1' };
  const wallOf = ([command, ...args]) => {
    const started = process.hrtime.bigint();
    const r = spawnSync(command, args, { env, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status}`);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const bare = [];
  const wrapped = [];
  for (let i = 0; i < repeats; i++) {
    bare.push(wallOf([NODE, '-e', '0']));
    wrapped.push(wallOf([CLI, '--out', tmp, '--', NODE, '-e', '0']));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const call = spawnSync(NODE, [path.join(__dirname, 'call-cost.js')], { encoding: 'utf8' });
  if (call.status !== 0) throw new Error(`bench/call-cost.js failed: ${call.stderr}`);
  const { perCallNs } = JSON.parse(call.stdout.trim().split('\n').pop());
  return { wrapperMs: Math.max(0, median(wrapped) - median(bare)), nodeStartMs: median(bare), perCallNs };
}

/**
 * The wall overhead a probed run accounts for, as a ratio to the baseline's median wall: the
 * serial costs (wrapper, start-up, what the exit added) plus the CPU the probe added during the build.
 * `spread`: that CPU divided by the build's average parallelism (baseline CPU / wall), as it would
 * be if it fell on idle and busy moments alike; `serial`: all of it on the critical path (the
 * bound). Not in it: the kernel's signal delivery and what a sample costs the interrupted thread
 * beyond the handler (caches), and what V8's profiler costs the JS thread beyond its own thread
 * (its SIGPROF handler, 1000 times a second at 999 Hz), which only the measured ratio includes.
 */
function accountedOverhead(run, fixed, base, parallelism, viaCli) {
  const { costs } = run;
  // What the exit took beyond the unprofiled runs' exit, where both were timed: the export runs
  // during node's teardown, so its own duration (postMs) would overstate what it adds.
  const exitAddedMs = run.exitTailMs != null && base.exitTailMs != null ? Math.max(0, run.exitTailMs - base.exitTailMs) : costs.postMs;
  const serialMs = (viaCli ? fixed.wrapperMs : 0) + costs.startMs + exitAddedMs;
  const cpuMs = costs.duringCpuMs + (costs.crossings * fixed.perCallNs) / 1e6;
  return { serialMs, exitAddedMs, cpuMs, spread: 1 + (serialMs + cpuMs / parallelism) / base.wallMs, serial: 1 + (serialMs + cpuMs) / base.wallMs };
}

const range = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

function summarize(ids, runs, fixed) {
  const ok = runs.filter((r) => !r.error);
  const baseRuns = ok.filter((r) => r.id === 'baseline');
  const baseRss = median(baseRuns.map((r) => r.peakRssKb));
  const baseWallMs = baseRuns.length ? median(baseRuns.map((r) => r.wallMs)) : null;
  const parallelism = baseRuns.length ? median(baseRuns.map((r) => r.cpuMs / r.wallMs)) : 1;
  const baseTails = baseRuns.filter((r) => r.exitTailMs != null).map((r) => r.exitTailMs);
  const baseline = { wallMs: baseWallMs, exitTailMs: baseTails.length ? median(baseTails) : null };
  return ids.map((id) => {
    const mine = ok.filter((r) => r.id === id);
    const opt = (xs) => (xs.length ? range(xs) : null);
    const fileNames = [...new Set(mine.flatMap((r) => Object.keys(r.sizes || {})))];
    // Two ratios of one configuration can share a baseline build (one configuration besides the
    // baseline, or two): blocks of two keep that correlation in the bootstrap.
    const wallRatios = bracketedRatios(runs, id, 'wallMs');
    const cpuRatios = bracketedRatios(runs, id, 'cpuMs');
    const accounted = fixed && baseWallMs ? mine.filter((r) => r.costs).map((r) => accountedOverhead(r, fixed, baseline, parallelism, !CONFIGS[id].inProcess)) : [];
    return {
      id,
      runs: mine.length,
      failed: runs.filter((r) => r.id === id && r.error).length,
      wallMs: opt(mine.map((r) => r.wallMs)),
      cpuMs: opt(mine.map((r) => r.cpuMs)),
      exitTailMs: opt(mine.filter((r) => r.exitTailMs != null).map((r) => r.exitTailMs)),
      otherCpuShare: opt(mine.map((r) => r.otherCpuShare)),
      wallRatio: opt(wallRatios),
      wallRatioCi: id === 'baseline' ? null : bootstrapCi(wallRatios, median, { block: 2 }),
      accounted: accounted.length
        ? { spread: range(accounted.map((a) => a.spread)), serial: range(accounted.map((a) => a.serial)), serialMs: median(accounted.map((a) => a.serialMs)), exitAddedMs: median(accounted.map((a) => a.exitAddedMs)), cpuMs: median(accounted.map((a) => a.cpuMs)) }
        : null,
      cpuRatio: opt(cpuRatios),
      cpuRatioCi: id === 'baseline' ? null : bootstrapCi(cpuRatios, median, { block: 2 }),
      peakRssDeltaMb: mine.length ? (median(mine.map((r) => r.peakRssKb)) - baseRss) / 1024 : null,
      fidelity: opt(mine.filter((r) => r.fidelity != null).map((r) => r.fidelity)),
      fidelityVsChildCpu: opt(mine.filter((r) => r.fidelityVsChildCpu != null).map((r) => r.fidelityVsChildCpu)),
      postProcessingMs: opt(mine.filter((r) => r.postProcessingMs != null).map((r) => r.postProcessingMs)),
      sizes: Object.fromEntries(fileNames.map((f) => [f, median(mine.filter((r) => r.sizes && f in r.sizes).map((r) => r.sizes[f]))])),
    };
  });
}

function fmtRange(x, digits, unit = '') {
  if (!x) return '—';
  const f = (v) => v.toFixed(digits);
  return x.min === x.max ? `${f(x.median)}${unit}` : `${f(x.median)}${unit} (${f(x.min)}–${f(x.max)})`;
}

function fmtBytes(b) {
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MB`;
  if (b >= 1 << 10) return `${Math.round(b / (1 << 10))} kB`;
  return `${b} B`;
}

function table(summary) {
  const rows = [
    '| configuration | wall / baseline (95% CI of the median) | accounted: spread, serial | CPU / baseline (95% CI) | peak RSS Δ | fidelity | sampled / all CPU | post-processing | output |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of summary) {
    const out = Object.entries(s.sizes)
      // cpu-prof names its file after pid and time: show its kind, not its name.
      .map(([f, b]) => `${f.endsWith('.cpuprofile') ? '*.cpuprofile' : f} ${fmtBytes(b)}`)
      .join(', ');
    const pp = s.postProcessingMs && { median: s.postProcessingMs.median / 1000, min: s.postProcessingMs.min / 1000, max: s.postProcessingMs.max / 1000 };
    rows.push(
      `| \`${s.id}\`${s.failed ? ` (${s.failed} failed)` : ''} | ${s.id === 'baseline' ? `${(s.wallMs.median / 1000).toFixed(1)} s` : `${fmtRange(s.wallRatio, 3, 'x')}${s.wallRatioCi ? `, CI ${s.wallRatioCi.low.toFixed(3)}–${s.wallRatioCi.high.toFixed(3)}` : ''}`} | ${s.accounted ? `${s.accounted.spread.median.toFixed(3)}x, ${s.accounted.serial.median.toFixed(3)}x (exit +${s.accounted.exitAddedMs.toFixed(0)} ms)` : s.exitTailMs ? `(exit ${s.exitTailMs.median.toFixed(0)} ms)` : '—'} | ${s.id === 'baseline' ? `${(s.cpuMs.median / 1000).toFixed(1)} s` : `${fmtRange(s.cpuRatio, 3, 'x')}${s.cpuRatioCi ? `, CI ${s.cpuRatioCi.low.toFixed(3)}–${s.cpuRatioCi.high.toFixed(3)}` : ''}`} | ${s.id === 'baseline' || s.peakRssDeltaMb == null ? '—' : `${s.peakRssDeltaMb >= 0 ? '+' : ''}${s.peakRssDeltaMb.toFixed(0)} MB`} | ${fmtRange(s.fidelity, 3)} | ${fmtRange(s.fidelityVsChildCpu, 3)} | ${fmtRange(pp, 2, ' s')} | ${out || '—'} |`,
    );
  }
  return rows.join('\n');
}

/** Rounds of `ids` on one app in the order bench/bracketing.js gives, after an untimed warm-up build. */
function runRounds(ids, app, pairs, label) {
  const warm = runOne('baseline', app, -1);
  console.log(`bench: ${label} warm-up ${warm.error ? `failed: ${warm.error}` : `${(warm.wallMs / 1000).toFixed(1)} s`}`);
  const runs = [];
  for (const { id, round } of schedule(ids, pairs)) {
    const r = runOne(id, app, round);
    runs.push(r);
    const extra = r.fidelity != null ? `, fidelity ${r.fidelity.toFixed(3)}` : '';
    const other = r.otherCpuShare != null ? `, other load ${(r.otherCpuShare * 100).toFixed(0)}%` : '';
    console.log(`bench: ${label} round ${round + 1}/${pairs} ${id}: ${r.error ? `FAILED ${r.error}` : `${(r.wallMs / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s CPU${extra}${other}`}`);
  }
  return { warm, runs };
}

function machineInfo() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model,
    memGb: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    node: NODE === process.execPath ? process.version : spawnSync(NODE, ['-p', 'process.version'], { encoding: 'utf8' }).stdout.trim(),
    rspack: require(require.resolve('@rspack/core/package.json', { paths: [ROOT] })).version,
    date: new Date().toISOString(),
  };
}

/** results.json keeps the latest result of each kind of run (a set on a workload, the scaling run). */
function saveResults(key, result) {
  let all = {};
  try {
    all = JSON.parse(fs.readFileSync(RESULTS, 'utf8'));
    if (!all.results) all = {};
  } catch {}
  all.results = { ...(all.results || {}), [key]: result };
  const tmp = `${RESULTS}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  fs.renameSync(tmp, RESULTS);
}

function warnIfDisturbed(runs) {
  const disturbed = runs.filter((r) => r.otherCpuShare > DISTURBED_SHARE);
  if (disturbed.length) {
    console.log(`\nWarning: in ${disturbed.length} of ${runs.length} runs other processes used more than ${DISTURBED_SHARE * 100}% of the machine's CPU (see otherCpuShare in results.json): ratios are noisier than they look.`);
  }
}

/** Least-squares line y = a + b x, and the exponent k of y ~ x^k (log-log slope: 1 is linear). */
function fit(xs, ys) {
  const line = (X, Y) => {
    const n = X.length;
    const mx = X.reduce((a, b) => a + b, 0) / n;
    const my = Y.reduce((a, b) => a + b, 0) / n;
    const sxy = X.reduce((acc, x, i) => acc + (x - mx) * (Y[i] - my), 0);
    const sxx = X.reduce((acc, x) => acc + (x - mx) ** 2, 0);
    const b = sxx ? sxy / sxx : 0;
    return { a: my - b * mx, b };
  };
  const { a, b } = line(xs, ys);
  const positive = ys.every((y) => y > 0);
  const exponent = positive ? line(xs.map(Math.log), ys.map(Math.log)).b : null;
  return { intercept: a, slope: b, exponent };
}

function scaling(opts, command, onNode) {
  const { generate } = require(path.join(ROOT, 'scripts', 'workloads.js'));
  const rows = [];
  const all = [];
  for (const n of opts.ns) {
    const app = generate({ kind: 'react', n });
    const { runs } = runRounds(opts.ids, app, opts.pairs, `N=${n}`);
    all.push(...runs.map((r) => ({ ...r, n })));
    const [base, probe] = summarize(opts.ids, runs);
    rows.push({ n, baseWallMs: base.wallMs && base.wallMs.median, wallRatio: probe.wallRatio, postProcessingMs: probe.postProcessingMs, rssDeltaMb: probe.peakRssDeltaMb, sizes: probe.sizes, fidelity: probe.fidelity });
  }
  const ok = rows.filter((r) => r.postProcessingMs);
  const ns = ok.map((r) => r.n / 1000);
  const fits = {
    postProcessingS: fit(ns, ok.map((r) => r.postProcessingMs.median / 1000)),
    pprofMb: fit(ns, ok.map((r) => (r.sizes[probeFiles().pprof] || 0) / 2 ** 20)),
    traceMb: fit(ns, ok.map((r) => (r.sizes[probeFiles().trace] || 0) / 2 ** 20)),
    rssDeltaMb: fit(ns, ok.map((r) => r.rssDeltaMb)),
  };
  const machine = machineInfo();
  saveResults(`scaling${onNode}`, { command, machine, params: { kind: 'react', ns: opts.ns, pairs: opts.pairs, frequency: 999 }, rows, fits, runs: all });
  console.log(`\n${machine.cpus} CPUs, Node ${machine.node.slice(1)}, Rspack ${machine.rspack}; react, perfprobe at 999 Hz, ${opts.pairs} rounds per N; medians.\n`);
  console.log('| N components | build (baseline) | wall / baseline | post-processing | profile.pb.gz | trace.json | peak RSS Δ | fidelity |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.n} | ${(r.baseWallMs / 1000).toFixed(1)} s | ${fmtRange(r.wallRatio, 3, 'x')} | ${r.postProcessingMs ? (r.postProcessingMs.median / 1000).toFixed(2) : '—'} s | ${fmtBytes(r.sizes[probeFiles().pprof] || 0)} | ${fmtBytes(r.sizes[probeFiles().trace] || 0)} | ${r.rssDeltaMb == null ? '—' : `${r.rssDeltaMb.toFixed(0)} MB`} | ${fmtRange(r.fidelity, 3)} |`);
  }
  const f = (x, unit) => `${x.slope.toFixed(3)} ${unit} per 1000 components (exponent ${x.exponent == null ? '—' : x.exponent.toFixed(2)})`;
  console.log(`\nFitted (least squares, y = a + b·N; exponent of y ~ N^k, 1 = linear):`);
  console.log(`- post-processing: ${f(fits.postProcessingS, 's')}`);
  console.log(`- profile.pb.gz: ${f(fits.pprofMb, 'MB')}`);
  console.log(`- trace.json: ${f(fits.traceMb, 'MB')}`);
  console.log(`- peak RSS Δ: ${f(fits.rssDeltaMb, 'MB')}`);
  warnIfDisturbed(all);
  console.log(`\nCommand: \`${command}\`. Raw runs: ${path.relative(process.cwd(), RESULTS)} (results.scaling)`);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  // What the builds load (lib/load.js), built from lib/ as it is now.
  require(path.join(ROOT, 'scripts', 'bundle.js')).bundle();
  if (opts.node) NODE = opts.node;
  // Each node's results stand apart: Node 24's rows never replace the machine node's.
  const onNode = opts.node ? `/node-${spawnSync(NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout.trim()}` : '';
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (opts.set === 'scaling') return scaling(opts, command, onNode);
  if (opts.ids.some((id) => id.startsWith('pprof-'))) buildPprofAddon();
  const { generate } = require(path.join(ROOT, 'scripts', 'workloads.js'));
  const app = generate({ kind: opts.kind, n: opts.n });
  console.log(`bench: ${opts.kind} N=${opts.n}, ${opts.pairs} rounds of ${opts.ids.join(', ')}`);
  const fixed = opts.ids.some((id) => CONFIGS[id].collect === collectProbe) ? measureFixedCosts() : null;
  if (fixed) console.log(`bench: the CLI adds ${fixed.wrapperMs.toFixed(0)} ms to a command (node alone starts in ${fixed.nodeStartMs.toFixed(0)} ms); an instrumented JS<->Rust crossing costs ${fixed.perCallNs.toFixed(0)} ns`);
  const { warm, runs } = runRounds(opts.ids, app, opts.pairs, opts.kind);
  const summary = summarize(opts.ids, runs, fixed);
  const machine = machineInfo();
  saveResults(`${opts.set}/${opts.kind}/${opts.n}${onNode}`, { command, machine, params: { kind: opts.kind, n: opts.n, pairs: opts.pairs, configs: opts.ids }, fixed, summary, warmup: warm, runs });
  console.log(`\n${machine.cpus} CPUs (${machine.cpuModel}), Linux ${machine.kernel}, Node ${machine.node.slice(1)}, Rspack ${machine.rspack}; ${opts.kind} N=${opts.n}, ${opts.pairs} rounds; median (min–max).\n`);
  console.log(table(summary));
  if (fixed) {
    console.log(`\nAccounted: the overhead each probed run measured in itself (summary.json: start-up, the CPU of the sampler thread, the handler, the probe's other threads and V8's profiler thread where it ran, instrumented crossings x ${fixed.perCallNs.toFixed(0)} ns), what its exit took beyond the baseline's median exit (from the build process's exit event to the command's end: the export, written during node's teardown; post-processing where not timed), plus the CLI's ${fixed.wrapperMs.toFixed(0)} ms where it runs, over the baseline's median wall; "spread" divides the CPU by the build's parallelism, "serial" puts it all on the critical path. The kernel's signal delivery and cache effects on sampled threads, and V8's SIGPROF handler on the JS thread where its CPU profiler ran, are only in the measured ratio.`);
  }
  warnIfDisturbed(runs);
  console.log(`\nCommand: \`${command}\`. Raw runs: ${path.relative(process.cwd(), RESULTS)}`);
}

main();
