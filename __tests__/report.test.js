'use strict';
// `perfprobe report` and `perfprobe diff` on two real profiles of one small React build: BASE as it
// is, NEW with a plugin whose processAssets tap burns a known CPU time. diff must rank that plugin
// (and the fixture function it burns in) first, and every broken folder must give exit 2 and one
// line naming the file and the problem.

const fs = require('fs');
const path = require('path');
const { BUILD_APP, CLI, CODE_EVENTS_V8, tmpDir, run, profileDirs, workload } = require('./helpers');

const BURN_MS = 300;
const N = 300;

let baseDir;
let newDir;
let cpuProfilerDir;
let newSummary;

function profile(name, burnMs, env = {}) {
  const out = tmpDir(`report-${name}`);
  const r = run(process.execPath, [BUILD_APP, app], {
    env: {
      PERFPROBE_WORKLOAD_PLUGINS: path.join(__dirname, 'fixtures', 'report-plugins.js'),
      PERFPROBE_TEST_PLUGIN_OPTIONS: JSON.stringify({ outDir: out, frequency: 999, name }),
      REPORT_BURN_MS: String(burnMs),
      PERFPROBE_WORKLOAD_MINIMIZE: '0',
      PERFPROBE_QUIET: '1',
      ...env,
    },
  });
  if (r.status !== 0) throw new Error(`the ${name} build failed (${r.status}):\n${r.stderr}`);
  const dirs = profileDirs(out);
  expect(dirs).toHaveLength(1);
  return dirs[0];
}

let app;
beforeAll(() => {
  app = workload('react', N, path.join(tmpDir('report-app'), 'app'));
  baseDir = profile('base', 0);
  newDir = profile('new', BURN_MS);
  // The JS frames named the other way, which adds V8's profiler thread to the probe's cost.
  cpuProfilerDir = profile('cpu-profiler', 0, { PERFPROBE_JS_SOURCE: 'cpu-profiler' });
  newSummary = JSON.parse(fs.readFileSync(path.join(newDir, 'summary.json'), 'utf8'));
});

const perfprobe = (...args) => run(CLI, args);

/** The lines of the table under `title` (header row first), up to the next blank line. */
function tableAfter(stdout, title) {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(title));
  expect(start).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end).filter((l) => !l.includes('... '));
}

/** Cells of a table row: columns are separated by two or more spaces. */
const cells = (line) => line.trim().split(/\s{2,}/);

const num = (text) => Number(text.replace(/[,+%]/g, ''));

/**
 * XML well-formedness without a parser dependency: every tag closes in order under one root,
 * attributes are quoted, text holds only the five predefined entities or character references.
 */
function checkWellFormedXml(xml) {
  const body = xml
    .replace(/^<\?xml[^?]*\?>/, '')
    .replace(/<!DOCTYPE[^>[]*(\[[^\]]*\])?>/, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '');
  const stack = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/g;
  let last = 0;
  let m;
  const checkText = (text) => {
    const bad = text.match(/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)|</);
    if (bad) throw new Error(`bad character data near ${JSON.stringify(text.slice(Math.max(0, bad.index - 40), bad.index + 40))}`);
  };
  while ((m = tag.exec(body))) {
    checkText(body.slice(last, m.index));
    last = tag.lastIndex;
    const [, closing, name, attrs, selfClosing] = m;
    checkText(attrs.replace(/=\s*("[^"]*"|'[^']*')/g, (_, v) => `=${v.slice(1, -1)}`).replace(/[\w:.-]+=/g, ''));
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) {
      roots++;
    }
  }
  checkText(body.slice(last));
  if (stack.length) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
}

describe('report', () => {
  let out;
  beforeAll(() => {
    const r = perfprobe('report', newDir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    out = r.stdout;
  });

  test('prints the header, threads, label tables, functions and the probe cost', () => {
    expect(out.startsWith('perfprobe report\n')).toBe(true);
    for (const heading of ['Threads by CPU', 'Thread roles', 'Phases by CPU', 'Hooks by CPU', 'Plugins by CPU', 'Loaders by CPU', 'Binding calls', 'Top functions, self CPU', 'Top functions, cumulative CPU', "The probe's own cost"]) {
      expect(out).toContain(`\n${heading}`);
    }
    expect(out).toMatch(/sampled CPU +[\d.,]+ ms, fidelity [\d.]+/);
    expect(out).toMatch(new RegExp(`profile +new \\(${newDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    expect(out).toMatch(/post-processing +[\d.,]+ ms after the session/);
    expect(out).toMatch(/sampler thread CPU +[\d.,]+ ms/);
    expect(out).toMatch(/probe's other threads +[\d.,]+ ms \([\d.]+% of process CPU\): .*perfprobe-names [\d.,]+ ms/);
    expect(out).toMatch(/start-up +[\d.,]+ ms before the first sample/);
    expect(out).toMatch(/in all +[\d.,]+ ms of CPU during the session \([\d.]+% of process CPU\) \+ [\d.,]+ ms before and after it/);
  });

  test("says how JS frames were named and why, and counts V8's profiler thread only when it ran", () => {
    if (CODE_EVENTS_V8) {
      expect(out).toMatch(/JS stacks +taken in the signal handler \(code-events\): [\d,]+ stacks, [\d,]+ code events, no V8 profiler thread; V8 [\w.-]+ is one whose structures perfprobe knows\n/);
      expect(out).not.toMatch(/V8 profiler's thread/);
    } else {
      expect(out).toMatch(/JS stacks +V8's CPU profiler \(cpu-profiler\), a sample every [\d,]+ µs; V8 [\w.-]+ is not one whose structures perfprobe knows/);
    }
    const r = perfprobe('report', cpuProfilerDir);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/JS stacks +V8's CPU profiler \(cpu-profiler\), a sample every 1,001 µs; PERFPROBE_JS_SOURCE=cpu-profiler\n/);
    expect(r.stdout).toMatch(/V8 profiler's thread +[\d.,]+ ms/);
  });

  test('names the burner plugin with its CPU (±15%), its tap calls and wall time; columns line up', () => {
    const table = tableAfter(out, 'Plugins by CPU');
    expect(cells(table[0])).toEqual(['plugin', 'CPU ms', '%', 'samples', 'calls', 'wall ms']);
    const row = table.find((l) => l.trim().startsWith('ReportBurnerPlugin'));
    expect(row).toBeDefined();
    const [, cpuMs, , , calls, wallMs] = cells(row);
    expect(num(cpuMs)).toBeGreaterThan(BURN_MS * 0.85);
    expect(num(cpuMs)).toBeLessThan(BURN_MS * 1.15);
    expect(num(calls)).toBeGreaterThanOrEqual(1);
    expect(num(wallMs)).toBeGreaterThanOrEqual(num(cpuMs) * 0.9);
    // Right-aligned numbers: every row's CPU column ends where the header's does.
    const end = table[0].indexOf('CPU ms') + 'CPU ms'.length;
    for (const line of table.slice(1)) expect(line.slice(0, end)).toMatch(/\d$/);
    // The burner's leaf function is the top self-CPU function of the JS thread's burn.
    expect(tableAfter(out, 'Top functions, self CPU').some((l) => l.includes('fixture_js_leaf'))).toBe(true);
  });

  test('--top N bounds every table', () => {
    const r = perfprobe('report', newDir, '--top', '2');
    expect(r.status).toBe(0);
    for (const title of ['Threads by CPU', 'Phases by CPU', 'Top functions, self CPU', 'Top functions, cumulative CPU']) {
      expect(tableAfter(r.stdout, title).length - 1).toBe(2);
    }
    expect(r.stdout).toMatch(/\.\.\. \d+ more phases \(--top to see them\)/);
  });

  test('--json prints summary.json as it is', () => {
    const r = perfprobe('report', '--json', newDir);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(newSummary);
  });
});

describe('diff', () => {
  let out;
  let svgPath;
  beforeAll(() => {
    svgPath = path.join(newDir, 'diff-flamegraph.svg');
    fs.rmSync(svgPath, { force: true });
    const r = perfprobe('diff', baseDir, newDir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    out = r.stdout;
  });

  test('ranks the burner plugin first among plugins, with base, new, delta ms and %', () => {
    const table = tableAfter(out, 'Plugins by CPU, largest change first');
    expect(cells(table[0])).toEqual(['plugin', 'base ms', 'new ms', 'delta ms', 'delta %']);
    const [name, baseMs, newMs, deltaMs, deltaPct] = cells(table[1]);
    expect(name).toBe('ReportBurnerPlugin');
    expect(num(baseMs)).toBe(0);
    expect(num(newMs)).toBeGreaterThan(BURN_MS * 0.85);
    expect(num(deltaMs)).toBeCloseTo(num(newMs), 5);
    expect(deltaMs.startsWith('+')).toBe(true);
    expect(deltaPct).toBe('new');
    // processAssets is the hook that grew most, and the phase it runs in grew by about the burn.
    expect(cells(tableAfter(out, 'Hooks by CPU')[1])[0]).toBe('compilation.processAssets');
    const phase = tableAfter(out, 'Phases by CPU').slice(1).map(cells).find((c) => c[0] === 'process-assets');
    expect(num(phase[3])).toBeGreaterThan(BURN_MS * 0.6);
    // Without the burn, process-assets can take less than a sample period (no base samples on
    // Node 22 and 24 in some runs): a phase new to the profile reads `new`, as the plugin does.
    expect(phase[4]).toMatch(num(phase[1]) === 0 ? /^new$/ : /^\+\d+(\.\d)?%$/);
  });

  test('ranks the burn function first among functions by self CPU', () => {
    const [name, , newMs] = cells(tableAfter(out, 'Functions by self CPU, largest change first')[1]);
    expect(name).toContain('fixture_js_leaf');
    expect(num(newMs)).toBeGreaterThan(BURN_MS * 0.7);
  });

  test('writes a well-formed differential flame graph where the burn grew', () => {
    expect(out).toContain(`differential flame graph: ${svgPath}`);
    const svg = fs.readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    checkWellFormedXml(svg);
    expect(svg).toContain('[plugin ReportBurnerPlugin]');
    // A differential frame's tooltip ends with its change: `(N µs CPU, x%; +y%)`.
    const leaf = svg.match(/<title>[^<]*fixture_js_leaf \(([\d,]+) µs CPU, [\d.]+%; \+([\d.]+)%\)<\/title>/);
    expect(leaf).not.toBeNull();
    expect(num(leaf[1]) / 1000).toBeGreaterThan(BURN_MS * 0.7);
  });

  test('--out FILE and --top N', () => {
    const file = path.join(tmpDir('report-out'), 'mine.svg');
    const r = perfprobe('diff', '--top', '1', '--out', file, baseDir, newDir);
    expect(r.status).toBe(0);
    expect(fs.existsSync(file)).toBe(true);
    expect(tableAfter(r.stdout, 'Phases by CPU')).toHaveLength(2);
    expect(tableAfter(r.stdout, 'Functions by self CPU')).toHaveLength(2);
  });

  test('an unwritable --out prints the tables, then fails with exit 1', () => {
    const r = perfprobe('diff', '--out', path.join(tmpDir('report-out'), 'no', 'such', 'dir', 'x.svg'), baseDir, newDir);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('Plugins by CPU');
    expect(r.stderr).toMatch(/^perfprobe: cannot write the differential flame graph: .*x\.svg/);
  });
});

describe('a folder that is not a readable profile: exit 2, one line, no stack', () => {
  /** A copy of NEW's files into a fresh folder, with `edit` applied. */
  function brokenCopy(edit) {
    const dir = tmpDir('report-broken');
    for (const f of ['summary.json', 'profile.pb.gz']) fs.copyFileSync(path.join(newDir, f), path.join(dir, f));
    edit(dir);
    return dir;
  }
  const editSummary = (fn) => (dir) => {
    const file = path.join(dir, 'summary.json');
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    fn(s);
    fs.writeFileSync(file, JSON.stringify(s));
  };

  function expectOneLineError(r, pattern) {
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^perfprobe: /);
    expect(lines[0]).toMatch(pattern);
  }

  const cases = [
    ['no summary.json', (dir) => fs.rmSync(path.join(dir, 'summary.json')), /: not a perfprobe profile folder: no summary\.json$/],
    ['summary.json not JSON', (dir) => fs.writeFileSync(path.join(dir, 'summary.json'), '{"schemaVersion": 1, "name": '), /summary\.json: not valid JSON/],
    ['summary.json an array', (dir) => fs.writeFileSync(path.join(dir, 'summary.json'), '[]'), /summary\.json: not a perfprobe summary/],
    ['a field of the wrong type', editSummary((s) => (s.threads[0].cpuMs = 'fast')), /summary\.json: field "threads\[0\]\.cpuMs" should be a number, found "fast"/],
    ['a field missing', editSummary((s) => delete s.labels), /summary\.json: field "labels" should be an object, it is missing/],
    ['a label entry edited', editSummary((s) => (s.labels.phase[0] = { name: 'make' })), /field "labels\.phase\[0\]\.cpuMs" should be a number/],
    ['an unknown schemaVersion', editSummary((s) => (s.schemaVersion = 99)), /summary\.json: schemaVersion 99 is not supported by this perfprobe \(it reads 1\)/],
  ];

  test.each(cases)('report: %s', (_, edit, pattern) => {
    const dir = brokenCopy(edit);
    const r = perfprobe('report', dir);
    expectOneLineError(r, pattern);
    // The path named is the one at fault.
    expect(r.stderr).toContain(dir);
  });

  test.each(cases)('diff (as NEW): %s', (_, edit, pattern) => {
    expectOneLineError(perfprobe('diff', baseDir, brokenCopy(edit)), pattern);
  });

  test('report: a path that does not exist, a file that is not a profile', () => {
    expectOneLineError(perfprobe('report', path.join(tmpDir('report-missing'), 'nope')), /nope: no such file or folder$/);
    expectOneLineError(perfprobe('report', path.join(__dirname, 'report.test.js')), /report\.test\.js: not a folder/);
  });

  test('diff: no profile.pb.gz, a damaged one, one that is not pprof', () => {
    expectOneLineError(perfprobe('diff', brokenCopy((dir) => fs.rmSync(path.join(dir, 'profile.pb.gz'))), newDir), /: not a complete perfprobe profile folder: no profile\.pb\.gz$/);
    const cut = brokenCopy((dir) => {
      const file = path.join(dir, 'profile.pb.gz');
      fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 2000));
    });
    expectOneLineError(perfprobe('diff', baseDir, cut), new RegExp(`${cut}/profile\\.pb\\.gz: damaged gzip data`));
    const json = brokenCopy((dir) => fs.copyFileSync(path.join(dir, 'summary.json'), path.join(dir, 'profile.pb.gz')));
    expectOneLineError(perfprobe('diff', json, newDir), /profile\.pb\.gz: not a pprof profile/);
  });

  test('argument mistakes are usage errors (exit 2, with the usage)', () => {
    for (const args of [['report'], ['report', newDir, '--top', '0'], ['report', newDir, '--bogus'], ['diff', newDir], ['diff', baseDir, newDir, '--top']]) {
      const r = perfprobe(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^perfprobe: (report|diff): /);
      expect(r.stderr).toContain('perfprobe report DIR [--json] [--top N]');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
