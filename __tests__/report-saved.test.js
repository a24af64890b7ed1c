'use strict';
// `report` and `diff` on saved inputs: two profiles of a 200-component React build at 199 Hz
// (Rspack 2.3.2, Node 20), kept in fixtures/saved-profiles. `base` as it is, `new` with a plugin whose
// processAssets tap burns 300 ms of the JS thread's CPU in the fixture addon. No build runs here:
// the renderers, the reader's checks and the native diff are exercised in milliseconds, beside the
// end-to-end suite (report.test.js) that makes such profiles from real builds.

const fs = require('fs');
const path = require('path');
const { renderReport, boundaryTotals } = require('../lib/report/report');
const { renderDiff } = require('../lib/report/diff');
const { probeCosts } = require('../lib/report/costs');
const { readProfile, ProfileError } = require('../lib/report/read');
const { loadNative } = require('../lib/native');
const { tmpDir } = require('./helpers');

const SAVED = path.join(__dirname, 'fixtures', 'saved-profiles');
const BASE = path.join(SAVED, 'base');
const NEW = path.join(SAVED, 'new');

/** The rows of the table under `title` (header row first), up to the next blank line. */
function tableAfter(text, title) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(title));
  if (start < 0) throw new Error(`no table "${title}" in:\n${text}`);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end).filter((l) => !l.includes('... '));
}
const cells = (line) => line.trim().split(/\s{2,}/);
const num = (text) => Number(text.replace(/[,+%]/g, ''));

describe('report on a saved profile', () => {
  const summary = readProfile(NEW).summary;
  const out = renderReport(summary, { top: 5, dir: NEW });

  test("the header speaks of CPU samples at the profile's own frequency", () => {
    expect(out.startsWith('perfprobe report\n')).toBe(true);
    expect(out).toMatch(/frequency +199 Hz per thread CPU-second/);
    expect(out).toMatch(/sampled CPU +[\d.,]+ ms, fidelity 0\.\d+/);
    expect(out).toMatch(/versions +node 20\.\d+\.\d+, probe [\d.]+, rspack 2\.3\.2/);
  });

  test('samples that found their thread waiting are told in the header when there were any', () => {
    // The saved profile predates the count: the reader takes it as absent.
    expect(out).not.toMatch(/found their thread waiting/);
    const waited = { ...summary, stats: { ...summary.stats, movedFromWaits: 1234 } };
    expect(renderReport(waited, { top: 5, dir: NEW })).toMatch(/^ *samples .*, 1,234 more found their thread waiting and gave their CPU to its last sample where it ran$/m);
  });

  test('the burner plugin and its hook lead their tables with the CPU the summary holds', () => {
    const saved = summary.labels.plugin.find((e) => e.name === 'ReportBurnerPlugin');
    const [name, cpuMs] = cells(tableAfter(out, 'Plugins by CPU')[1]);
    expect(name).toBe('ReportBurnerPlugin');
    expect(num(cpuMs)).toBeCloseTo(saved.cpuMs, 1);
    expect(cells(tableAfter(out, 'Hooks by CPU')[1])[0]).toBe('compilation.processAssets');
    expect(cells(tableAfter(out, 'Phases by CPU')[1])[0]).toBe('process-assets');
  });

  test('top functions name the burn leaf, and JS functions come from V8', () => {
    expect(cells(tableAfter(out, 'Top functions, self CPU')[1])[0]).toBe('perfprobe_fixture::fixture_js_leaf');
    expect(cells(tableAfter(out, 'Top JS functions (V8), self CPU')[1])[0]).toMatch(/cpu-burn\.js:\d+$/);
  });

  test('every table is bounded by --top', () => {
    for (const title of ['Threads by CPU', 'Phases by CPU', 'Top functions, self CPU']) {
      expect(tableAfter(out, title).length - 1).toBeLessThanOrEqual(5);
    }
    expect(out).toMatch(/\.\.\. \d+ more threads \(--top to see them\)/);
  });

  test("the probe's own cost: the JS stacks row says which source ran", () => {
    const source = summary.jsProfiler && summary.jsProfiler.source;
    expect(['code-events', 'cpu-profiler']).toContain(source);
    expect(out).toContain(`(${source})`);
  });

  test("the probe's own cost counts its other threads (the namer, the symbol tables read ahead)", () => {
    // The saved profile predates those threads: the same profile with the two a session runs now.
    const threads = [
      ...summary.threads,
      { name: 'perfprobe-names', role: 'perfprobe', cpuMs: 7.5, sampledCpuMs: 7, samples: 1, tid: 1, exited: false },
      { name: 'perfprobe-prep', role: 'perfprobe', cpuMs: 30.25, sampledCpuMs: 30, samples: 3, tid: 2, exited: true },
    ];
    const withThreads = { ...summary, threads };
    const costs = probeCosts(withThreads);
    expect(costs.probeThreadsCpuMs).toBeCloseTo(37.75, 9);
    expect(costs.duringCpuMs).toBeCloseTo(probeCosts(summary).duringCpuMs + 37.75, 9);
    const text = renderReport(withThreads, { top: 5 });
    expect(text).toMatch(/probe's other threads +37\.8 ms \([\d.]+% of process CPU\): perfprobe-names 7\.5 ms, perfprobe-prep 30\.3 ms\n/);
    expect(out).not.toContain("probe's other threads");
  });
});

describe("interop on a saved profile: the binding table's calls, wall time and CPU", () => {
  // By hand from new/summary.json. labels.binding: `callback:tap` 296.48 ms CPU in 59 of the 100
  // samples, `callback:fs.stat` 5.03 ms in 1. attribution.boundaries: eight taps (ReportBurnerPlugin's
  // processAssets 301.440474 ms, seven others 0.113360 + 0.070837 + 0.063117 + 0.056455 + 0.046333 +
  // 0.042401 + 0.036697) make 8 calls and 301.869674 ms; `callback:fs.stat` is one Rust->JS
  // boundary of 12 calls and 8.698800 ms.
  const summary = readProfile(NEW).summary;

  test('the table', () => {
    const rows = tableAfter(renderReport(summary, { top: 10 }), 'Binding calls (JS->Rust) and Rust->JS callbacks by CPU').map(cells);
    expect(rows).toEqual([
      ['binding', 'CPU ms', '%', 'samples', 'calls', 'wall ms'],
      ['callback:tap', '296.5', '59.0%', '59', '8', '301.9'],
      ['callback:fs.stat', '5.0', '1.0%', '1', '12', '8.7'],
    ]);
  });

  test("every binding value's calls and wall time, as the export's interop counted them", () => {
    const binding = boundaryTotals(summary.attribution).binding;
    const expected = {
      'callback:tap': [8, 301.869674],
      'callback:fs.writeFile': [12, 15.429891],
      'callback:fs.stat': [12, 8.6988],
      'callback:fs.mkdirp': [12, 5.220327],
      'callback:fs.removeDirAll': [1, 1.737899],
      'JsCompiler.build': [1, 430.109274],
      'Modules.values': [2, 2.122471],
      moduleGetIdentifier: [429, 0.594574],
      'JsCompiler.setNonSkippableRegisters': [1, 0.110183],
      'JsCompilation.getStats': [1, 0.040542],
    };
    expect([...binding.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [calls, wallMs]] of Object.entries(expected)) {
      expect([name, binding.get(name).calls]).toEqual([name, calls]);
      expect(binding.get(name).wallMs).toBeCloseTo(wallMs, 6);
    }
    // The exporter's own sums of the same boundaries (summary.json `interop`, rounded to 0.01 ms):
    // taps 8 calls, 301.87 ms; the fs bridge 12 + 12 + 12 + 1 calls, 31.09 ms; synchronous
    // JS->Rust calls 2 + 429 + 1 + 1 blocking 2.87 ms, the one asynchronous build 430.11 ms.
    const fsBridge = ['writeFile', 'stat', 'mkdirp', 'removeDirAll'].map((m) => binding.get(`callback:fs.${m}`));
    expect(summary.interop.rustToJs.find((k) => k.kind === 'tap')).toEqual(expect.objectContaining({ calls: 8, runMs: 301.87 }));
    expect(summary.interop.rustToJs.find((k) => k.kind === 'fs')).toEqual(expect.objectContaining({ calls: fsBridge.reduce((a, t) => a + t.calls, 0), runMs: 31.09 }));
    expect(fsBridge.reduce((a, t) => a + t.wallMs, 0)).toBeCloseTo(31.09, 2);
    expect(summary.interop.jsToRust).toEqual({ syncCalls: 433, blockedMs: 2.87, asyncCalls: 1, asyncMs: 430.11 });
  });
});

describe('diff of two saved profiles', () => {
  const { binding, error } = loadNative();
  if (!binding) throw new Error(`the native addon is needed: ${error && error.message}`);
  const base = readProfile(BASE, { pprof: true });
  const next = readProfile(NEW, { pprof: true });
  const svgPath = path.join(tmpDir('saved-diff'), 'diff.svg');
  const native = binding.diffProfiles(base.pprofPath, next.pprofPath, svgPath, 'saved');
  const out = renderDiff(base, next, native, { top: 5, svgPath });

  test('ranks the burner plugin, its hook and its leaf first, as new CPU', () => {
    const [name, baseMs, newMs, deltaMs, deltaPct] = cells(tableAfter(out, 'Plugins by CPU, largest change first')[1]);
    expect(name).toBe('ReportBurnerPlugin');
    expect(num(baseMs)).toBe(0);
    expect(num(newMs)).toBeGreaterThan(200);
    expect(num(deltaMs)).toBeCloseTo(num(newMs), 5);
    expect(deltaPct).toBe('new');
    expect(cells(tableAfter(out, 'Hooks by CPU')[1])[0]).toBe('compilation.processAssets');
    expect(cells(tableAfter(out, 'Functions by self CPU, largest change first')[1])[0]).toContain('fixture_js_leaf');
  });

  test('a profile against itself: no row moved, so each table lists the largest first', () => {
    const self = renderDiff(base, base, binding.diffProfiles(base.pprofPath, base.pprofPath, path.join(tmpDir('saved-self-diff'), 'diff.svg'), 'self'), { top: 3 });
    for (const title of ['Crates by self CPU, largest change first', 'Functions by self CPU, largest change first', 'Phases by CPU, largest change first']) {
      const rows = tableAfter(self, title).slice(1).map(cells);
      expect(rows.length).toBeGreaterThan(1);
      for (const row of rows) expect(num(row[3])).toBe(0);
      const sizes = rows.map((row) => num(row[1]));
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    }
  });

  test('writes the differential flame graph with the burn in red', () => {
    expect(native.svgError).toBeFalsy();
    const svg = fs.readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toMatch(/<title>[^<]*fixture_js_leaf \([\d,]+ µs CPU, [\d.]+%; \+[\d.]+%\)<\/title>/);
  });

  test('diffing a profile with itself changes nothing', () => {
    const same = binding.diffProfiles(next.pprofPath, next.pprofPath, path.join(tmpDir('saved-diff'), 'same.svg'), 'same');
    const text = renderDiff(next, next, same, { top: 5 });
    for (const row of tableAfter(text, 'Plugins by CPU, largest change first').slice(1)) {
      expect(num(cells(row)[3])).toBe(0);
    }
  });
});

describe('the reader refuses damaged saved inputs with a ProfileError naming the file', () => {
  function copyWith(edit) {
    const dir = tmpDir('saved-broken');
    for (const f of ['summary.json', 'profile.pb.gz']) fs.copyFileSync(path.join(NEW, f), path.join(dir, f));
    edit(dir);
    return dir;
  }
  const cases = [
    ['summary.json cut short', (dir) => fs.writeFileSync(path.join(dir, 'summary.json'), fs.readFileSync(path.join(NEW, 'summary.json')).subarray(0, 500)), /summary\.json: not valid JSON/],
    ['a number turned into text', (dir) => {
      const s = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
      s.threads[0].cpuMs = 'fast';
      fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(s));
    }, /field "threads\[0\]\.cpuMs" should be a number/],
    ['no profile.pb.gz (diff needs it)', (dir) => fs.rmSync(path.join(dir, 'profile.pb.gz')), /no profile\.pb\.gz$/],
  ];
  test.each(cases)('%s', (_, edit, pattern) => {
    const dir = copyWith(edit);
    let caught;
    try {
      readProfile(dir, { pprof: true });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ProfileError);
    expect(caught.message).toMatch(pattern);
    expect(caught.message).toContain(dir);
  });
});
