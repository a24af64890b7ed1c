'use strict';
// A profiling session as JS sees it: options in, one profile folder out. The native sampler is
// process-wide, so the running session is kept on a process-global symbol: copies of this package
// loaded twice (register.js from the CLI, the plugin from the project) find the same session.

const fs = require('fs');
const path = require('path');
const { loadNative, addonConstants, prepareSampler } = require('./native');
const { startJsNames } = require('./v8-profile');
const { startProcessCounters } = require('./process-counters');
const { guardSession } = require('./exit-guard');
const { sharedSpans } = require('./attribution/spans');
const { requestRspackSpans } = require('./attribution/rspack-spans');
const { CURRENT_SESSION: CURRENT, LOAD_STARTED, OWN_JS: ALL_OWN_JS } = require('./keys');
const { OWN_JS } = require('./own-code');

// register.js and index.js set LOAD_STARTED before their requires: the first session's start-up cost
// includes loading the probe, which a profiled command pays too.
let loadNs = globalThis[LOAD_STARTED] === undefined ? 0n : process.hrtime.bigint() - globalThis[LOAD_STARTED];
const msSince = (startNs) => Number(process.hrtime.bigint() - startNs) / 1e6;
const PROBE_VERSION = require('../package.json').version;
// The probe's JS, of every copy of this package loaded: the summary folds its frames (the wrappers
// around taps, loaders and binding calls) into their callers.
(globalThis[ALL_OWN_JS] ??= new Set()).add(OWN_JS);
/** How soon a session that reached maxSamples or maxDuration is written by its owner. */
const BOUND_POLL_MS = 100;

/** stderr, prefixed, unless quiet: the profiler's warnings never throw. */
function stderrWarn(quiet) {
  return (message) => {
    if (!quiet) process.stderr.write(`[perfprobe] warning: ${message}\n`);
  };
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function timestamp(date) {
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}

/**
 * `<outDir>/<name>-<YYYYMMDD-HHMMSS>-<pid>`: a session's folder, `-<n>` added if taken. The addon
 * makes it (crates/core/src/profile_dir.rs), when JS stops the session and when a signal does.
 */
function profileDirBase(outDir, name, startedAt) {
  return path.join(outDir, `${name}-${timestamp(startedAt)}-${process.pid}`);
}

function rspackVersion() {
  try {
    return require(require.resolve('@rspack/core/package.json', { paths: [process.cwd()] })).version;
  } catch {
    return undefined;
  }
}

/**
 * Who started a session, and what it asks of the session when the process ends first: the only
 * thing the session knows of its starter. `kind`: 'plugin', 'register' or 'api'; the owner's own
 * state goes beside it (the plugin's compilers building, the API's group of start() callers).
 * - `exitReason`: why the profile is partial when the process ends with code 0 before the owner
 *   stopped the session (null: it is complete then); any other code is the reason itself.
 * - `onExitWritten(result)`: told of a folder written at exit; else the folder is announced.
 * - `writeDuringTeardown`: at exit only the folder's name is needed, so the files are written
 *   while node tears down (see src/exit_export.rs).
 * - `announceQuiet`, `reportFile` (PERFPROBE_REPORT_FILE): where folders written without the owner
 *   (at exit, by the addon for a busy JS thread) are announced.
 */
function withOwnerDefaults(owner, options) {
  return {
    exitReason: 'the process exited before the session was stopped',
    onExitWritten: null,
    writeDuringTeardown: false,
    // A session its owner starts quiet (the plugin speaks for itself) still has its folder named
    // when the addon writes it, unless the owner is quiet.
    announceQuiet: Boolean(options.quiet),
    reportFile: undefined,
    ...owner,
  };
}

function emptyResult(warnings) {
  return { dir: null, files: { pprof: null, trace: null, flamegraph: null, summary: null }, summary: null, warnings };
}

class Session {
  /** @private use start() */
  constructor(options, nativeSession, warn, owner, knownRspackVersion) {
    this.options = options;
    this.owner = owner;
    this.startedAt = new Date();
    this.native = nativeSession;
    // From when V8 reports code: see startJsNames.
    const reportCode = { register: 'at-build', plugin: 'at-listing' }[this.owner.kind] || 'now';
    this.v8 = nativeSession && options.jsProfiler ? startJsNames(options.frequency, warn, { reportCode }) : null;
    this.counters = nativeSession ? startProcessCounters() : null;
    this.warn = warn;
    this.stopped = false;
    this.contributors = new Set();
    this.versions = { node: process.versions.node, v8: process.versions.v8, probe: PROBE_VERSION };
    // Rspack's version comes from a compiler: the plugin's at the start, or one that joins later
    // (noteRspackVersion); resolving @rspack/core's package.json is left to a stop that has none.
    // Resolving it when register.js starts the session, before Rspack loads, cost 4.7 ms.
    if (knownRspackVersion) this.versions.rspack = knownRspackVersion;
  }

  /** A compiler joined this session: its Rspack's version goes into the profile. */
  noteRspackVersion(version) {
    if (!version || this.versions.rspack || !this.running) return;
    this.versions.rspack = version;
    // A signal that finds the JS thread busy writes the versions handed over when it was armed.
    if (this.guard) armSignalExport(this, this.warn);
  }

  /** True until stop() is called (and while the sampler is not running, false). */
  get running() {
    return !this.stopped && this.native !== null;
  }

  /** Whether the sampler ended by itself (maxSamples or maxDuration reached). */
  get finished() {
    return this.native ? this.native.finished : true;
  }

  /**
   * Calls `callback` once the sampler has ended by itself (a bound was reached), unless the session
   * is stopped first. Polled: the sampler thread cannot call into JS, and a check is one getter.
   */
  onFinished(callback) {
    if (this.boundWatch || !this.running) return;
    this.boundWatch = setInterval(() => {
      if (!this.running || !this.finished) return;
      clearInterval(this.boundWatch);
      this.boundWatch = null;
      callback();
    }, BOUND_POLL_MS);
    // A bound must not keep an otherwise finished program alive.
    this.boundWatch.unref();
  }

  /**
   * Adds a source of trace events and attribution figures (a plugin's span recorder): at stop,
   * `contribute()` returns `{ traceEvents, attribution }` to merge into the profile.
   */
  addContributor(contributor) {
    this.contributors.add(contributor);
  }

  _prepareStop(extra) {
    const stopStarted = process.hrtime.bigint();
    if (this.stopped) throw new Error('this perfprobe session was already stopped');
    this.stopped = true;
    if (globalThis[CURRENT] === this) globalThis[CURRENT] = undefined;
    if (!this.native) return { error: emptyResult([this.offReason || 'the sampler was not running']) };
    if (this.boundWatch) clearInterval(this.boundWatch);
    // From here JS writes the session; false: a signal found the JS thread busy and the addon wrote it.
    if (!this.native.claim()) {
      this.v8?.stop();
      this.counters?.stop();
      this.guard?.release();
      return { error: emptyResult(['the profile was written when a signal found the JS thread busy']) };
    }
    let dir;
    try {
      dir = loadNative().binding.createProfileDir(this.options.outDir, profileDirBase(this.options.outDir, this.options.name, this.startedAt));
    } catch (e) {
      // The addon words the warning: `cannot create a profile folder under <outDir>: <errno>: ...`.
      this.warn(e.message);
      this.v8?.stop();
      this.counters?.stop();
      try {
        this.native.cancel();
      } catch {}
      this.guard?.release();
      return { error: emptyResult([e.message]) };
    }
    const meta = this._meta(extra);
    return { dir, meta: { ...meta, startMs: this.startMs, jsStopMs: msSince(stopStarted) } };
  }

  _meta(extra = {}) {
    if (!this.versions.rspack) {
      const rspack = rspackVersion();
      if (rspack) this.versions.rspack = rspack;
    }
    const lag = this.counters ? this.counters.lag() : null;
    const traceEvents = [...(extra.traceEvents || []), ...(this.counters ? this.counters.stop() : [])];
    const attribution = {};
    for (const c of this.contributors) {
      try {
        const part = c.contribute();
        traceEvents.push(...part.traceEvents);
        for (const [k, v] of Object.entries(part.attribution || {})) {
          attribution[k] = Array.isArray(v) ? [...(attribution[k] || []), ...v] : typeof v === 'number' ? (attribution[k] || 0) + v : v;
        }
      } catch (e) {
        this.warn(`attribution data was lost: ${e.message}`);
      }
    }
    if (lag) attribution.eventLoopLag = lag;
    return {
      name: this.options.name,
      probeVersion: PROBE_VERSION,
      versions: { ...this.versions, ...(extra.versions || {}) },
      comments: extra.comments || [],
      // When the sampler ended by itself (maxSamples, its signal taken over), its own reason stands.
      partialReason: extra.partialReason || undefined,
      traceEvents,
      attribution,
      jsProfile: this.v8?.stop() ?? undefined,
      jsSourceReason: this.v8?.reason,
      flamegraphPerRole: this.options.flamegraphPerRole,
      rspackSpans: Boolean(this.rspackSpans),
      probeJs: [...globalThis[ALL_OWN_JS]],
    };
  }

  _result(dir, written) {
    // The addon words them (Written::warnings), for the export at exit too.
    const warnings = written.warnings || [];
    for (const w of warnings) this.warn(w);
    const files = { pprof: written.pprof || null, trace: written.trace || null, flamegraph: written.flamegraph || null, summary: written.summary || null };
    if (written.roleFlamegraphs && written.roleFlamegraphs.length) files.roleFlamegraphs = written.roleFlamegraphs;
    if (!Object.values(files).some(Boolean)) {
      // Nothing could be written (a full disk, say): leave no empty folder behind, name none.
      try {
        fs.rmdirSync(dir);
      } catch {}
      dir = null;
    }
    return { dir, files, summary: written.summaryJson || null, warnings };
  }

  /**
   * Stops sampling and writes the profile folder. Symbolization and writing run on a worker
   * thread. Never rejects for I/O problems: they come back as `warnings`.
   */
  async stop(extra = {}) {
    const prepared = this._prepareStop(extra);
    if (prepared.error) return prepared.error;
    try {
      const writing = this.native.stop(prepared.dir, JSON.stringify(prepared.meta));
      this.guard?.stopping(writing);
      const written = JSON.parse(await writing);
      return this._result(prepared.dir, written);
    } catch (e) {
      this.guard?.release();
      this.warn(`writing the profile failed: ${e.message}`);
      return { ...emptyResult([e.message]), dir: prepared.dir };
    }
  }

  /** The same, synchronously: for process exit, where no promise would settle. */
  stopSync(extra = {}) {
    return this._stopNow(extra, (dir, meta) => this._result(dir, this.native.stopSync(dir, meta)));
  }

  /** Stops on this turn of the event loop; `write(dir, metaJson)` hands the session to the addon. */
  _stopNow(extra, write) {
    const prepared = this._prepareStop(extra);
    if (prepared.error) return prepared.error;
    try {
      return write(prepared.dir, JSON.stringify(prepared.meta));
    } catch (e) {
      this.warn(`writing the profile failed: ${e.message}`);
      return { ...emptyResult([e.message]), dir: prepared.dir };
    } finally {
      this.guard?.release();
    }
  }

  /**
   * At the `exit` event, for an owner that only needs the folder's name (register.js): sampling
   * stops now, and the files are written while node tears down, before the process ends (see
   * src/exit_export.rs). The result names the folder and the files it will hold.
   */
  _stopDuringTeardown(extra) {
    return this._stopNow(extra, (dir, meta) => {
      this.native.stopAtExit(dir, meta, Boolean(this.options.quiet), this.owner.reportFile);
      const names = addonConstants().outputFiles;
      const file = (name) => path.join(dir, name);
      // `announced`: the addon says where it wrote once the files are in place.
      return { dir, files: { pprof: file(names.pprof), trace: file(names.trace), flamegraph: file(names.flamegraph), summary: file(names.summary) }, summary: null, warnings: [], announced: true };
    });
  }

  /** Names the folder of `result` to the owner's reader, unless the addon already has. */
  announce(result) {
    // The addon's announcer, as the export at exit uses: one wording, the report file honoured.
    if (result.dir && !result.announced) loadNative().binding.announceProfile(result.dir, this.owner.announceQuiet, this.owner.reportFile);
  }

  /** Writes the session now if the process is ending before its owner stopped it (exit-guard.js). */
  _writeAtExit(partialReason, exiting) {
    if (!this.running) return;
    if (!this.native.active) {
      // A signal found the JS thread busy and the addon wrote the session: what JS still runs for it
      // (V8's code events, counters, listeners, the process's current session) stops here.
      try {
        this._prepareStop();
      } catch {}
      return;
    }
    let result;
    const extra = partialReason ? { partialReason } : {};
    try {
      result = exiting && this.owner.writeDuringTeardown && this.native.stopAtExit ? this._stopDuringTeardown(extra) : this.stopSync(extra);
    } catch (e) {
      this.warn(`the profile was not written: ${e.message}`);
      return;
    }
    if (this.owner.onExitWritten) this.owner.onExitWritten(result);
    else this.announce(result);
  }
}

/**
 * Lets the addon write the session when SIGINT/SIGTERM finds the JS thread busy (src/signal_export.rs):
 * what the export needs is handed over now, since no JS will run then. Spans and V8's profile are JS's
 * and are missing from such a profile; it is marked partial.
 */
function armSignalExport(session, warn) {
  if (!session.native.armSignalExport) return;
  const { outDir, name, flamegraphPerRole } = session.options;
  const meta = { name, probeVersion: PROBE_VERSION, versions: session.versions, flamegraphPerRole, startMs: session.startMs, probeJs: [...globalThis[ALL_OWN_JS]] };
  try {
    session.native.armSignalExport(profileDirBase(outDir, name, session.startedAt), outDir, meta, session.owner.announceQuiet, session.owner.reportFile, session.guard.ending());
  } catch (e) {
    warn(`a signal while the JS thread is busy will not write the profile: ${e.message}`);
  }
}

/** The session running in this process, if any. */
function current() {
  const s = globalThis[CURRENT];
  return s && s.running ? s : undefined;
}

/**
 * Starts a session with validated options. If the sampler cannot start (no native build for this
 * platform, no free signal, another copy sampling), it warns and returns a session whose stop()
 * writes nothing: profiling is never a reason for the program to fail.
 * `owner`: who started it (see withOwnerDefaults); `rspackVersion`: when the starter knows it.
 */
function startSession(options, { owner, rspackVersion: knownRspackVersion } = {}) {
  const started = process.hrtime.bigint();
  const warn = stderrWarn(options.quiet);
  const { binding, error } = loadNative();
  let nativeSession = null;
  let offReason = null;
  if (!binding) {
    offReason = error.message;
    warn(offReason);
  } else {
    try {
      nativeSession = binding.start({ frequency: options.frequency, signal: options.signal, maxSamples: options.maxSamples, maxDurationMs: options.maxDuration, mode: options.mode, wallFrequency: options.wallFrequency, timer: options.timer });
    } catch (e) {
      offReason = `profiling is off: ${e.message}`;
      warn(offReason);
    }
  }
  if (nativeSession && nativeSession.timerFallback) warn(`option \`timer\`: '${options.timer}' is not available, the sampler thread times samples instead: ${nativeSession.timerFallback}`);
  const session = new Session(options, nativeSession, warn, withOwnerDefaults(owner, options), knownRspackVersion);
  if (nativeSession && options.rspackSpans) session.rspackSpans = requestRspackSpans(binding, warn);
  // stop() hands it back with its result, so a caller that reads warnings learns why nothing came.
  session.offReason = offReason;
  session.startMs = (Number(loadNs) / 1e6) + msSince(started);
  loadNs = 0n;
  if (nativeSession) {
    globalThis[CURRENT] = session;
    // Spans belong to the session they ended in: a watcher's plugin records between sessions too
    // (a session may start in the middle of a build), and what ended before now is not this one's.
    sharedSpans().reset();
    session.guard = guardSession(
      (reason, exiting) => session._writeAtExit(reason, exiting),
      (code) => (code ? `the process exited with code ${code}` : session.owner.exitReason),
      (ending) => session.native.setSignalEnding?.(ending),
    );
    armSignalExport(session, warn);
    // Temp files a writer killed mid-write left (crates/core/src/profile_dir.rs).
    binding.removeStaleTempsLater(options.outDir);
  }
  return session;
}

/** For the plugin, when applied: see `prepareSampler` (lib/native.js); nothing while a session runs. */
function prepareSession() {
  if (!current()) prepareSampler();
}

module.exports = { startSession, prepareSession, current, stderrWarn, PROBE_VERSION };
