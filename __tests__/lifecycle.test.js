'use strict';
// How a profiled process ends, lives long and forks, with real Rspack builds in real node processes
// and real signals: every way out leaves a complete profile folder of what was sampled and the
// exit code and error output the process has without the probe; 200 watch rebuilds keep memory,
// fds and handles flat; a session can be started and stopped on demand (SIGUSR2, the API, bounds);
// worker_threads and child node processes neither crash nor start a second sampler.

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { ROOT, CLI, tmpDir, runNode, profileDirs, rawSampleCount, withCores, coreBacktrace } = require('./helpers');
const { makeApp } = require('./fixtures/lifecycle/app');

const FIXTURES = path.join(__dirname, 'fixtures', 'lifecycle');
const BUILD = path.join(FIXTURES, 'build.js');
const REGISTER = path.join(ROOT, 'register.js');
const PROFILE_FILES = ['flamegraph.svg', 'profile.pb.gz', 'summary.json', 'trace.json'];

const APP = makeApp(path.join(tmpDir('lifecycle-app'), 'app'), 60);
const BROKEN_APP = makeApp(path.join(tmpDir('lifecycle-broken'), 'app'), 20, { broken: true });

/** The environment of a test child: jest's NODE_OPTIONS would blur what the probe adds. */
function childEnv(extra) {
  const env = { ...process.env, ...extra };
  if (!('NODE_OPTIONS' in extra)) delete env.NODE_OPTIONS;
  return env;
}

/**
 * Runs `node args` (or, with `command`, `command args`: the CLI) to its end; `signal` is sent
 * `afterMs` after the child printed MAKE (the build's make phase started). Resolves { code, signal,
 * stdout, stderr }.
 */
function runChild(args, { command = process.execPath, env = {}, signal, afterMs = 400, timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const killer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (signal && !sent && stdout.includes('MAKE\n')) {
        sent = true;
        setTimeout(() => child.kill(signal), afterMs);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(killer);
      resolve({ code, signal: sig, stdout, stderr, signalSent: sent });
    });
  });
}

/** Runs one side of a `launch` (below) with `runChild`'s options. */
const runLaunched = ({ command, args, env }, options = {}) => runChild(args, { command, env, ...options });

/** stderr without the probe's own lines (its warnings, where it wrote, the plugin's short report). */
function userStderr(stderr) {
  return stderr
    // CI forces colours; escapes would hide the frames from innermostFrames.
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => !/^(\[perfprobe\]|perfprobe: )|\[PerfprobePlugin\]|^(<\w>)?\s+(\d+ samples over|top (phase|plugin|loader)s: )/.test(l))
    .join('\n');
}

/**
 * An error's output with only the innermost frame of each stack kept. When an error leaves a *tap*
 * (and only there) the frames below it differ: the probe's own phase taps run first on the hook, so
 * Rspack's hook runner recurses once more (one more `at next` frame, one fewer at the end), and a
 * tap function called through the probe's wrapper is not named after `tap.fn` (`[as fn]`).
 */
function innermostFrames(stderr) {
  const frame = /^(\W*)at /;
  return stderr
    .split('\n')
    .filter((l, i, all) => !(frame.test(l) && i > 0 && frame.test(all[i - 1])))
    .map((l) => l.replace(/ \[as fn\]/, '').replace(/at Object\.(fn|<anonymous>) \(/, 'at Object.<tap> ('))
    .join('\n');
}

/** A profile folder is complete, go tool pprof reads it, its trace parses; returns its summary. */
function completeProfile(dir) {
  expect(fs.readdirSync(dir).sort()).toEqual(PROFILE_FILES);
  expect(rawSampleCount(path.join(dir, 'profile.pb.gz'))).toBeGreaterThan(0);
  JSON.parse(fs.readFileSync(path.join(dir, 'trace.json'), 'utf8'));
  return JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
}

/** The one profile folder under `out`, complete; returns its summary. */
function onlyProfile(out) {
  const dirs = profileDirs(out);
  expect(dirs).toHaveLength(1);
  return completeProfile(dirs[0]);
}

/**
 * How the scenario's process is profiled, and its unprofiled twin:
 *   register: node -r register.js (twin: PERFPROBE_DISABLE=1); cli: bin/perfprobe -- node
 *   (twin: PERFPROBE_DISABLE=1); plugin: a PerfprobePlugin in the config (twin: no plugin).
 */
function launch(how, out, app, env) {
  const build = [BUILD, app];
  if (how === 'register') {
    return {
      probed: { args: build, env: { ...env, NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_OUT: out } },
      bare: { args: build, env: { ...env, NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_DISABLE: '1' } },
    };
  }
  if (how === 'cli') {
    const cli = ['--out', out, '--', process.execPath, ...build];
    return { probed: { command: CLI, args: cli, env }, bare: { command: CLI, args: cli, env: { ...env, PERFPROBE_DISABLE: '1' } } };
  }
  return {
    probed: { args: build, env: { ...env, LIFECYCLE_PLUGIN: JSON.stringify({ outDir: out }) } },
    bare: { args: build, env },
  };
}

describe('exits and interruptions: a complete profile, the exit and the error output of the unprofiled process', () => {
  const BURN = { LIFECYCLE_LOADER: 'burn:25' };
  const scenarios = [
    // [name, how, app, env, signal, partialReason]
    ['SIGINT mid-build', 'register', APP, BURN, 'SIGINT', /received SIGINT/],
    ['SIGTERM mid-build', 'register', APP, BURN, 'SIGTERM', /received SIGTERM/],
    ['SIGINT mid-build', 'cli', APP, BURN, 'SIGINT', /received SIGINT/],
    ['SIGTERM mid-build', 'cli', APP, BURN, 'SIGTERM', /received SIGTERM/],
    ['SIGINT mid-build', 'plugin', APP, BURN, 'SIGINT', /received SIGINT/],
    ['SIGTERM mid-build', 'plugin', APP, BURN, 'SIGTERM', /received SIGTERM/],
    ['process.exit(1) in a processAssets tap', 'register', APP, { LIFECYCLE_TAP: 'exit1' }, null, /exited with code 1/],
    ['process.exit(1) in a processAssets tap', 'plugin', APP, { LIFECYCLE_TAP: 'exit1' }, null, /exited with code 1/],
    ['an uncaught exception thrown in a JS loader', 'register', APP, { LIFECYCLE_LOADER: 'throw-async' }, null, /exited with code 1/],
    ['an uncaught exception thrown in a JS loader', 'plugin', APP, { LIFECYCLE_LOADER: 'throw-async' }, null, /exited with code 1/],
    ['a JS loader that throws (a module build error)', 'register', APP, { LIFECYCLE_LOADER: 'throw' }, null, /exited with code 1/],
    ['a JS loader that throws (a module build error)', 'plugin', APP, { LIFECYCLE_LOADER: 'throw' }, null, /compilation errors/],
    ["a loader's error handed to this.async()'s callback", 'plugin', APP, { LIFECYCLE_LOADER: 'callback-error' }, null, /compilation errors/],
    ['compilation errors', 'register', BROKEN_APP, {}, null, /exited with code 1/],
    ['compilation errors', 'cli', BROKEN_APP, {}, null, /exited with code 1/],
    ['compilation errors', 'plugin', BROKEN_APP, {}, null, /compilation errors/],
  ];
  test.each(scenarios)('%s (%s)', async (name, how, app, env, signal, reason) => {
    const out = tmpDir(`exit-${how}`);
    const { probed, bare } = launch(how, out, app, env);
    const [withProbe, without] = await Promise.all([runLaunched(probed, { signal }), runLaunched(bare, { signal })]);
    if (signal) expect(withProbe.signalSent && without.signalSent).toBe(true);
    expect({ code: withProbe.code, signal: withProbe.signal }).toEqual({ code: without.code, signal: without.signal });
    expect(userStderr(withProbe.stderr)).toBe(userStderr(without.stderr));
    expect(withProbe.stderr).not.toMatch(/warning/);
    const summary = onlyProfile(out);
    expect(summary.partial).toBe(true);
    expect(summary.partialReason).toMatch(reason);
  });

  test.each([
    ['a processAssets tap that throws', 'plugin', { LIFECYCLE_TAP: 'throw' }, /^the build failed: caused by plugins in Compilation.hooks.processAssets$/],
    ['a processAssets tapPromise that rejects', 'register', { LIFECYCLE_TAP: 'reject' }, /exited with code 1/],
  ])('%s (%s): the same error and exit, the innermost frame named alike', async (name, how, env, reason) => {
    const out = tmpDir(`tap-${how}`);
    const { probed, bare } = launch(how, out, APP, env);
    const [withProbe, without] = await Promise.all([runLaunched(probed), runLaunched(bare)]);
    expect(withProbe.code).toBe(without.code);
    expect(withProbe.stderr).not.toContain(path.join(ROOT, 'lib'));
    expect(innermostFrames(userStderr(withProbe.stderr))).toBe(innermostFrames(userStderr(without.stderr)));
    expect(onlyProfile(out).partialReason).toMatch(reason);
  });

  test('a tapAsync and a loader that call back before they return: the build succeeds, profiled in full', async () => {
    const out = tmpDir('eager');
    const env = { LIFECYCLE_TAP: 'sync-callback', LIFECYCLE_LOADER: 'sync-callback' };
    const { probed, bare } = launch('plugin', out, APP, env);
    const [withProbe, without] = await Promise.all([runLaunched(probed), runLaunched(bare)]);
    expect(without.code).toBe(0);
    expect(withProbe.code).toBe(0);
    expect(userStderr(withProbe.stderr)).toBe(userStderr(without.stderr));
    const summary = onlyProfile(out);
    expect(summary.partial).toBe(false);
    const taps = summary.attribution.boundaries.filter((b) => b.plugin === 'EagerPlugin');
    expect(taps.map((b) => [b.hook, b.calls])).toEqual([['compiler.emit', 1]]);
    expect(summary.attribution.boundaries.find((b) => /loader\.js \(normal\)/.test(b.name)).calls).toBe(61);
  });
});

/** How an interactive process ended; with its stderr and native stacks unless it exited 0. */
function ending(e) {
  return { code: e.code, signal: e.signal, ...(e.code === 0 ? {} : { stderr: e.stderr.slice(-4000), backtrace: e.backtrace }) };
}

/**
 * A long-running node process driven line by line on stdin; `waitFor` resolves when its output
 * matches. It runs with core dumps allowed: `exited` gives its end, and after a crash signal its
 * native stacks (`backtrace`). Its working directory is the
 * project's, which the loader label's path is relative to, so a core lands there (and is deleted).
 */
function interactive(args, env) {
  const child = spawn(...withCores(process.execPath, args), { cwd: ROOT, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = out[w.stream].match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  };
  child.stdout.on('data', (d) => ((out.stdout += d), check()));
  child.stderr.on('data', (d) => ((out.stderr += d), check()));
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      const backtrace = coreBacktrace(ROOT, process.execPath, signal);
      resolve({ code, signal, backtrace, ...out });
    }),
  );
  return {
    child,
    out,
    exited,
    send: (line) => child.stdin.write(`${line}\n`),
    end: () => child.stdin.end(),
    waitFor: (re, stream = 'stdout', ms = 30000) =>
      new Promise((resolve, reject) => {
        const w = { re, stream, resolve };
        w.timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} on ${stream}:\n${out.stdout}\n${out.stderr}`)), ms);
        waiters.push(w);
        check();
      }),
  };
}

const summaryOf = (dir) => JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
/** Calls of a phase in a profile: how many builds it saw. */
const phaseCalls = (summary, name) => (summary.attribution.boundaries || []).find((b) => b.kind === 'phase' && b.name === name)?.calls || 0;

describe('on demand: SIGUSR2 and the API profile the next rebuild of a running watcher', () => {
  const SERVE = path.join(FIXTURES, 'serve.js');
  // A rebuild of one edited module is a few ms of CPU: the loader makes it long enough to sample.
  const LOADER_BURN = { LIFECYCLE_LOADER: 'burn:30' };
  const LOADER_LABEL = path.relative(ROOT, path.join(FIXTURES, 'loader.js'));

  test('PERFPROBE_ON_DEMAND=1: nothing until SIGUSR2; SIGUSR2, a rebuild, SIGUSR2: one profile of that rebuild, labelled', async () => {
    const out = tmpDir('on-demand');
    const app = makeApp(path.join(tmpDir('on-demand-app'), 'app'), 30);
    const p = interactive([SERVE, app], { NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_ON_DEMAND: '1', PERFPROBE_OUT: out, PERFPROBE_FREQUENCY: '999', ...LOADER_BURN });
    await p.waitFor(/BUILT 1\n/);
    p.send('edit');
    await p.waitFor(/BUILT 2\n/);
    expect(profileDirs(out)).toEqual([]);
    p.child.kill('SIGUSR2');
    await p.waitFor(/profiling started/, 'stderr');
    p.send('edit');
    await p.waitFor(/BUILT 3\n/);
    p.child.kill('SIGUSR2');
    await p.waitFor(/profile written to (.+)\n/, 'stderr');
    // With no session running, rebuilds write nothing: the labels' plugin only joins sessions.
    p.send('edit');
    await p.waitFor(/BUILT 4\n/);
    p.end();
    const end = await p.exited;
    expect(ending(end)).toEqual({ code: 0, signal: null });
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    const summary = onlyProfile(out);
    expect(summary.partial).toBe(false);
    expect(phaseCalls(summary, 'make')).toBe(1);
    expect(summary.labels.phase.map((e) => e.name)).toContain('make');
    expect(summary.labels.loader.map((e) => e.name)).toEqual([LOADER_LABEL]);
    expect(end.stderr).not.toMatch(/warning/);
  });

  test('perfprobe.start() between rebuilds, session.stop() after the next: that rebuild with its labels', async () => {
    const out = tmpDir('api-next');
    const app = makeApp(path.join(tmpDir('api-next-app'), 'app'), 30);
    // On demand, register.js starts nothing: it only gives compilers the plugin's labels.
    const p = interactive([SERVE, app], { NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_ON_DEMAND: '1', PERFPROBE_OUT: out, ...LOADER_BURN });
    await p.waitFor(/BUILT 1\n/);
    p.send('start');
    await p.waitFor(/STARTED\n/);
    p.send('edit');
    await p.waitFor(/BUILT 2\n/);
    p.send('stop');
    const [, json] = await p.waitFor(/RESULT (.+)\n/);
    p.end();
    // Seen in fresh-clone runs (never locally): the watcher ended by SIGABRT here, after its
    // result; say which signal, with its stderr and native stacks.
    const end = await p.exited;
    expect(ending(end)).toEqual({ code: 0, signal: null });
    const result = JSON.parse(json);
    expect(path.basename(result.dir)).toMatch(/^next-rebuild-/);
    expect(result.summary.partial).toBe(false);
    expect(phaseCalls(result.summary, 'make')).toBe(1);
    // The one module the edit changed went through the loader once, inside the session.
    expect(result.summary.labels.loader.map((e) => e.name)).toEqual([LOADER_LABEL]);
    expect(result.summary.attribution.boundaries.find((b) => b.name === `${LOADER_LABEL} (normal)`).calls).toBe(1);
  });
});

describe('maxDuration and maxSamples end a session cleanly, with a note in the summary', () => {
  test.each([
    [{ maxDuration: 0 }, /option `maxDuration` is 0; accepted: a whole number of milliseconds from 1 to 2147483647/],
    [{ maxDuration: 1.5 }, /option `maxDuration` is 1.5/],
    [{ maxDuration: '300' }, /option `maxDuration` is "300"/],
  ])('start(%p) throws a TypeError naming the option', (options, message) => {
    const perfprobe = require('..');
    expect(() => perfprobe.start(options)).toThrow(TypeError);
    expect(() => perfprobe.start(options)).toThrow(message);
  });

  test.each([
    [{ PERFPROBE_MAX_DURATION: '5s' }, /PERFPROBE_MAX_DURATION is "5s"; accepted: a whole number of milliseconds/],
    [{ PERFPROBE_MAX_SAMPLES: '-1' }, /PERFPROBE_MAX_SAMPLES is "-1"; accepted: a positive integer/],
    [{ PERFPROBE_ON_DEMAND: 'yes' }, /PERFPROBE_ON_DEMAND is "yes"; accepted: 1 or true, 0 or false/],
  ])('register.js with %p: a warning naming the variable, the program runs unprofiled', (env, message) => {
    const out = tmpDir('bad-env');
    const r = runNode('console.log("ran")', { env: { NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_OUT: out, ...env } });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ran\n');
    expect(r.stderr).toMatch(message);
    expect(profileDirs(out)).toEqual([]);
  });

  test('the API: maxDuration 300 over a 1 s burn: sampling ends at ~300 ms, marked partial', () => {
    const out = tmpDir('max-duration');
    const r = runNode(
      `const p = require(${JSON.stringify(ROOT)});
       const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499, maxDuration: 300 });
       const end = Date.now() + 1000; while (Date.now() < end) {}
       const finished = s.finished;
       s.stop().then((r) => console.log(JSON.stringify({ finished, summary: r.summary })));`,
    );
    expect(r.status).toBe(0);
    expect(r.json.finished).toBe(true);
    expect(r.json.summary.partial).toBe(true);
    expect(r.json.summary.partialReason).toBe('maxDuration (300 ms) reached');
    // Sampling ended at the bound (the sampler ticks every 1 ms at 499 Hz; a loaded machine may wake
    // it late), not at stop() after 1 s.
    expect(r.json.summary.durationMs).toBeGreaterThanOrEqual(300);
    expect(r.json.summary.durationMs).toBeLessThan(450);
    expect(r.json.summary.samples).toBeGreaterThan(0);
  });

  test.each([
    ['PERFPROBE_MAX_DURATION', '300', /^maxDuration \(300 ms\) reached$/],
    ['PERFPROBE_MAX_SAMPLES', '40', /^maxSamples \(40\) reached$/],
  ])('on demand with %s=%s: the bound writes the profile without a second SIGUSR2; the process goes on', async (name, value, reason) => {
    const out = tmpDir('bound');
    const script = `console.log('READY'); const end = Date.now() + 20000;
      const t = setInterval(() => { const b = Date.now() + 50; while (Date.now() < b) {} if (Date.now() > end) clearInterval(t); }, 1);
      process.stdin.on('end', () => { clearInterval(t); console.log('DONE'); }).resume();`;
    const p = interactive(['-e', script], { NODE_OPTIONS: `--require ${REGISTER}`, PERFPROBE_ON_DEMAND: '1', PERFPROBE_OUT: out, PERFPROBE_FREQUENCY: '199', [name]: value });
    await p.waitFor(/READY\n/);
    p.child.kill('SIGUSR2');
    await p.waitFor(/profile written to/, 'stderr');
    p.end();
    const end = await p.exited;
    expect(ending(end)).toEqual({ code: 0, signal: null });
    expect(end.stdout).toMatch(/DONE/);
    expect(onlyProfile(out).partialReason).toMatch(reason);
  });
});

describe('worker_threads and child node processes', () => {
  const env = { LIFECYCLE_LOADER: 'spawn', LIFECYCLE_TAP: 'worker' };

  test('under the CLI: the loader\'s `node -e` child writes its own folder named with its pid; the worker thread starts no second sampler', async () => {
    const out = tmpDir('children');
    const app = makeApp(path.join(tmpDir('children-app'), 'app'), 20);
    const { probed, bare } = launch('cli', out, app, env);
    const without = await runLaunched(bare);
    const withProbe = await runLaunched(probed);
    expect(without.code).toBe(0);
    expect(withProbe.code).toBe(0);
    expect(withProbe.stdout).toMatch(/WORKER \{"x":\d+\}/);
    expect(userStderr(withProbe.stderr)).toBe(userStderr(without.stderr));
    expect(withProbe.stderr).not.toMatch(/warning|already running/);
    const childPid = Number(fs.readFileSync(path.join(app, 'dist', 'main.js'), 'utf8').match(/childPid = (\d+)/)[1]);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(2);
    const child = dirs.find((d) => d.endsWith(`-${childPid}`));
    const parent = dirs.find((d) => d !== child);
    expect(child).toBeDefined();
    for (const d of dirs) expect(withProbe.stderr).toContain(`[perfprobe] profile written to ${d}`);
    const childSummary = completeProfile(child);
    expect(childSummary.partial).toBe(false);
    expect(childSummary.threads.find((t) => t.role === 'js-main').cpuMs).toBeGreaterThan(200);
    // The worker's 300 ms of CPU (other helper threads use ~10 ms) are sampled by the process's one
    // sampler, on the worker's own thread.
    const parentSummary = completeProfile(parent);
    const workerCpu = Math.max(...parentSummary.threads.filter((t) => t.role !== 'js-main' && !/^tokio|^v8:/.test(t.name)).map((t) => t.cpuMs));
    expect(workerCpu).toBeGreaterThan(250);
  });

  test('with the plugin: the same build, exit 0, one profile, the worker\'s CPU in it', async () => {
    const out = tmpDir('children-plugin');
    const app = makeApp(path.join(tmpDir('children-plugin-app'), 'app'), 20);
    const { probed, bare } = launch('plugin', out, app, env);
    const [withProbe, without] = await Promise.all([runLaunched(probed), runLaunched(bare)]);
    expect([withProbe.code, without.code]).toEqual([0, 0]);
    expect(userStderr(withProbe.stderr)).toBe(userStderr(without.stderr));
    const summary = onlyProfile(out);
    expect(summary.partial).toBe(false);
    expect(Math.max(...summary.threads.filter((t) => t.role !== 'js-main' && !/^tokio|^v8:/.test(t.name)).map((t) => t.cpuMs))).toBeGreaterThan(250);
  });
});

describe('a watcher rebuilding 200 times', () => {
  test('one profile per rebuild, storage recycled, RSS growth bounded, no fd, handle or listener left behind', async () => {
    const app = makeApp(path.join(tmpDir('watch200-app'), 'app'), 80);
    const baselineApp = makeApp(path.join(tmpDir('watch200-base-app'), 'app'), 80);
    const out = tmpDir('watch200');
    const args = (dir) => ['--expose-gc', path.join(FIXTURES, 'watch.js'), dir, '200', out, '21', '201'];
    // The same watcher unprofiled, side by side: Rspack's own growth over 200 rebuilds is the floor.
    const [probed, baseline] = await Promise.all([runChild(args(app), { timeout: 240000 }), runChild(args(baselineApp), { env: { WATCH_PROBE: '0' }, timeout: 240000 })]);
    expect(probed.code).toBe(0);
    expect(baseline.code).toBe(0);
    const r = JSON.parse(probed.stdout.trim().split('\n').pop());
    const b = JSON.parse(baseline.stdout.trim().split('\n').pop());
    const [at20, at200] = [r.checkpoints[21], r.checkpoints[201]];
    const growth = at200.rssMb - at20.rssMb;
    const baseGrowth = b.checkpoints[201].rssMb - b.checkpoints[21].rssMb;
    console.log(
      `RSS after rebuild 20: ${at20.rssMb} MB, after rebuild 200: ${at200.rssMb} MB (+${growth} MB); ` +
        `unprofiled: ${b.checkpoints[21].rssMb} -> ${b.checkpoints[201].rssMb} MB (+${baseGrowth} MB); ` +
        `JS heap ${at20.heapMb} -> ${at200.heapMb} MB; fds ${at20.fds} -> ${at200.fds}; handles ${at20.handles} -> ${at200.handles}`,
    );
    expect(r.builds).toBe(201);
    // The plugin keeps its last 50 results, not 201.
    expect(r.kept).toBe(50);
    // Bound: the probe's share of the growth (see docs/reliability.md, watch mode, for the figures).
    expect(growth - baseGrowth).toBeLessThan(30);
    expect(at200.heapMb - at20.heapMb).toBeLessThan(3);
    expect(at200.fds).toBe(at20.fds);
    expect(at200.handles).toBe(at20.handles);
    expect(at200.requests).toBe(at20.requests);
    expect([at20.listeners, at200.listeners]).toEqual([0, 0]);

    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(201);
    for (const dir of dirs) {
      expect(fs.readdirSync(dir).sort()).toEqual(PROFILE_FILES);
      const s = summaryOf(dir);
      // Each profile holds its own build only, and the sample store never filled up: it is drained
      // and reused by every session.
      expect(s.partial).toBe(false);
      expect(phaseCalls(s, 'make')).toBe(1);
      expect(s.stats.droppedStoreFull).toBe(0);
    }
    expect(rawSampleCount(path.join(dirs[dirs.length - 1], 'profile.pb.gz'))).toBeGreaterThan(0);
  }, 300000);
});
