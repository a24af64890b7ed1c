'use strict';
// Real Rspack builds (@rspack/core from npm, in real node processes) of the generated `react`
// workload, profiled by the plugin, by register.js through the CLI, and beside Rspack's own tracing.

const fs = require('fs');
const path = require('path');
const { CLI, BUILD_APP, buildWithPlugin, watchWithPlugin, tmpDir, run, profileDirs, readPprof, goPprof, rawSampleCount, debugRspackEnv, workload } = require('./helpers');

const FOLDER = /^[A-Za-z0-9._-]+-\d{8}-\d{6}-\d+(-\d+)?$/;

function expectProfileFolder(dir) {
  expect(path.basename(dir)).toMatch(FOLDER);
  for (const f of ['profile.pb.gz', 'trace.json', 'flamegraph.svg', 'summary.json']) {
    expect(fs.statSync(path.join(dir, f)).size).toBeGreaterThan(0);
  }
  expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  expect(rawSampleCount(path.join(dir, 'profile.pb.gz'))).toBeGreaterThan(0);
}

let app;
beforeAll(() => {
  app = workload('react', 1000);
});

describe('Rspack 2.3.2 (stripped release binding), PerfprobePlugin at 999 Hz', () => {
  let dir;
  let r;
  beforeAll(() => {
    const out = tmpDir('plugin');
    r = buildWithPlugin(app, { outDir: out, frequency: 999, name: 'react' });
    [dir] = profileDirs(out);
  });

  test('the build succeeds and writes one complete profile folder', () => {
    expect(r.status).toBe(0);
    expect(dir).toBeDefined();
    expectProfileFolder(dir);
  });

  test('binding frames read rspack.linux-x64-gnu.node+0x..., and its mapping carries an id', () => {
    const p = readPprof(path.join(dir, 'profile.pb.gz'));
    const bindingNames = new Set();
    for (const s of p.profile.sample) {
      for (const f of p.frames(s)) if (f.name.startsWith('rspack.linux-x64-gnu.node+0x')) bindingNames.add(f.name);
    }
    expect(bindingNames.size).toBeGreaterThan(10);
    const mapping = p.profile.mapping.find((m) => p.str(m.filename).endsWith('rspack.linux-x64-gnu.node'));
    expect(p.str(mapping.buildId)).toMatch(/^[0-9a-f]{32,40}$/);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.modules.find((m) => m.path.endsWith('rspack.linux-x64-gnu.node')).symbols).toBe('stripped');
    // The comments name the versions, Rspack's among them.
    expect(p.profile.comment.map((c) => p.str(c)).join('\n')).toMatch(/versions: .*rspack 2\.3\.2/);
  });

  test('no frame at an address no code can have; [unknown] frames on tokio/rayon threads in under 2% of their samples; cut stacks count as truncated', () => {
    const p = readPprof(path.join(dir, 'profile.pb.gz'));
    const userSpace = (hex) => BigInt(hex) >= 0x10000n && BigInt(hex) < 0x800000000000n;
    let workerSamples = 0;
    let workerUnknown = 0;
    const impossible = [];
    for (const s of p.profile.sample) {
      const role = p.labels(s).thread_role;
      const unknown = p.frames(s).map((f) => /^\[unknown\] (0x[0-9a-f]+)$/.exec(f.name)).filter(Boolean);
      impossible.push(...unknown.filter((m) => !userSpace(m[1])).map((m) => `${role}: ${m[0]}`));
      if (role === 'tokio' || role === 'rayon') {
        workerSamples++;
        // Rspack's workers run no JIT code: an address in no module is a guessed caller. One that
        // happens to point into V8's code range passes the check; garbage rarely does.
        if (unknown.length) workerUnknown++;
      }
    }
    expect(workerSamples).toBeGreaterThan(100);
    expect(impossible).toEqual([]);
    expect(workerUnknown / workerSamples).toBeLessThan(0.02);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    // The release binding has unwind info for a few functions only: walks stop in it.
    expect(summary.stats.truncatedStacks).toBeGreaterThan(0);
  });

  test("the pprof's total CPU is the process CPU of the session ±5% (the sampler thread's own CPU aside)", () => {
    const p = readPprof(path.join(dir, 'profile.pb.gz'));
    const total = p.profile.sample.reduce((a, s) => a + p.cpu(s), 0);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    const watched = summary.processCpuMs * 1e6 - summary.stats.samplerCpuNs;
    expect(total / watched).toBeGreaterThan(0.95);
    expect(total / watched).toBeLessThan(1.05);
    // node's frames are named in every executable segment of the binary (it has three).
    const jsMainFrames = p.profile.sample.filter((s) => p.labels(s).thread_role === 'js-main').flatMap((s) => p.frames(s));
    expect(jsMainFrames.filter((f) => f.name.startsWith('[unknown]')).length / jsMainFrames.length).toBeLessThan(0.2);
    expect(jsMainFrames.some((f) => /^(v8|node)::/.test(f.name))).toBe(true);
    // Every thread role of an Rspack process shows up.
    const roles = new Set(p.profile.sample.map((s) => p.labels(s).thread_role));
    expect([...roles]).toEqual(expect.arrayContaining(['js-main', 'tokio', 'rayon']));
  });

  test('go tool pprof can focus on a thread role', () => {
    const out = goPprof(['-top', '-tagfocus=thread_role=rayon', path.join(dir, 'profile.pb.gz')]);
    expect(out).toMatch(/rspack\.linux-x64-gnu\.node\+0x/);
  });
});

describe('Rspack 2.2.7 with the symbolized debug binding', () => {
  let dir;
  beforeAll(() => {
    const out = tmpDir('debug');
    const r = buildWithPlugin(app, { outDir: out, frequency: 999 }, { ...debugRspackEnv(), PERFPROBE_WORKLOAD_MINIMIZE: '0' });
    expect(r.status).toBe(0);
    [dir] = profileDirs(out);
  });

  test('>=90% of tokio/rayon samples have >=5 frames', () => {
    const p = readPprof(path.join(dir, 'profile.pb.gz'));
    let all = 0;
    let deep = 0;
    for (const s of p.profile.sample) {
      if (!['tokio', 'rayon'].includes(p.labels(s).thread_role)) continue;
      all += Number(s.value[0]);
      if (p.frames(s).length >= 5) deep += Number(s.value[0]);
    }
    expect(all).toBeGreaterThan(500);
    expect(deep / all).toBeGreaterThanOrEqual(0.9);
  });

  test('rspack_core:: functions are among the top 20 of go tool pprof -top -cum', () => {
    const out = goPprof(['-top', '-cum', '-nodecount=20', path.join(dir, 'profile.pb.gz')]);
    const rows = out.split('\n').filter((l) => /^\s+\S+\s+\S+%\s+\S+%\s+\S+\s+\S+%\s/.test(l));
    expect(rows).toHaveLength(20);
    expect(rows.some((l) => l.includes('rspack_core::'))).toBe(true);
  });
});

describe('register.js through the CLI', () => {
  test('profiles the whole process into a folder under --out', () => {
    const out = tmpDir('register');
    const r = run(CLI, ['--out', out, '--frequency', '199', '--name', 'cli', '--', process.execPath, BUILD_APP, app]);
    expect(r.status).toBe(0);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    expect(r.stderr).toContain(`[perfprobe] profile written to ${dirs[0]}`);
    expect(path.basename(dirs[0])).toMatch(/^cli-/);
    expectProfileFolder(dirs[0]);
  });
});

describe('mixed JS + native stacks (--mixed)', () => {
  let dir;
  let p;
  beforeAll(() => {
    const out = tmpDir('mixed');
    const r = run(CLI, ['--mixed', '--out', out, '--frequency', '999', '--', process.execPath, BUILD_APP, app], {
      env: { PERFPROBE_WORKLOAD_MINIMIZE: '0' },
    });
    expect(r.status).toBe(0);
    [dir] = profileDirs(out);
    p = readPprof(path.join(dir, 'profile.pb.gz'));
  });

  test("the JS thread's native samples show JS functions (perf map) between node/V8 frames", () => {
    let frames = 0;
    let unknown = 0;
    let mixed = 0;
    for (const s of p.profile.sample) {
      if (p.labels(s).thread_role !== 'js-main') continue;
      const names = p.frames(s).map((f) => f.name);
      frames += names.length;
      unknown += names.filter((n) => n.startsWith('[unknown]')).length;
      const js = names.findIndex((n) => /^JS:.*@rspack\/core/.test(n));
      // A JS frame with node's or V8's C++ both below (callees) and above (callers) it.
      if (js > 0 && names.slice(0, js).some((n) => /^(v8|node)::/.test(n)) && names.slice(js).some((n) => /^(v8|node)::/.test(n))) mixed++;
    }
    expect(mixed).toBeGreaterThan(10);
    expect(unknown / frames).toBeLessThan(0.05);
  });

  test("the summary's JS function tables and the report's JS section hold the perf map's JS functions", () => {
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    // The pprof's heaviest JS function (by samples it is innermost JS in) leads the self table ±10%.
    const selfNs = new Map();
    for (const s of p.profile.sample) {
      const js = p.frames(s).find((f) => /^JS:/.test(f.name));
      if (js) selfNs.set(js.name, (selfNs.get(js.name) || 0) + p.cpu(s));
    }
    const totalJsMs = [...selfNs.values()].reduce((a, b) => a + b, 0) / 1e6;
    expect(totalJsMs).toBeGreaterThan(50);
    expect(summary.topJsFunctionsSelf.length).toBeGreaterThan(5);
    expect(summary.topJsFunctionsCumulative.length).toBeGreaterThan(5);
    const [heaviest, ns] = [...selfNs].sort((a, b) => b[1] - a[1])[0];
    const fn = heaviest.replace(/^JS:[~^+*]?/, '').split(' ')[0] || '(anonymous)';
    const entry = summary.topJsFunctionsSelf.find((e) => e.name.split(' ')[0] === fn);
    expect(entry).toBeDefined();
    expect(entry.cpuMs).toBeGreaterThanOrEqual((ns / 1e6) * 0.9);
    const report = run(CLI, ['report', dir]);
    expect(report.status).toBe(0);
    expect(report.stdout).toContain('Top JS functions');
    expect(report.stdout).toContain(summary.topJsFunctionsSelf[0].name);
  });

  test('the perf map V8 wrote for the build is removed when the process ends', () => {
    const pid = Number(/-(\d+)$/.exec(path.basename(dir))[1]);
    expect(fs.existsSync(`/tmp/perf-${pid}.map`)).toBe(false);
  });
});

describe('the profiler never breaks the build', () => {
  test('an outDir that cannot be created: the build succeeds, a warning names the path', () => {
    const parent = path.join(tmpDir('unwritable'), 'a-file');
    fs.writeFileSync(parent, 'not a folder');
    const outDir = path.join(parent, 'profiles');
    const r = buildWithPlugin(app, { outDir, frequency: 99 }, { PERFPROBE_WORKLOAD_MINIMIZE: '0' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/"errors":false/);
    expect(r.stderr).toContain(outDir);
    expect(r.stderr).toMatch(/ENOTDIR/);
  });

  test("with RSPACK_PROFILE=OVERVIEW (Rspack's tracing and V8's profiler) both outputs are written", () => {
    const out = tmpDir('overview');
    const traceOutput = path.join(out, 'rspack-trace.log');
    const r = buildWithPlugin(app, { outDir: out, frequency: 999 }, { RSPACK_PROFILE: 'OVERVIEW', RSPACK_TRACE_OUTPUT: traceOutput, PERFPROBE_WORKLOAD_MINIMIZE: '0' });
    expect(r.status).toBe(0);
    expect(fs.statSync(traceOutput).size).toBeGreaterThan(0);
    const [dir] = profileDirs(out);
    expectProfileFolder(dir);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.fidelity).toBeGreaterThan(0.9);
  });
});

describe('watch mode', () => {
  test('one profile folder per build and rebuild', () => {
    const small = workload('react', 50, path.join(tmpDir('watch-app'), 'react-50'));
    const out = tmpDir('watch');
    const r = watchWithPlugin(small, 2, { outDir: out, name: 'watch' }, { PERFPROBE_WORKLOAD_MINIMIZE: '0' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()).builds).toBe(3);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(3);
    for (const d of dirs) expect(fs.existsSync(path.join(d, 'profile.pb.gz'))).toBe(true);
  });
});
