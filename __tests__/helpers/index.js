'use strict';
// Shared by the Jest suites: real processes, real readers. Nothing here mocks the profiler.

const { spawnSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'perfprobe');
const BUILD_APP = path.join(ROOT, 'scripts', 'build-app.js');
const PROBE_PLUGINS = path.join(__dirname, '..', 'fixtures', 'probe-plugins.js');
const WATCH_BUILD = path.join(__dirname, '..', 'fixtures', 'watch-build.js');

function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `perfprobe-${prefix}-`));
}

/** Runs a command to completion; returns { status, signal, stdout, stderr }. */
function run(cmd, args, { env = {}, cwd = ROOT, timeout = 300000, input } = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout, input, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `node -e <script>` (the script may print one JSON line last, returned as `json`). */
function runNode(script, opts = {}) {
  const r = run(process.execPath, ['-e', script], opts);
  const lastLine = r.stdout.trim().split('\n').pop();
  try {
    r.json = JSON.parse(lastLine);
  } catch {
    r.json = undefined;
  }
  return r;
}

/** Profile folders under outDir, oldest first. */
function profileDirs(outDir) {
  if (!fs.existsSync(outDir)) return [];
  return fs
    .readdirSync(outDir)
    .filter((d) => fs.statSync(path.join(outDir, d)).isDirectory())
    .sort()
    .map((d) => path.join(outDir, d));
}

/** Decodes a profile.pb.gz with the pprof-format package, with helpers over its string table. */
function readPprof(file) {
  const profile = Profile.decode(zlib.gunzipSync(fs.readFileSync(file)));
  const strings = profile.stringTable.strings || profile.stringTable;
  const str = (i) => strings[Number(i)];
  const functions = new Map(profile.function.map((f) => [Number(f.id), f]));
  const locations = new Map(profile.location.map((l) => [Number(l.id), l]));
  const sampleTypes = profile.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`);
  const cpuIndex = sampleTypes.indexOf('cpu/nanoseconds');
  /** Frames of a sample, leaf first, inline frames expanded: [{ name, file, line }]. */
  const frames = (sample) =>
    sample.locationId.flatMap((id) =>
      locations.get(Number(id)).line.map((ln) => {
        const f = functions.get(Number(ln.functionId));
        return { name: str(f.name), file: str(f.filename), line: Number(ln.line) };
      }),
    );
  const labels = (sample) => {
    const out = {};
    for (const l of sample.label) out[str(l.key)] = Number(l.str) ? str(l.str) : Number(l.num);
    return out;
  };
  const cpu = (sample) => Number(sample.value[cpuIndex]);
  return { profile, str, frames, labels, cpu, sampleTypes, locations, functions };
}

/** `go tool pprof <args>`; fails the test with go's stderr if it cannot read the profile. */
function goPprof(args) {
  const r = run('go', ['tool', 'pprof', ...args], { env: { PPROF_TMPDIR: os.tmpdir(), HOME: process.env.HOME || os.tmpdir() } });
  if (r.status !== 0) throw new Error(`go tool pprof ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/** Samples listed by `go tool pprof -raw` (the count of lines in its Samples section). */
function rawSampleCount(file) {
  const out = goPprof(['-raw', file]);
  const section = out.split(/^Samples:$/m)[1] || '';
  return section.split('\n').filter((l) => /^\s+\d+\s+\d+:/.test(l)).length;
}

/** Environment that makes @rspack/core 2.2.7 load its symbolized debug binding. */
function debugRspackEnv() {
  const dir = path.join(ROOT, '.work', 'rspack-debug');
  const core = require.resolve('@rspack/core', { paths: [dir] });
  const bindingDir = path.join(dir, 'node_modules', '@rspack-debug', 'binding-linux-x64-gnu');
  const binding = fs.readdirSync(bindingDir).find((f) => f.endsWith('.node'));
  return { PERFPROBE_RSPACK_CORE: core, NAPI_RS_NATIVE_LIBRARY_PATH: path.join(bindingDir, binding) };
}

/**
 * Builds `app` with scripts/build-app.js, adding the plugins `plugins` exports (by default a
 * PerfprobePlugin) configured by `options`; returns the process result.
 */
function buildWithPlugin(app, options, env = {}, plugins = PROBE_PLUGINS) {
  return run(process.execPath, [BUILD_APP, app], { env: pluginEnv(options, env, plugins) });
}

function pluginEnv(options, env, plugins) {
  return { PERFPROBE_WORKLOAD_PLUGINS: plugins, PERFPROBE_TEST_PLUGIN_OPTIONS: JSON.stringify(options), ...env };
}

/**
 * Builds `app` in watch mode with fixtures/watch-build.js (a build, then `rebuilds` edits each
 * rebuilt), adding the plugins as buildWithPlugin does; returns the process result, or throws unless
 * it exited 0. Fresh-clone CI runs have seen this process die by SIGABRT after its last profile was
 * written, with nothing on stderr, which hundreds of local runs did not repeat: the error says which
 * signal, what it printed, whether the fixture's last line (written after `watching.close`) came,
 * and the dying thread's native stack (see runKeepingCore).
 */
function watchWithPlugin(app, rebuilds, options, env = {}) {
  const r = runKeepingCore(process.execPath, [WATCH_BUILD, app, String(rebuilds)], { env: pluginEnv(options, env, PROBE_PLUGINS) });
  if (r.status !== 0) {
    throw new Error(`watch build failed (status ${r.status}, signal ${r.signal}); stdout: ${JSON.stringify(r.stdout.slice(-500))}; stderr:\n${r.stderr.slice(-4000)}${r.backtrace ? `\nnative stacks from its core dump:\n${r.backtrace}` : ''}`);
  }
  return r;
}

const CRASH_SIGNALS = new Set(['SIGABRT', 'SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE']);

/** The command and arguments that run `cmd args` with core dumps allowed (the shell execs it). */
function withCores(cmd, args) {
  return ['/bin/sh', ['-c', 'ulimit -c unlimited 2>/dev/null; exec "$0" "$@"', cmd, ...args]];
}

/**
 * gdb's stacks of the crashing thread and of every thread, from the core `cmd` left in `cwd` when
 * it died by `signal` (where gdb is installed and the kernel writes cores into the working
 * directory); the core is deleted. Undefined for any other end.
 */
function coreBacktrace(cwd, cmd, signal) {
  if (!CRASH_SIGNALS.has(signal)) return undefined;
  const core = fs.readdirSync(cwd).find((f) => /^core(\.\d+)?$/.test(f));
  if (!core) return `(no core file in ${cwd}: /proc/sys/kernel/core_pattern is ${JSON.stringify(readOr('/proc/sys/kernel/core_pattern'))})`;
  const gdb = spawnSync('gdb', ['-batch', '-nx', '-ex', 'bt 40', '-ex', 'thread apply all bt 12', cmd, path.join(cwd, core)], { encoding: 'utf8', timeout: 120000, maxBuffer: 64 << 20 });
  fs.rmSync(path.join(cwd, core), { force: true });
  return gdb.error ? `(gdb: ${gdb.error.message})` : (gdb.stdout || '').slice(0, 60000);
}

/**
 * `run`, in a directory of its own with core dumps allowed: when the process dies by a crash
 * signal, `backtrace` holds its native stacks (coreBacktrace).
 */
function runKeepingCore(cmd, args, opts = {}) {
  const cwd = tmpDir('core');
  const r = run(...withCores(cmd, args), { ...opts, cwd });
  r.backtrace = coreBacktrace(cwd, cmd, r.signal);
  fs.rmSync(cwd, { recursive: true, force: true });
  return r;
}

function readOr(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function workload(kind, n, outDir) {
  return require(path.join(ROOT, 'scripts', 'workloads.js')).generate({ kind, n, outDir });
}

/** Starts a long-running child; resolves once `readyText` shows on its stdout. */
function spawnUntil(cmd, args, readyText, opts = {}) {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...(opts.env || {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes(readyText)) resolve();
    });
    child.on('exit', () => reject(new Error(`exited before "${readyText}": ${stderr}`)));
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, ready, exited };
}

// The V8s of Node 20, 22, 24 and 26 (11.3, 12.4, 13.6, 14.6): JS stacks come from perfprobe's
// handler and V8's code events by default; other V8s run V8's CPU profiler (crates/core/src/js/jit.rs,
// SUPPORTED_V8). scripts/test-node-lines.js runs the suites again under each installed line's node.
const CODE_EVENTS_V8 = /^(11\.3|12\.4|13\.6|14\.6)\./.test(process.versions.v8);
/** Preloaded (NODE_OPTIONS=--require) to make node report a V8 perfprobe does not know. */
const UNKNOWN_V8 = path.join(__dirname, '..', 'fixtures', 'unknown-v8.js');

module.exports = { ROOT, CLI, CODE_EVENTS_V8, UNKNOWN_V8, BUILD_APP, PROBE_PLUGINS, buildWithPlugin, watchWithPlugin, runKeepingCore, withCores, coreBacktrace, tmpDir, run, runNode, profileDirs, readPprof, goPprof, rawSampleCount, debugRspackEnv, workload, spawnUntil };
