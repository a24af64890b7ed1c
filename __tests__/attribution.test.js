'use strict';
// Labels on real Rspack builds: phases on every thread, hook/plugin/stage on the JS thread's samples
// inside taps (sync, tapAsync, tapPromise), read back with the pprof-format decoder and go tool pprof.

const fs = require('fs');
const path = require('path');
const { BUILD_APP, CLI, buildWithPlugin, watchWithPlugin, tmpDir, run, profileDirs, readPprof, goPprof, workload } = require('./helpers');

const PLUGINS = path.join(__dirname, 'fixtures', 'attribution-plugins.js');
const BURN_MS = 300;
const BURST_MS = 150;

let dir;
let p;
let summary;
beforeAll(() => {
  const app = workload('js-plugins', 1000);
  const out = tmpDir('attribution');
  const r = buildWithPlugin(
    app,
    { outDir: out, frequency: 999 },
    {
      PERFPROBE_PLUGIN_BURN_MS: String(BURN_MS),
      AWAITING_BURST_MS: String(BURST_MS),
      PERFPROBE_BURN_MODULE: path.join(__dirname, 'fixtures', 'cpu-burn.js'),
      PERFPROBE_WORKLOAD_MINIMIZE: '0',
    },
    PLUGINS,
  );
  expect(r.status).toBe(0);
  expect(r.stderr).not.toMatch(/labels .* are off/);
  // The short report after the build, on stderr.
  expect(r.stderr + r.stdout).toMatch(/top plugins: .*WorkPlugin \d+ ms/);
  expect(r.stderr + r.stdout).toMatch(/top phases: .*make/);
  [dir] = profileDirs(out);
  p = readPprof(path.join(dir, 'profile.pb.gz'));
  summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
});

/** Sampled CPU (ms) of the samples whose labels match every given key. */
function cpuMs(match) {
  let ns = 0;
  for (const s of p.profile.sample) {
    const labels = p.labels(s);
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) ns += p.cpu(s);
  }
  return ns / 1e6;
}

test('a tapPromise burning in processAssets: hook=compilation.processAssets, plugin, stage, its CPU ±15%', () => {
  const ms = cpuMs({ hook: 'compilation.processAssets', plugin: 'WorkPlugin' });
  expect(ms).toBeGreaterThan(BURN_MS * 0.85);
  expect(ms).toBeLessThan(BURN_MS * 1.15);
  // The tap's stage (PROCESS_ASSETS_STAGE_ADDITIONAL) is a label too.
  expect(cpuMs({ hook: 'compilation.processAssets', plugin: 'WorkPlugin', stage: '-2000' })).toBe(ms);
});

test('sync taps (compiler.compilation, compiler.done) and tapAsync (compiler.make) are labelled', () => {
  for (const [hook, share] of [['compiler.compilation', 0.2], ['compiler.make', 0.4], ['compiler.done', 0.2], ['compiler.emit', 0.4]]) {
    const ms = cpuMs({ hook, plugin: 'WorkPlugin' });
    expect(ms).toBeGreaterThan(BURN_MS * share * 0.7);
    expect(ms).toBeLessThan(BURN_MS * share * 1.3);
  }
});

test('a tapPromise that awaits a timer between two bursts: only the bursts are attributed', () => {
  const ms = cpuMs({ plugin: 'AwaitingPlugin' });
  expect(ms).toBeGreaterThan(2 * BURST_MS * 0.85);
  expect(ms).toBeLessThan(2 * BURST_MS * 1.15);
  const boundary = summary.attribution.boundaries.find((b) => b.plugin === 'AwaitingPlugin');
  expect(boundary.calls).toBe(1);
  expect(boundary.wallMs).toBeGreaterThan(2 * BURST_MS + 250); // the await counts as wall time, not CPU
});

test('every tokio/rayon sample carries a phase, and the main phases are there', () => {
  let workers = 0;
  let withPhase = 0;
  const phases = new Set();
  for (const s of p.profile.sample) {
    const labels = p.labels(s);
    if (labels.phase) phases.add(labels.phase);
    if (labels.thread_role !== 'tokio' && labels.thread_role !== 'rayon') continue;
    workers += Number(s.value[0]);
    if (labels.phase) withPhase += Number(s.value[0]);
  }
  expect(withPhase / workers).toBeGreaterThanOrEqual(0.99);
  expect([...phases]).toEqual(expect.arrayContaining(['make', 'seal', 'process-assets']));
});

test('go tool pprof -tagfocus answers per hook, plugin and phase', () => {
  for (const focus of ['hook=compilation.processAssets', 'plugin=WorkPlugin', 'phase=make', 'thread_role=js-main']) {
    const out = goPprof(['-top', `-tagfocus=${focus}`, path.join(dir, 'profile.pb.gz')]);
    expect(out).toMatch(/Showing nodes accounting for [\d.]+m?s/);
  }
});

test('the Chrome trace has tap and phase spans on the JS thread and the process row', () => {
  const trace = JSON.parse(fs.readFileSync(path.join(dir, 'trace.json'), 'utf8'));
  const taps = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'tap' && e.name === 'WorkPlugin');
  expect(taps.map((e) => e.args.hook)).toEqual(expect.arrayContaining(['compilation.processAssets', 'compiler.make', 'compiler.done']));
  const phases = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'phase').map((e) => e.name);
  expect(phases).toEqual(expect.arrayContaining(['make', 'seal']));
});

test('summary: labels by CPU and boundaries by calls', () => {
  expect(summary.labels.plugin.map((e) => e.name)).toContain('WorkPlugin');
  // Phases have their wall time beside their CPU; together they cover most of the build.
  const phases = summary.attribution.boundaries.filter((b) => b.kind === 'phase');
  expect(phases.map((b) => b.name)).toEqual(expect.arrayContaining(['make', 'seal']));
  const phaseWall = phases.reduce((acc, b) => acc + b.wallMs, 0);
  expect(phaseWall).toBeGreaterThan(0.5 * summary.durationMs);
  expect(phaseWall).toBeLessThan(1.01 * summary.durationMs);
  expect(summary.labels.phase.length).toBeGreaterThan(3);
  expect(summary.attribution.skippedHooks).toEqual([]);
});

test('the probe makes Rspack hand JS no per-module data: no module list or identifier calls when no plugin asks', () => {
  // Rspack builds a hook's arguments before its taps run: a phase tap on optimizeModules or
  // beforeModuleIds would turn every module into a JS object (Modules.values, moduleGetIdentifier).
  const perModule = summary.attribution.boundaries.filter((b) => b.kind === 'js->rust' && /^(Modules\.values|moduleGetIdentifier)$/.test(b.name));
  expect(perModule).toEqual([]);
  const phases = summary.attribution.boundaries.filter((b) => b.kind === 'phase').map((b) => b.name);
  expect(phases).toEqual(expect.arrayContaining(['seal', 'optimize', 'ids-codegen-hash', 'process-assets']));
});

test('binding: compilation.getAssets() called 50 times by a plugin shows 50+ calls of JsCompilation.getAssets', () => {
  const b = summary.attribution.boundaries.find((x) => x.kind === 'js->rust' && x.name === 'JsCompilation.getAssets');
  expect(b.calls).toBeGreaterThanOrEqual(50);
  // The async build call is timed until its callback.
  const build = summary.attribution.boundaries.find((x) => x.name === 'JsCompiler.build');
  expect(build.calls).toBe(1);
  expect(build.wallMs).toBeGreaterThan(0.5 * summary.durationMs);
  expect(summary.labels.binding.map((e) => e.name)).toContain('callback:tap');
});

test('binding: the fs bridge and option callbacks Rust calls are counted and labelled', () => {
  const find = (name) => summary.attribution.boundaries.find((x) => x.kind === 'rust->js' && x.name === name);
  expect(find('callback:fs.writeFile').calls).toBeGreaterThanOrEqual(1);
  const filename = find('callback:options.output.filename');
  expect(filename.calls).toBeGreaterThanOrEqual(1);
  const calls = filename.calls;
  const ms = cpuMs({ binding: 'callback:options.output.filename' });
  const { FILENAME_BURN_MS } = require('./fixtures/awaiting-plugin');
  expect(ms).toBeGreaterThan(calls * FILENAME_BURN_MS * 0.8);
  expect(ms).toBeLessThan(calls * FILENAME_BURN_MS * 1.2);
});

describe('without the plugin in the config (perfprobe -- <command>)', () => {
  test('every compiler gets the labels: plugin, hook, phase, binding', () => {
    const app = workload('js-plugins', 1000);
    const out = tmpDir('attribution-cli');
    const r = run(CLI, ['--out', out, '--frequency', '999', '--', process.execPath, BUILD_APP, app], {
      env: {
        PERFPROBE_PLUGIN_BURN_MS: String(BURN_MS),
        PERFPROBE_BURN_MODULE: path.join(__dirname, 'fixtures', 'cpu-burn.js'),
        PERFPROBE_WORKLOAD_MINIMIZE: '0',
      },
    });
    expect(r.status).toBe(0);
    const [d] = profileDirs(out);
    const q = readPprof(path.join(d, 'profile.pb.gz'));
    let processAssets = 0;
    let workerPhase = 0;
    let worker = 0;
    let binding = 0;
    for (const s of q.profile.sample) {
      const l = q.labels(s);
      if (l.hook === 'compilation.processAssets' && l.plugin === 'WorkPlugin') processAssets += q.cpu(s);
      if (l.binding) binding += q.cpu(s);
      if (l.thread_role === 'tokio' || l.thread_role === 'rayon') {
        worker += q.cpu(s);
        if (l.phase) workerPhase += q.cpu(s);
      }
    }
    expect(processAssets / 1e6).toBeGreaterThan(BURN_MS * 0.85);
    expect(processAssets / 1e6).toBeLessThan(BURN_MS * 1.15);
    expect(binding).toBeGreaterThan(0);
    expect(workerPhase / worker).toBeGreaterThan(0.9);
  });
});

describe('loaders', () => {
  // Dominant over the loader's own tokenizing (~0.15 ms a module), so the known part is what is checked.
  const LOADER_BURN_MS = 3;
  const N = 1000;
  let lp;
  let ls;
  beforeAll(() => {
    const app = workload('js-loaders', N);
    const out = tmpDir('loaders');
    const r = buildWithPlugin(app, { outDir: out, frequency: 999 }, {
      PERFPROBE_LOADER_BURN_MS: String(LOADER_BURN_MS),
      PERFPROBE_BURN_MODULE: path.join(__dirname, 'fixtures', 'cpu-burn.js'),
      PERFPROBE_WORKLOAD_MINIMIZE: '0',
    });
    expect(r.status).toBe(0);
    const [d] = profileDirs(out);
    lp = readPprof(path.join(d, 'profile.pb.gz'));
    ls = JSON.parse(fs.readFileSync(path.join(d, 'summary.json'), 'utf8'));
  });

  test('a JS loader burning a known CPU time per module: loader=<it> totals it ±15%', () => {
    let ns = 0;
    for (const s of lp.profile.sample) if (String(lp.labels(s).loader || '').endsWith('loaders/work-loader.js')) ns += lp.cpu(s);
    const expected = N * LOADER_BURN_MS;
    expect(ns / 1e6).toBeGreaterThan(expected * 0.85);
    expect(ns / 1e6).toBeLessThan(expected * 1.15);
  });

  test("labels and JS stacks join on one timeline: the loader's samples show its JS function", () => {
    let labelled = 0;
    let named = 0;
    for (const s of lp.profile.sample) {
      if (!String(lp.labels(s).loader || '').endsWith('loaders/work-loader.js')) continue;
      labelled += lp.cpu(s);
      if (lp.frames(s).some((f) => f.name === 'workLoader' && f.file.endsWith('work-loader.js'))) named += lp.cpu(s);
    }
    expect(named / labelled).toBeGreaterThan(0.9);
  });

  test('one loader call per module is counted, with its wall time', () => {
    const b = ls.attribution.boundaries.find((x) => x.kind === 'rust->js' && x.name.endsWith('work-loader.js (normal)'));
    expect(b.calls).toBe(N);
    expect(b.wallMs).toBeGreaterThan(N * LOADER_BURN_MS * 0.9);
  });
});

describe('MultiCompiler and watch mode', () => {
  test('two named configs built in parallel: one profile, compiler labels only from these two', () => {
    const app = workload('react', 300, path.join(tmpDir('multi-app'), 'react-300'));
    const out = tmpDir('multi');
    const r = run(process.execPath, [path.join(__dirname, 'fixtures', 'multi-build.js'), app, out], { env: { PERFPROBE_WORKLOAD_MINIMIZE: '0' } });
    expect(r.status).toBe(0);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    const mp = readPprof(path.join(dirs[0], 'profile.pb.gz'));
    // While both build, worker samples cannot tell whose work they are: they name no compiler.
    const compilers = new Set(mp.profile.sample.map((s) => mp.labels(s).compiler).filter(Boolean));
    for (const c of compilers) expect(['legacy', 'web']).toContain(c);
    expect(mp.profile.sample.some((s) => /\+/.test(mp.labels(s).phase || '') || mp.labels(s).compiler)).toBe(true);
  });

  test('PERFPROBE_QUIET=1 silences the report', () => {
    const small = workload('react', 50, path.join(tmpDir('quiet-app'), 'react-50'));
    const r = buildWithPlugin(small, { outDir: tmpDir('quiet') }, { PERFPROBE_WORKLOAD_MINIMIZE: '0', PERFPROBE_QUIET: '1' });
    expect(r.status).toBe(0);
    expect(r.stderr + r.stdout).not.toMatch(/\[perfprobe\]/);
  });

  test('3 builds in watch mode: 3 profiles, each with only its own build\'s spans', () => {
    const small = workload('js-plugins', 50, path.join(tmpDir('watch-labels-app'), 'js-plugins-50'));
    const out = tmpDir('watch-labels');
    const r = watchWithPlugin(small, 2, { outDir: out, frequency: 999 }, { PERFPROBE_WORKLOAD_MINIMIZE: '0', PERFPROBE_PLUGIN_BURN_MS: '50' });
    expect(r.status).toBe(0);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(3);
    for (const d of dirs) {
      const s = JSON.parse(fs.readFileSync(path.join(d, 'summary.json'), 'utf8'));
      const processAssets = s.attribution.boundaries.find((b) => b.hook === 'compilation.processAssets' && b.plugin === 'WorkPlugin');
      expect(processAssets.calls).toBe(1);
      expect(s.labels.plugin.map((e) => e.name)).toContain('WorkPlugin');
    }
  });

  test("with RSPACK_PROFILE=OVERVIEW (Rspack's TraceHookPlugin-style tracing) labels still work", () => {
    const app = workload('js-plugins', 1000);
    const out = tmpDir('attr-overview');
    const r = buildWithPlugin(app, { outDir: out, frequency: 999 }, {
      PERFPROBE_PLUGIN_BURN_MS: '100',
      PERFPROBE_BURN_MODULE: path.join(__dirname, 'fixtures', 'cpu-burn.js'),
      PERFPROBE_WORKLOAD_MINIMIZE: '0',
      RSPACK_PROFILE: 'OVERVIEW',
      RSPACK_TRACE_OUTPUT: path.join(out, 'rspack-trace.log'),
    });
    expect(r.status).toBe(0);
    expect(fs.statSync(path.join(out, 'rspack-trace.log')).size).toBeGreaterThan(0);
    const [d] = profileDirs(out).filter((x) => !x.endsWith('.log'));
    const op = readPprof(path.join(d, 'profile.pb.gz'));
    let ns = 0;
    for (const s of op.profile.sample) {
      const l = op.labels(s);
      if (l.plugin === 'WorkPlugin' && l.hook === 'compilation.processAssets') ns += op.cpu(s);
    }
    expect(ns / 1e6).toBeGreaterThan(85);
    expect(ns / 1e6).toBeLessThan(115);
  });
});
