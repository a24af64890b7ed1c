'use strict';
// V8's own CPU profiler on the JS thread, in this process through node:inspector. The native
// sampler unwinds through JIT code but cannot name it; V8 can. Its samples are never counted as
// CPU: the native ones are, and V8's stacks only name their JS part (crates/core/src/js/graft.rs).

const { isMainThread } = require('worker_threads');
const { loadNative } = require('./native');

/** V8 samples at the native sampler's rate, never faster than `--cpu-prof`'s default (1 ms). Each
 * V8 sample costs a wake-up of V8's profiler thread and a SIGPROF with a stack walk on the JS
 * thread: sampling 4x faster than the native rate, as this did first, cost 235 ms of CPU in a 7 s
 * build at 99 Hz (the JS thread's CPU +25%) against 45 ms at the native rate, to name a JS stack
 * 0.6 ms rather than 2.5 ms away from the native sample on average. */
function intervalFor(frequency) {
  return Math.max(1000, Math.round(1e6 / frequency));
}

/** V8 signals the JS thread every interval even while it waits for events; with SIGPROF blocked
 * during the wait (libuv's option for sampling profilers), an idle JS thread is no longer woken
 * for samples nobody uses. Once per process: the loop keeps the option. */
let sigprofBlocked = false;
function blockSigprofWhilePolling(warn) {
  if (sigprofBlocked) return;
  sigprofBlocked = true;
  const { binding } = loadNative();
  try {
    if (binding && !binding.blockSigprofWhilePolling()) warn("V8's profiler will wake the idle JS thread: libuv refused to block SIGPROF while polling");
  } catch (e) {
    warn(`V8's profiler will wake the idle JS thread: ${e.message}`);
  }
}

// A session connected in the same thread answers synchronously: stop() works in exit handlers.
function post(session, method, params) {
  let answer;
  session.post(method, params, (error, result) => {
    answer = { error, result };
  });
  if (!answer) throw new Error(`the inspector did not answer ${method}`);
  if (answer.error) throw answer.error;
  return answer.result;
}

// One inspector session for the process, kept between profiling sessions: a watcher profiles every
// rebuild, and a new session each time left V8's profiler state behind (200 kB a session).
let shared = null;

function sharedSession() {
  if (!shared) {
    // Loaded here: only the CPU-profiler source needs it (1.5 ms of every start otherwise).
    const inspector = require('inspector');
    const session = new inspector.Session();
    session.connect();
    post(session, 'Profiler.enable');
    shared = session;
  }
  return shared;
}

/**
 * Starts V8's profiler on this (the main) thread; returns `{ stop() -> JSON string | null }`, or
 * null when it cannot run (warned).
 */
function startV8Profiler(frequency, warn) {
  if (!isMainThread) return null;
  const intervalUs = intervalFor(frequency);
  let session;
  try {
    session = sharedSession();
    blockSigprofWhilePolling(warn);
    post(session, 'Profiler.setSamplingInterval', { interval: intervalUs });
    post(session, 'Profiler.start');
  } catch (e) {
    warn(`JS stacks are off: V8's profiler did not start (${e.message})`);
    return null;
  }
  let stopped = false;
  return {
    intervalUs,
    /** The profile as `{ intervalUs, profile }` JSON for the native exporter, or null. */
    stop() {
      if (stopped) return null;
      stopped = true;
      try {
        const { profile } = post(session, 'Profiler.stop');
        return JSON.stringify({ intervalUs, profile });
      } catch (e) {
        warn(`JS stacks are missing: V8's profiler did not stop cleanly (${e.message})`);
        return null;
      }
    },
  };
}

const JS_SOURCES = ['code-events', 'cpu-profiler'];

/**
 * V8's listing of the code that exists is a walk of its heap: 8-14 ms of the JS thread with Rspack
 * loaded, on the build's critical path when done at start. It is done instead when the JS thread
 * would wait for Rust anyway (after a compiler's last `make` tap), after this long at the latest,
 * and at stop otherwise. V8 reports code from then on; samples taken before are named from the
 * listing (crates/core/src/js/jit.rs `start`, `list_existing`).
 */
const LIST_AT_THE_LATEST_MS = 2000;

/** The binding of a session whose existing code V8 has not listed yet (no session: null). */
let listingPending = null;
/** The binding of a session whose code V8 does not report yet (see startJsNames). */
let reportingPending = null;

function listExistingCode() {
  const binding = listingPending;
  listingPending = null;
  try {
    binding?.listCodeEvents();
  } catch {}
}

/** Lists the existing code once the JS thread's current task ends: call where it is about to wait. */
function listExistingCodeSoon() {
  if (listingPending) setImmediate(listExistingCode);
}

/** A build starts: from here V8 reports the code it makes, if it did not yet. */
function reportCodeFromNow() {
  const binding = reportingPending;
  reportingPending = null;
  try {
    binding?.reportCodeEvents();
  } catch {}
}

/**
 * Names the JS thread's JS frames for the session just started; returns `{ stop() -> string | null,
 * reason }` (V8's profile for the exporter, null when the JS stacks come with the native samples;
 * why this source, for the summary), or null when nothing can (warned).
 *
 * By default each native sample of the JS thread takes its JS stack in perfprobe's own signal
 * handler (V8's `Isolate::GetStackSample`), named from V8's code events: no profiler thread, no
 * second signal, the JS stack of the sample's own moment. On a V8 whose structures perfprobe does
 * not know, or with PERFPROBE_JS_SOURCE=cpu-profiler, V8's CPU profiler runs instead.
 *
 * `reportCode` says from when V8 reports the code it makes: `now`; `at-build`, once a build starts
 * (reportCodeFromNow) or the code is listed; `at-listing`. Each report costs the JS thread the
 * code's name, script and line: register.js starts its session before Rspack loads, and V8
 * naming each function of Rspack's CLI and core as it compiled them cost the CLI's start ~13 ms
 * (docs/js-stacks.md); the plugin's session starts at `beforeRun`, and what Rspack compiles
 * until `make` is listed soon after. Samples taken before are named from the listing; the API's
 * session (`start()`), which may run any script, has V8 report from its start, and so does every
 * session on a V8 whose listing leaves out optimized code (crates/core/src/js/jit.rs).
 */
function startJsNames(frequency, warn, { reportCode = 'now' } = {}) {
  if (!isMainThread) return null;
  let source = process.env.PERFPROBE_JS_SOURCE || 'code-events';
  if (!JS_SOURCES.includes(source)) {
    warn(`PERFPROBE_JS_SOURCE is ${JSON.stringify(source)}; accepted: ${JS_SOURCES.join(', ')}. Using code-events`);
    source = 'code-events';
  }
  let reason = `PERFPROBE_JS_SOURCE=${source}`;
  if (source === 'code-events') {
    const { binding } = loadNative();
    const refused = binding ? binding.startCodeEvents(process.versions.v8, reportCode === 'now') : 'no native binding';
    if (refused == null) {
      listingPending = binding;
      reportingPending = reportCode === 'at-build' ? binding : null;
      // Not every session has a compiler whose `make` says when the JS thread waits.
      setTimeout(listExistingCode, LIST_AT_THE_LATEST_MS).unref();
      const stop = () => {
        // Stopping lists what was not listed yet (the addon's stop): nothing is pending any more.
        if (listingPending === binding) listingPending = null;
        if (reportingPending === binding) reportingPending = null;
        return null;
      };
      return { stop, reason: `V8 ${process.versions.v8} is one whose structures perfprobe knows` };
    }
    reason = refused;
  }
  const profiler = startV8Profiler(frequency, warn);
  return profiler && Object.assign(profiler, { reason });
}

module.exports = { startJsNames, startV8Profiler, intervalFor, listExistingCodeSoon, reportCodeFromNow };
