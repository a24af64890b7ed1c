'use strict';
// Rspack's own tracing spans on every sample (option `rspackSpans`), and CPU by crate: real builds
// of the generated react workload with the stripped 2.3.2 release binding (through the perfprobe
// CLI and in watch mode), and with the symbolized 2.2.7 debug binding.

const fs = require('fs');
const path = require('path');
const { CLI, BUILD_APP, buildWithPlugin, watchWithPlugin, tmpDir, run, profileDirs, readPprof, goPprof, debugRspackEnv, workload } = require('./helpers');

const WORKER_ROLES = new Set(['tokio', 'rayon']);
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

let app;
beforeAll(() => {
  app = workload('react', 1000);
});

describe('stripped 2.3.2 release build through the CLI with --rspack-spans', () => {
  let dir;
  let r;
  beforeAll(() => {
    const out = tmpDir('spans');
    r = run(CLI, ['--rspack-spans', '--frequency', '999', '--out', out, '--', process.execPath, BUILD_APP, app]);
    [dir] = profileDirs(out);
  });

  test('the build succeeds, with no warning', () => {
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/warning/);
    expect(dir).toBeDefined();
  });

  test('at least half of the worker threads’ CPU carries rspack_span, with 5+ names including known Rust passes', () => {
    const p = readPprof(path.join(dir, 'profile.pb.gz'));
    let workers = 0;
    let labelled = 0;
    const names = new Map();
    for (const s of p.profile.sample) {
      const labels = p.labels(s);
      if (!WORKER_ROLES.has(labels.thread_role)) continue;
      workers += p.cpu(s);
      if (labels.rspack_span) {
        labelled += p.cpu(s);
        names.set(labels.rspack_span, (names.get(labels.rspack_span) || 0) + p.cpu(s));
      }
    }
    expect(workers).toBeGreaterThan(0);
    // The innermost span, not an enclosing one: the module graph's span covers most of the make
    // phase's CPU, though `Compiler:build`'s rounded length can make it look as if it started later.
    const make = p.profile.sample.filter((s) => p.labels(s).phase === 'make');
    const inGraph = make.filter((s) => p.labels(s).rspack_span === 'Compilation:build_module_graph');
    expect(inGraph.reduce((a, s) => a + p.cpu(s), 0) / make.reduce((a, s) => a + p.cpu(s), 0)).toBeGreaterThan(0.5);
    expect(labelled / workers).toBeGreaterThanOrEqual(0.5);
    expect(names.size).toBeGreaterThanOrEqual(5);
    expect([...names.keys()]).toEqual(expect.arrayContaining(['Compilation:build_module_graph', 'Compilation:code_generation']));
    const summary = readJson(path.join(dir, 'summary.json'));
    expect(summary.rspackSpans.spans).toBeGreaterThan(50);
    expect(summary.rspackSpans.dropped).toBe(0);
    expect(summary.labels.rspack_span.map((e) => e.name)).toContain('Compilation:build_module_graph');
    // go tool pprof reads the label.
    expect(goPprof(['-top', '-tagfocus=rspack_span=Compilation:build_module_graph', path.join(dir, 'profile.pb.gz')])).toMatch(/rspack\.linux-x64-gnu\.node/);
  });

  test('the Chrome trace has the spans on an "Rspack" row, on the samples’ clock', () => {
    const trace = readJson(path.join(dir, 'trace.json'));
    const events = trace.traceEvents || trace;
    const spans = events.filter((e) => e.ph === 'X' && e.cat === 'Rspack');
    expect(spans.length).toBeGreaterThan(50);
    const row = events.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.tid === spans[0].tid);
    expect(row.args.name).toBe('Rspack');
    // Inside the phases the plugin saw: the span of the module graph overlaps the make phase.
    const make = events.find((e) => e.ph === 'X' && e.cat === 'phase' && e.name === 'make');
    const graph = spans.find((e) => e.name === 'Compilation:build_module_graph');
    if (make) expect(graph.ts < make.ts + make.dur && make.ts < graph.ts + graph.dur).toBe(true);
    expect(graph.dur).toBeGreaterThan(1000);
  });

  test('the flame graph folds the stripped binding’s frames into one per module, under Rspack span levels', () => {
    const svg = fs.readFileSync(path.join(dir, 'flamegraph.svg'), 'utf8');
    expect(svg).toContain('rspack.linux-x64-gnu.node [no symbols]');
    expect(svg).not.toMatch(/<title>rspack\.linux-x64-gnu\.node\+0x/);
    expect(svg).toMatch(/<title>\[Rspack Compilation:build_module_graph\]/);
  });

  test('in Chromium, phases, Rspack spans and the folded binding frame are drawn readable widths', async () => {
    const { chromium } = require('playwright-core');
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`file://${path.join(dir, 'flamegraph.svg')}`);
      // Drawn width in pixels of the widest frame whose tooltip starts with each prefix.
      const widths = await page.evaluate(() => {
        const out = {};
        for (const g of document.querySelectorAll('g')) {
          const title = g.querySelector('title');
          const rect = g.querySelector('rect');
          if (!title || !rect) continue;
          const name = title.textContent.replace(/ \([\d,]+ µs CPU, [\d.]+%\)$/, '');
          out[name] = Math.max(out[name] || 0, rect.getBoundingClientRect().width);
        }
        return out;
      });
      expect(widths['[phase make]']).toBeGreaterThan(100);
      expect(widths['[Rspack Compilation:build_module_graph]']).toBeGreaterThan(100);
      expect(widths['rspack.linux-x64-gnu.node [no symbols]']).toBeGreaterThan(100);
      // No frame reads as a bare address.
      expect(Object.keys(widths).filter((n) => /\.node\+0x/.test(n))).toEqual([]);
      await page.evaluate(() => window.scrollTo(0, 1e6));
      await page.screenshot({ path: path.join(dir, 'flamegraph.png'), timeout: 120000 });
    } finally {
      await browser.close();
    }
  }, 180000);

  test('report lists Rspack spans and crates; diff compares them', () => {
    const report = run(CLI, ['report', dir]);
    expect(report.status).toBe(0);
    expect(report.stdout).toMatch(/Rspack spans by CPU \(\d+ spans, [\d.]+% of sampled CPU inside one\)/);
    expect(report.stdout).toMatch(/Compilation:build_module_graph/);
    expect(report.stdout).toMatch(/Crates by self CPU[\s\S]*rspack\.linux-x64-gnu\.node/);
    const diff = run(CLI, ['diff', dir, dir]);
    expect(diff.status).toBe(0);
    expect(diff.stdout).toMatch(/Rspack spans by CPU, largest change first[\s\S]*Compilation:build_module_graph/);
    expect(diff.stdout).toMatch(/Crates by self CPU, largest change first[\s\S]*rspack\.linux-x64-gnu\.node/);
  });
});

test('with RSPACK_PROFILE set, one warning and the build goes on without spans', () => {
  const out = tmpDir('spans-profile');
  const traceFile = path.join(tmpDir('spans-trace'), 'rspack-trace.log');
  const small = workload('react', 50, path.join(tmpDir('spans-app'), 'react-50'));
  const r = run(CLI, ['--rspack-spans', '--out', out, '--', process.execPath, BUILD_APP, small], { env: { RSPACK_PROFILE: 'info', RSPACK_TRACE_OUTPUT: traceFile } });
  expect(r.status).toBe(0);
  expect(r.stderr.match(/option `rspackSpans`/g)).toHaveLength(1);
  expect(r.stderr).toMatch(/RSPACK_PROFILE=info/);
  // Rspack's own tracing got the registration.
  expect(fs.readFileSync(traceFile, 'utf8')).toMatch(/Compilation:build_module_graph/);
  const [dir] = profileDirs(out);
  const summary = readJson(path.join(dir, 'summary.json'));
  expect(summary.labels.rspack_span).toBeUndefined();
});

test('watch mode: one registration, each build’s profile holds its own spans', () => {
  const small = workload('react', 50, path.join(tmpDir('spans-watch-app'), 'react-50'));
  const out = tmpDir('spans-watch');
  const r = watchWithPlugin(small, 2, { outDir: out, name: 'watch', rspackSpans: true }, { PERFPROBE_WORKLOAD_MINIMIZE: '0' });
  expect(r.stderr).not.toMatch(/warning/);
  // The plugin's console summary names the top spans after the phases.
  expect(r.stderr + r.stdout).toMatch(/top phases: .*\n.*top Rspack spans: \S/);
  const dirs = profileDirs(out);
  expect(dirs).toHaveLength(3);
  for (const d of dirs) {
    const trace = readJson(path.join(d, 'trace.json'));
    const graphs = (trace.traceEvents || trace).filter((e) => e.cat === 'Rspack' && e.name === 'Compilation:build_module_graph');
    expect(graphs).toHaveLength(1);
  }
});

test('debug 2.2.7 binding: summary.json crates lists rspack_core and swc crates with their CPU', () => {
  const out = tmpDir('crates');
  const r = buildWithPlugin(app, { outDir: out, frequency: 999, name: 'debug' }, debugRspackEnv());
  expect(r.status).toBe(0);
  const [dir] = profileDirs(out);
  const { crates } = readJson(path.join(dir, 'summary.json'));
  const byName = new Map(crates.map((c) => [c.name, c]));
  expect(byName.get('rspack_core').totalMs).toBeGreaterThan(0);
  const swc = crates.filter((c) => c.name.startsWith('swc_'));
  expect(swc.length).toBeGreaterThanOrEqual(2);
  expect(swc.reduce((a, c) => a + c.selfMs, 0)).toBeGreaterThan(0);
  for (const c of crates) expect(c.totalMs).toBeGreaterThanOrEqual(c.selfMs);
  const report = run(CLI, ['report', dir]);
  expect(report.stdout).toMatch(/Crates by self CPU[\s\S]*rspack_core/);
});

test('PERFPROBE_RSPACK_SPANS is checked like the option, and --rspack-spans takes no value', () => {
  const env = run(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'register.js'))})`], { env: { PERFPROBE_RSPACK_SPANS: 'yes' } });
  expect(env.stderr).toMatch(/PERFPROBE_RSPACK_SPANS is "yes"; accepted: 1 or true, 0 or false/);
  const flag = run(CLI, ['--rspack-spans=1', '--', 'true']);
  expect(flag.status).toBe(2);
  expect(flag.stderr).toMatch(/flag --rspack-spans takes no value/);
});

test('a process the CLI preloads that never loads Rspack neither loads its binding nor warns', () => {
  // From the project root, where @rspack/core resolves: npm or a script runner would be such a process.
  const script = 'setTimeout(() => console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /binding/.test(f)))), 50)';
  const r = run(CLI, ['--rspack-spans', '--out', tmpDir('spans-none'), '--', process.execPath, '-e', script]);
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout.trim().split('\n')[0])).toEqual([]);
  expect(r.stderr).not.toMatch(/warning/);
});
