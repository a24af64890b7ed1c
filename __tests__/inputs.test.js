'use strict';
// What the user hands the probe, checked by one rule per option and variable (lib/options.js ENV
// and SPEC): every mistake is rejected with the name at fault and what is accepted, the same way
// through the API, the environment and the CLI; every unwritable outDir gives one warning line and
// no folder named; damaged profile folders make `report` exit 2.

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { spawnSync } = require('child_process');
const { ROOT, CLI, tmpDir, run, runNode, profileDirs } = require('./helpers');

const REGISTER = path.join(ROOT, 'register.js');

/** `node -e script` that is killed (SIGKILL: a hung probe may be deaf to SIGTERM) after 20 s. */
function nodeWithin20s(script, env) {
  const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20000, killSignal: 'SIGKILL' });
  const lastLine = r.stdout.trim().split('\n').pop();
  let json;
  try {
    json = JSON.parse(lastLine);
  } catch {}
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, json };
}

/** `node -r register -e <script>` with the given PERFPROBE_* variables. */
function registered(env, script = 'console.log("ran")') {
  return runNode(script, { env: { NODE_OPTIONS: `--require ${REGISTER}`, ...env } });
}

describe('boolean variables accept exactly 1/true and 0/false', () => {
  test.each([
    ['PERFPROBE_DISABLE', 'true', (r, out) => expect(profileDirs(out)).toEqual([])],
    ['PERFPROBE_DISABLE', '1', (r, out) => expect(profileDirs(out)).toEqual([])],
    ['PERFPROBE_DISABLE', 'false', (r, out) => expect(profileDirs(out)).toHaveLength(1)],
    ['PERFPROBE_QUIET', 'true', (r, out) => (expect(r.stderr).toBe(''), expect(profileDirs(out)).toHaveLength(1))],
    ['PERFPROBE_QUIET', '0', (r, out) => expect(r.stderr).toMatch(/\[perfprobe\] profile written to /)],
    ['PERFPROBE_FLAMEGRAPH_PER_ROLE', 'true', (r, out) => expect(fs.readdirSync(profileDirs(out)[0]).filter((f) => /^flamegraph-.+\.svg$/.test(f)).length).toBeGreaterThan(0)],
    ['PERFPROBE_JS_PROFILER', 'false', (r, out) => expect(JSON.parse(fs.readFileSync(path.join(profileDirs(out)[0], 'summary.json'))).jsProfiler).toBe(null)],
  ])('%s=%s is honoured', (name, value, check) => {
    const out = tmpDir('env-bool');
    const r = registered({ PERFPROBE_OUT: out, [name]: value }, 'const end = Date.now() + 200; while (Date.now() < end) {}');
    expect(r.status).toBe(0);
    check(r, out);
  });

  test.each([
    ['PERFPROBE_DISABLE', 'yes'],
    ['PERFPROBE_QUIET', 'yes'],
    ['PERFPROBE_FLAMEGRAPH_PER_ROLE', 'on'],
    ['PERFPROBE_JS_PROFILER', 'TRUE'],
    ['PERFPROBE_ON_DEMAND', 'yes'],
    ['PERFPROBE_LABELS', '2'],
    ['PERFPROBE_MIXED', 'y'],
  ])('%s=%s: one warning naming the variable and the accepted spellings; the program runs unprofiled', (name, value) => {
    const out = tmpDir('env-bool-bad');
    const r = registered({ PERFPROBE_OUT: out, [name]: value });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toBe(`[perfprobe] warning: profiling is off: ${name} is ${JSON.stringify(value)}; accepted: 1 or true, 0 or false\n`);
    expect(profileDirs(out)).toEqual([]);
  });

  test('PERFPROBE_ON_DEMAND=yes: SIGUSR2 meant for the probe does not kill the process', () => {
    const r = registered({ PERFPROBE_ON_DEMAND: 'yes' }, 'process.kill(process.pid, "SIGUSR2"); setTimeout(() => console.log("alive"), 100);');
    expect(r.signal).toBe(null);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('alive\n');
  });

  test('PERFPROBE_ON_DEMAND=0 beside a bad variable: SIGUSR2 keeps its default action, as without the probe', () => {
    const r = registered({ PERFPROBE_ON_DEMAND: '0', PERFPROBE_QUIET: 'yes' }, 'process.kill(process.pid, "SIGUSR2"); setTimeout(() => console.log("alive"), 100);');
    expect(r.signal).toBe('SIGUSR2');
    expect(r.stdout).toBe('');
  });
});

describe('the same rule for values through the API, the environment and the CLI', () => {
  test.each([
    [{ signal: 2 }, /option `signal` is 2; accepted: a real-time signal number \(\d+\.\.\d+ here/],
    [{ signal: 9 }, /option `signal` is 9/],
    [{ signal: 27 }, /option `signal` is 27/],
    [{ signal: 65 }, /option `signal` is 65/],
    [{ name: 'a b/c' }, /option `name` is "a b\/c"; accepted: 1-64 characters/],
    [{ name: '' }, /option `name` is ""; accepted: 1-64 characters/],
    [{ frequency: 0 }, /option `frequency` is 0; accepted: an integer from 1 to 10000/],
    [{ quiet: 'yes' }, /option `quiet` is "yes"; accepted: true or false/],
  ])('start(%p) throws a TypeError naming the option', (options, message) => {
    const perfprobe = require('..');
    expect(() => perfprobe.start(options)).toThrow(TypeError);
    expect(() => perfprobe.start(options)).toThrow(message);
  });

  test.each([
    [{ PERFPROBE_SIGNAL: '2' }, /PERFPROBE_SIGNAL is "2"; accepted: a real-time signal number/],
    [{ PERFPROBE_NAME: 'a b/c' }, /PERFPROBE_NAME is "a b\/c"; accepted: 1-64 characters/],
    [{ PERFPROBE_MODE: 'fast' }, /PERFPROBE_MODE is "fast"; accepted: 'cpu', 'wall' or 'both'/],
    [{ PERFPROBE_FREQUENCY: '1e3' }, /PERFPROBE_FREQUENCY is "1e3"; accepted: an integer from 1 to 10000/],
    [{ PERFPROBE_JS_SOURCE: 'v8' }, /PERFPROBE_JS_SOURCE is "v8"; accepted: code-events, cpu-profiler/],
  ])('register.js with %p: one warning naming the variable', (env, message) => {
    const out = tmpDir('env-bad');
    const r = registered({ PERFPROBE_OUT: out, ...env });
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(profileDirs(out)).toEqual([]);
  });

  test.each([['a b/c'], [''], ['x'.repeat(65)]])('perfprobe --name %p: a usage error, exit 2, nothing run', (name) => {
    const marker = path.join(tmpDir('cli-name'), 'ran');
    const r = run(CLI, ['--name', name, '--', 'touch', marker]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`perfprobe: invalid value for --name: ${JSON.stringify(name)} (accepted: 1-64 characters from A-Z a-z 0-9 . _ -)`);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('an unwritable outDir: one warning line, no folder named, nothing hangs', () => {
  const file = () => {
    const f = path.join(tmpDir('outdir-file'), 'file');
    fs.writeFileSync(f, 'x');
    return f;
  };
  test.each([
    ['a file', () => file(), /ENOTDIR/],
    ['under a file', () => path.join(file(), 'sub'), /ENOTDIR/],
    ['4000 characters long', () => path.join(tmpDir('outdir-long'), 'd'.repeat(4000)), /ENAMETOOLONG/],
    ['under /proc', () => '/proc/x/y', /ENOENT/],
  ])('register.js, outDir %s', (_, outDir, code) => {
    const dir = outDir();
    const reportFile = path.join(tmpDir('outdir-report'), 'folders.txt');
    const r = nodeWithin20s('const end = Date.now() + 100; while (Date.now() < end) {}', { NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_OUT: dir });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[perfprobe\] warning: cannot create a profile folder under /);
    expect(lines[0]).toMatch(code);
    // The same run asked to list its folders lists none.
    const listed = nodeWithin20s('const end = Date.now() + 100; while (Date.now() < end) {}', { NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_OUT: dir, PERFPROBE_REPORT_FILE: reportFile });
    expect(listed.status).toBe(0);
    expect(fs.existsSync(reportFile) ? fs.readFileSync(reportFile, 'utf8') : '').toBe('');
  });

  test('start({ outDir: "/proc/x/y" }) returns, and stop() warns once', () => {
    const r = nodeWithin20s(
      `const p = require(${JSON.stringify(ROOT)});
       const s = p.start({ outDir: '/proc/x/y', frequency: 199 });
       s.stop().then((r) => console.log(JSON.stringify(r)));`,
    );
    expect(r.status).toBe(0);
    expect(r.json.dir).toBe(null);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^\[perfprobe\] warning: cannot create a profile folder under \/proc\/x\/y: ENOENT/)]);
  });
});

describe('PERFPROBE_REPORT_FILE', () => {
  test('lists the folder once its files are in place', () => {
    const out = tmpDir('report-file');
    const reportFile = path.join(tmpDir('report-file-list'), 'folders.txt');
    const r = registered({ PERFPROBE_OUT: out, PERFPROBE_REPORT_FILE: reportFile });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const [dir] = profileDirs(out);
    expect(fs.readFileSync(reportFile, 'utf8')).toBe(`${dir}\n`);
    expect(fs.existsSync(path.join(dir, 'summary.json'))).toBe(true);
  });

  test('in a missing folder: a warning naming it, and the folder printed instead', () => {
    const out = tmpDir('report-file-missing');
    const reportFile = path.join(tmpDir('report-file-nowhere'), 'missing', 'folders.txt');
    const r = registered({ PERFPROBE_OUT: out, PERFPROBE_REPORT_FILE: reportFile });
    expect(r.status).toBe(0);
    const [dir] = profileDirs(out);
    expect(r.stderr).toBe(`[perfprobe] warning: cannot append to PERFPROBE_REPORT_FILE ${reportFile}: ENOENT: No such file or directory (os error 2)\n[perfprobe] profile written to ${dir}\n`);
  });
});

describe('`perfprobe report` on a damaged profile.pb.gz exits 2', () => {
  let dir;
  beforeAll(() => {
    const out = tmpDir('report-damaged');
    const r = registered({ PERFPROBE_OUT: out, PERFPROBE_QUIET: '1' }, 'const end = Date.now() + 300; while (Date.now() < end) {}');
    expect(r.status).toBe(0);
    [dir] = profileDirs(out);
  });

  function damaged(edit) {
    const copy = path.join(tmpDir('report-damaged-copy'), 'profile');
    fs.cpSync(dir, copy, { recursive: true });
    const file = path.join(copy, 'profile.pb.gz');
    fs.writeFileSync(file, edit(fs.readFileSync(file)));
    return copy;
  }

  test('a whole one reads', () => {
    expect(zlib.gunzipSync(fs.readFileSync(path.join(dir, 'profile.pb.gz'))).length).toBeGreaterThan(0);
    expect(run(CLI, ['report', dir]).status).toBe(0);
  });

  test.each([
    ['cut short', (b) => b.subarray(0, Math.floor(b.length / 2))],
    ['a flipped bit', (b) => {
      const c = Buffer.from(b);
      c[Math.floor(c.length / 2)] ^= 0x10;
      return c;
    }],
    ['not gzip at all', (b) => Buffer.from('{"not": "pprof"}')],
  ])('%s: one line naming the file', (what, edit) => {
    const copy = damaged(edit);
    const r = run(CLI, ['report', copy]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${path.join(copy, 'profile.pb.gz')}: ${what === 'not gzip at all' ? 'not a pprof profile' : 'damaged gzip data'}`);
  });
});

describe('the plugin console summary', () => {
  const { consoleSummary } = require('../lib/console-summary');
  test('says when the profile is partial, and why', () => {
    const text = consoleSummary({ dir: '/p', summary: { samples: 3, durationMs: 10, sampledCpuMs: 9, fidelity: 0.9, partial: true, partialReason: 'the build failed', labels: {} } });
    expect(text.split('\n')[0]).toBe('profile written to /p (partial: the build failed)');
    expect(consoleSummary({ dir: '/p', summary: { partial: false, labels: {} } }).split('\n')[0]).toBe('profile written to /p');
  });
});
