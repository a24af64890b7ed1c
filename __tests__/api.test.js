'use strict';
// The public API as a user touches it: option errors, start/stop, the files, register.js exits.

const fs = require('fs');
const path = require('path');
const perfprobe = require('..');
const { ROOT, tmpDir, run, runNode, profileDirs, readPprof, rawSampleCount } = require('./helpers');

describe('options are validated with errors that name the option, the value and what is accepted', () => {
  const cases = [
    [{ bogus: 1 }, /unknown option `bogus`; accepted options are outDir, frequency, name/],
    [{ frequency: 0 }, /option `frequency` is 0; accepted: an integer from 1 to 10000/],
    [{ frequency: 10001 }, /option `frequency` is 10001/],
    [{ frequency: 2.5 }, /option `frequency` is 2.5/],
    [{ frequency: '99' }, /option `frequency` is "99"/],
    [{ name: 'a b' }, /option `name` is "a b"; accepted: 1-64 characters/],
    [{ outDir: '' }, /option `outDir` is ""; accepted: a non-empty path/],
    [{ outDir: 42 }, /option `outDir` is 42/],
    [{ signal: 'SIGRTMIN' }, /option `signal` is "SIGRTMIN"; accepted: a real-time signal number/],
    [{ maxSamples: 0 }, /option `maxSamples` is 0; accepted: a positive integer/],
    [{ quiet: 'yes' }, /option `quiet` is "yes"; accepted: true or false/],
    [{ jsProfiler: 1 }, /option `jsProfiler` is 1; accepted: true or false/],
    [{ minSpanUs: -1 }, /option `minSpanUs` is -1; accepted: an integer from 0 to 1000000/],
    [{ rspackSpans: 'yes' }, /option `rspackSpans` is "yes"; accepted: true or false/],
    [{ mode: 'off-cpu' }, /option `mode` is "off-cpu"; accepted: 'cpu', 'wall' or 'both'/],
    [{ wallFrequency: 0 }, /option `wallFrequency` is 0; accepted: an integer from 1 to 1000/],
    [{ timer: 'kernel' }, /option `timer` is "kernel"; accepted: 'auto', 'sampler-thread', 'perf-event' or 'cpu-clock'/],
    [{ flamegraphPerRole: 'yes' }, /option `flamegraphPerRole` is "yes"; accepted: true or false/],
    ['fast', /options must be an object, got "fast"/],
  ];
  test.each(cases)('start(%p)', (options, message) => {
    expect(() => perfprobe.start(options)).toThrow(TypeError);
    expect(() => perfprobe.start(options)).toThrow(message);
  });
  test.each(cases)('new PerfprobePlugin(%p)', (options, message) => {
    expect(() => new perfprobe.PerfprobePlugin(options)).toThrow(message);
  });
  test('PERFPROBE_TIMER is checked like the option', () => {
    const r = runNode(`require(${JSON.stringify(path.join(ROOT, 'register.js'))})`, { env: { PERFPROBE_TIMER: 'kernel' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/PERFPROBE_TIMER is "kernel"; accepted: 'auto', 'sampler-thread', 'perf-event' or 'cpu-clock'/);
  });
  test('PERFPROBE_FREQUENCY is checked like the option', () => {
    const r = runNode(`require(${JSON.stringify(path.join(ROOT, 'register.js'))})`, { env: { PERFPROBE_FREQUENCY: 'fast' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/PERFPROBE_FREQUENCY is "fast"; accepted: an integer from 1 to 10000/);
  });
});

describe('start() and stop()', () => {
  let out;
  let result;
  beforeAll(() => {
    out = tmpDir('api');
    const r = runNode(
      `const p = require(${JSON.stringify(ROOT)});
       const f = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'burner'))});
       const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499, name: 'api', flamegraphPerRole: true });
       // A second caller gets a handle of its own on the same sampler; stopping it first writes
       // nothing that the first caller then misses: see the split in entry.test.js.
       const again = p.start({ frequency: 99 });
       if (again === s || !again.running || p.current() === undefined) throw new Error('a second start() must get its own running handle');
       f.burnJs(300);
       f.burnRayon(300, 2).then(() => s.stop()).then(async (r) => {
         const second = await again.stop();
         if (!second.dir || second.dir === r.dir || again.running) throw new Error('the second handle must get its own folder');
         console.log(JSON.stringify(r));
       });`,
    );
    expect(r.status).toBe(0);
    result = r.json;
  });

  test('flamegraphPerRole: one SVG per thread role that has samples', () => {
    const names = result.files.roleFlamegraphs.map((f) => path.basename(f)).sort();
    expect(names).toEqual(expect.arrayContaining(['flamegraph-js-main.svg', 'flamegraph-rayon.svg']));
    const rayon = fs.readFileSync(result.files.roleFlamegraphs.find((f) => f.endsWith('flamegraph-rayon.svg')), 'utf8');
    expect(rayon).toMatch(/fixture_rayon_leaf/);
    expect(rayon).not.toMatch(/fixture_js_leaf/);
  });

  test('trace.json has memory counters: RSS from the sampler thread, the JS heap from JS', () => {
    const trace = JSON.parse(fs.readFileSync(result.files.trace, 'utf8'));
    const counter = (name) => trace.traceEvents.filter((e) => e.ph === 'C' && e.name === name);
    const rss = counter('memory MB');
    // One every 100 ms of the session and one at its end.
    expect(rss.length).toBeGreaterThanOrEqual(2);
    for (const e of rss) expect(e.args.rss).toBeGreaterThan(10);
    const heap = counter('JS heap MB');
    // At the start and the end at least (no span edges here to take more).
    expect(heap.length).toBeGreaterThanOrEqual(2);
    for (const e of heap) {
      expect(e.args.used).toBeGreaterThan(1);
      expect(e.args.total).toBeGreaterThanOrEqual(e.args.used);
    }
  });

  test('the result names the folder and its files', () => {
    expect(result.dir.startsWith(out)).toBe(true);
    expect(path.basename(result.dir)).toMatch(/^api-\d{8}-\d{6}-\d+$/);
    expect(Object.keys(result.files).sort()).toEqual(['flamegraph', 'pprof', 'roleFlamegraphs', 'summary', 'trace']);
    for (const file of Object.values(result.files).flat()) expect(fs.existsSync(file)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  test('profile.pb.gz: samples/count and cpu/nanoseconds, thread labels, versions in comments', () => {
    const p = readPprof(result.files.pprof);
    expect(p.sampleTypes).toEqual(['samples/count', 'cpu/nanoseconds']);
    expect(p.str(p.profile.defaultSampleType)).toBe('cpu');
    const labels = p.labels(p.profile.sample[0]);
    expect(Object.keys(labels)).toEqual(expect.arrayContaining(['thread', 'thread_id', 'thread_role']));
    const comments = p.profile.comment.map((c) => p.str(c)).join('\n');
    expect(comments).toMatch(/rspack-perfprobe \d+\.\d+\.\d+/);
    expect(comments).toMatch(/frequency 499 Hz/);
    expect(comments).toContain(`node ${process.versions.node}`);
    expect(comments).toMatch(/module .*perfprobe_fixture\.node symbols=Dwarf build_id=[0-9a-f]+/);
    expect(Number(p.profile.durationNanos)).toBeGreaterThan(0);
    expect(rawSampleCount(result.files.pprof)).toBeGreaterThan(0);
  });

  test('summary.json matches the documented schema', () => {
    const s = JSON.parse(fs.readFileSync(result.files.summary, 'utf8'));
    expect(s).toEqual(result.summary);
    expect(s.schemaVersion).toBe(1);
    expect(s.name).toBe('api');
    expect(s.partial).toBe(false);
    expect(s.versions).toEqual(expect.objectContaining({ node: process.versions.node, probe: require('../package.json').version }));
    expect(s.fidelity).toBeGreaterThan(0.9);
    expect(s.threads.find((t) => t.role === 'js-main').samples).toBeGreaterThan(100);
    expect(s.topFunctionsSelf.slice(0, 3).map((f) => f.name)).toEqual(expect.arrayContaining([expect.stringMatching(/fixture_(js|rayon)_leaf/)]));
    expect(s.postProcessing.totalMs).toBeGreaterThan(0);
    // The probe's serial costs, measured on the JS thread: the stop's JS part is inside the total.
    expect(s.postProcessing.jsMs).toBeGreaterThan(0);
    // Stopped by its owner, not at exit: the program waited for none of it.
    expect(s.postProcessing.duringTeardown).toBe(false);
    expect(s.postProcessing.totalMs).toBeGreaterThanOrEqual(s.postProcessing.jsMs + s.postProcessing.symbolizeMs);
    expect(s.startMs).toBeGreaterThan(0);
    expect(s.startMs).toBeLessThan(s.durationMs);
  });

  test('trace.json: thread names with roles, and a V8-style profile per sampled thread', () => {
    const trace = JSON.parse(fs.readFileSync(result.files.trace, 'utf8'));
    const names = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args.name);
    expect(names).toEqual(expect.arrayContaining(['node (js-main)']));
    expect(names.some((n) => n.endsWith('(rayon)'))).toBe(true);
    const chunks = trace.traceEvents.filter((e) => e.name === 'ProfileChunk');
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const c of chunks) {
      const { cpuProfile, timeDeltas } = c.args.data;
      expect(cpuProfile.samples).toHaveLength(timeDeltas.length);
      expect(cpuProfile.nodes[0].callFrame.functionName).toBe('(root)');
    }
  });

  test('flamegraph.svg is an SVG with the fixture functions', () => {
    const svg = fs.readFileSync(result.files.flamegraph, 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('<svg');
    expect(svg).toContain('fixture_rayon_leaf');
    expect(svg).toContain('[js-main]');
  });
});

test("each session's event-loop lag is its own: a stall in the first is not in the second", () => {
  const out = tmpDir('lag-sessions');
  const r = runNode(
    `const p = require(${JSON.stringify(ROOT)});
     const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
     const stall = (ms) => { const until = Date.now() + ms; while (Date.now() < until); };
     (async () => {
       const lags = [];
       for (const stallMs of [400, 0]) {
         const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 99, jsProfiler: false });
         await sleep(200);
         stall(stallMs);
         await sleep(200);
         lags.push((await s.stop()).summary.attribution.eventLoopLag);
       }
       console.log(JSON.stringify(lags));
     })();`,
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const [stalled, quiet] = r.json;
  // Lag beyond the monitor's own 50 ms interval: the 400 ms stall less at most that interval, and
  // next to nothing.
  expect(stalled.maxMs).toBeGreaterThan(300);
  expect(stalled.maxMs).toBeLessThan(450);
  expect(quiet.maxMs).toBeLessThan(40);
  // One delay per 50 ms over ~0.4 s: the first session's delays are not counted again.
  expect(quiet.samples).toBeLessThanOrEqual(12);
  expect(quiet.samples).toBeGreaterThan(0);
});

describe('maxSamples ends the session cleanly, marked partial', () => {
  test('a bound of 50 samples', () => {
    const out = tmpDir('max');
    const r = runNode(
      `const p = require(${JSON.stringify(ROOT)});
       const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 999, maxSamples: 50 });
       require(${JSON.stringify(path.join(__dirname, 'fixtures', 'burner'))}).burnJs(300);
       s.stop().then((r) => console.log(JSON.stringify(r.summary)));`,
    );
    expect(r.status).toBe(0);
    expect(r.json.partial).toBe(true);
    expect(r.json.partialReason).toMatch(/maxSamples/);
    expect(r.json.samples).toBeGreaterThanOrEqual(50);
    expect(r.json.samples).toBeLessThan(80);
  });
});

/** JS text naming the one profile folder under `out` at the moment it runs. */
function folderNow(out) {
  return `((fs, path, out) => fs.readdirSync(out).map((d) => path.join(out, d)).find((d) => fs.statSync(d).isDirectory()))(require('fs'), require('path'), ${JSON.stringify(out)})`;
}

describe('register.js writes the profile however the process ends', () => {
  const register = path.join(ROOT, 'register.js');
  const burn = 'const t = Date.now() + 300; while (Date.now() < t) {}';

  test('at exit the files are written during node\'s teardown: complete once the process is gone', () => {
    const out = tmpDir('exit-teardown');
    const report = path.join(out, 'report.txt');
    // An exit listener after the probe's runs before the files exist; the parent sees them all, and
    // the report file names the folder only once they are in place.
    const r = runNode(`${burn}; process.on('exit', () => { process.stdout.write(JSON.stringify({ folder: ${folderNow(out)} }) + '\\n'); })`, {
      env: { NODE_OPTIONS: `--require ${register}`, PERFPROBE_OUT: out, PERFPROBE_REPORT_FILE: report },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [dir] = profileDirs(out);
    expect(r.json.folder).toBe(dir);
    expect(fs.readFileSync(report, 'utf8')).toBe(`${dir}\n`);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.partial).toBe(false);
    expect(summary.postProcessing.duringTeardown).toBe(true);
    expect(run(path.join(ROOT, 'bin', 'perfprobe'), ['report', dir]).stdout).toMatch(/post-processing +[\d.]+ ms after the session, during node's teardown at exit/);
    expect(summary.samples).toBeGreaterThan(0);
    expect(readPprof(path.join(dir, 'profile.pb.gz')).profile.sample.length).toBeGreaterThan(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'trace.json'), 'utf8')).traceEvents.length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(dir, 'flamegraph.svg'), 'utf8')).toMatch(/<\/svg>\s*$/);
  });

  test('a write that fails during teardown still warns, and the exit code is kept', () => {
    const out = tmpDir('exit-teardown-fails');
    const report = path.join(out, 'report.txt');
    // A file-size limit of 0 fails every write with EFBIG (node ignores SIGXFSZ), as a full disk
    // would, whenever the export thread gets to it: the folder is made, no file in it can be.
    const limited = `ulimit -f 0 && exec "$0" -e "$1"`;
    const r = run('sh', ['-c', limited, process.execPath, `${burn}; process.exitCode = 4`], {
      env: { NODE_OPTIONS: `--require ${register}`, PERFPROBE_OUT: out, PERFPROBE_REPORT_FILE: report },
    });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/\[perfprobe\] warning: could not write .*profile\.pb\.gz/);
    expect(r.stderr).not.toMatch(/profile written to/);
    expect(profileDirs(out)).toEqual([]);
    // A folder that was not written is never named.
    expect(fs.existsSync(report)).toBe(false);
  });

  test('a teardown whose stderr cannot take the warnings still ends cleanly and leaves no folder', () => {
    const out = tmpDir('exit-teardown-no-stderr');
    const stderrFile = path.join(tmpDir('exit-teardown-stderr'), 'stderr.txt');
    // stderr is a file under the same limit of 0 bytes: no warning can be written either.
    const limited = `ulimit -f 0 && exec "$0" -e "$1" 2>"$2"`;
    const r = run('sh', ['-c', limited, process.execPath, `${burn}; process.exitCode = 4`, stderrFile], {
      env: { NODE_OPTIONS: `--require ${register}`, PERFPROBE_OUT: out },
    });
    expect(r.status).toBe(4);
    expect(fs.readFileSync(stderrFile, 'utf8')).toBe('');
    expect(profileDirs(out)).toEqual([]);
  });

  test('process.exit(3): exit code kept, profile marked partial', () => {
    const out = tmpDir('exit');
    const r = runNode(`${burn}; process.exit(3)`, { env: { NODE_OPTIONS: `--require ${register}`, PERFPROBE_OUT: out } });
    expect(r.status).toBe(3);
    const [dir] = profileDirs(out);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    expect(summary.partialReason).toMatch(/exited with code 3/);
    expect(rawSampleCount(path.join(dir, 'profile.pb.gz'))).toBeGreaterThan(0);
  });

  test('SIGTERM: the process still dies of SIGTERM, after writing the profile', () => {
    const out = tmpDir('sigterm');
    const r = runNode(`${burn}; process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000)`, {
      env: { NODE_OPTIONS: `--require ${register}`, PERFPROBE_OUT: out },
    });
    expect(r.signal).toBe('SIGTERM');
    const [dir] = profileDirs(out);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')).partialReason).toMatch(/SIGTERM/);
  });

  test('PERFPROBE_DISABLE=1 turns it off', () => {
    const out = tmpDir('disabled');
    const r = runNode(burn, { env: { NODE_OPTIONS: `--require ${register}`, PERFPROBE_OUT: out, PERFPROBE_DISABLE: '1' } });
    expect(r.status).toBe(0);
    expect(profileDirs(out)).toEqual([]);
  });
});
