'use strict';
// How a profiled process ends, lives long and forks, with real Rspack builds in real node processes
// and real signals: every way out leaves a complete profile folder of what was sampled and the
// exit code and error output the process has without the probe; 200 watch rebuilds keep memory,
// fds and handles flat; a session can be started and stopped on demand (SIGUSR2, the API, bounds);
// worker_threads and child node processes neither crash nor start a second sampler.

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { ROOT, CLI, tmpDir, profileDirs, readPprof, rawSampleCount } = require('./helpers');
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
 * Runs `node args` (or the CLI around it) to its end; `signal` is sent `afterMs` after the child
 * printed MAKE (the build's make phase started). Resolves { code, signal, stdout, stderr }.
 */
function runChild(args, { env = {}, signal, afterMs = 400, timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
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

/** stderr without the probe's own lines (its warnings, where it wrote, the plugin's short report). */
function userStderr(stderr) {
  return stderr
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

/** The one profile folder under `out`: complete, readable by go tool pprof; returns its summary. */
function onlyProfile(out) {
  const dirs = profileDirs(out);
  expect(dirs).toHaveLength(1);
  expect(fs.readdirSync(dirs[0]).sort()).toEqual(PROFILE_FILES);
  expect(rawSampleCount(path.join(dirs[0], 'profile.pb.gz'))).toBeGreaterThan(0);
  JSON.parse(fs.readFileSync(path.join(dirs[0], 'trace.json'), 'utf8'));
  return JSON.parse(fs.readFileSync(path.join(dirs[0], 'summary.json'), 'utf8'));
}

/**
 * How the scenario's process is profiled, and its unprofiled twin:
 *   register: node -r register.js (twin: PERFPROBE_DISABLE=1); cli: bin/perfprobe.js -- node
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
    const cli = [CLI, '--out', out, '--', process.execPath, ...build];
    return { probed: { args: cli, env }, bare: { args: cli, env: { ...env, PERFPROBE_DISABLE: '1' } } };
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
    const [withProbe, without] = await Promise.all([runChild(probed.args, { env: probed.env, signal }), runChild(bare.args, { env: bare.env, signal })]);
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
    const [withProbe, without] = await Promise.all([runChild(probed.args, { env: probed.env }), runChild(bare.args, { env: bare.env })]);
    expect(withProbe.code).toBe(without.code);
    expect(withProbe.stderr).not.toContain(path.join(ROOT, 'lib'));
    expect(innermostFrames(userStderr(withProbe.stderr))).toBe(innermostFrames(userStderr(without.stderr)));
    expect(onlyProfile(out).partialReason).toMatch(reason);
  });

  test('a tapAsync and a loader that call back before they return: the build succeeds, profiled in full', async () => {
    const out = tmpDir('eager');
    const env = { LIFECYCLE_TAP: 'sync-callback', LIFECYCLE_LOADER: 'sync-callback' };
    const { probed, bare } = launch('plugin', out, APP, env);
    const [withProbe, without] = await Promise.all([runChild(probed.args, { env: probed.env }), runChild(bare.args, { env: bare.env })]);
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
