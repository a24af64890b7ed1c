'use strict';
// `report` and `diff` on saved inputs: two profiles of a 200-component React build at 199 Hz
// (Rspack 2.3.2, Node 20), kept in fixtures/saved-profiles. `base` as it is, `new` with a plugin whose
// processAssets tap burns 300 ms of the JS thread's CPU in the fixture addon. No build runs here:
// the renderers, the reader's checks and the native diff are exercised in milliseconds, beside the
// end-to-end suite (report.test.js) that makes such profiles from real builds.

const fs = require('fs');
const path = require('path');
const { renderReport } = require('../lib/report/report');
const { renderDiff } = require('../lib/report/diff');
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

  test('the header speaks of CPU samples at the profile's own frequency', () => {
    expect(out.startsWith('perfprobe report\n')).toBe(true);
    expect(out).toMatch(/frequency +199 Hz per thread CPU-second/);
    expect(out).toMatch(/sampled CPU +[\d.,]+ ms, fidelity 0\.\d+/);
    expect(out).toMatch(/versions +node 20\.\d+\.\d+, probe [\d.]+, rspack 2\.3\.2/);
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
