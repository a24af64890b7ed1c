'use strict';
// `require('rspack-perfprobe/register')` (or `node --require`, as the CLI sets up): profiles the
// whole process, configured by PERFPROBE_* environment variables, and writes the profile when the
// process exits: normally, through process.exit(), an uncaught exception, SIGINT or SIGTERM.
//
// PERFPROBE_ON_DEMAND=1: nothing is sampled until the process receives SIGUSR2; that starts a
// session, the next SIGUSR2 stops it and writes its folder, and so on (`kill -USR2 <pid>` on a dev
// server around the rebuild to look at). maxDuration / maxSamples end a session by themselves.

globalThis[Symbol.for('rspack-perfprobe.load-started')] ??= process.hrtime.bigint();
const fs = require('fs');
const { isMainThread } = require('worker_threads');

const TOGGLE_SIGNAL = 'SIGUSR2';

function register() {
  if (process.env.PERFPROBE_DISABLE === '1') return;
  // NODE_OPTIONS preloads this into worker_threads too. The sampler is process-wide and already
  // samples every worker; a second start would only be refused with a warning.
  if (!isMainThread) return;
  const key = Symbol.for('rspack-perfprobe.registered');
  if (globalThis[key]) return;
  globalThis[key] = true;

  const { optionsFromEnv } = require('./lib/options');
  const { startSession } = require('./lib/session');
  const warn = (m) => {
    if (!options || !options.quiet) process.stderr.write(`[perfprobe] warning: ${m}\n`);
  };
  let options;
  try {
    options = optionsFromEnv();
    if (!['', '0', '1'].includes(process.env.PERFPROBE_ON_DEMAND || '')) {
      throw new TypeError(`PERFPROBE_ON_DEMAND is ${JSON.stringify(process.env.PERFPROBE_ON_DEMAND)}; accepted: 0 or 1`);
    }
  } catch (e) {
    warn(`profiling is off: ${e.message}`);
    return;
  }
  const onDemand = process.env.PERFPROBE_ON_DEMAND === '1';

  const report = (result) => {
    for (const w of result.warnings) warn(w);
    if (!result.dir) return;
    // A script collecting the folders of every process it started (one line each) asks for them in a file.
    if (process.env.PERFPROBE_REPORT_FILE) {
      try {
        fs.appendFileSync(process.env.PERFPROBE_REPORT_FILE, `${result.dir}\n`);
      } catch {}
    } else if (!options.quiet) {
      process.stderr.write(`[perfprobe] profile written to ${result.dir}\n`);
    }
  };

  let writing = null;
  /** Stops `session` off the JS thread (a dev server keeps serving) and reports the folder. */
  const stopAndReport = (session) => {
    writing = session.stop().then(report, (e) => warn(`the profile was not written: ${e.message}`));
    writing.then(() => (writing = null));
    return writing;
  };

  const begin = () => {
    const session = startSession(options);
    if (!session.running) return null;
    // The whole process was profiled when it ends by itself with 0: not partial.
    session.exitReason = (code) => (code ? `the process exited with code ${code}` : onDemand ? 'the process exited before the second SIGUSR2' : undefined);
    session.onExitWritten = report;
    // Only the folder's name is reported at exit: the files can be written during node's teardown.
    session.writeDuringTeardown = true;
    session.onFinished(() => stopAndReport(session));
    return session;
  };

  if (onDemand) {
    let session = null;
    const toggle = () => {
      if (session && session.running) {
        const s = session;
        session = null;
        stopAndReport(s);
        return;
      }
      // Two signals in quick succession: the last profile is still being written (the sampler is
      // released when that ends); start once it is done.
      const start = () => {
        session = begin();
        if (session && !options.quiet) process.stderr.write(`[perfprobe] profiling started; send ${TOGGLE_SIGNAL} again to stop and write it\n`);
      };
      if (writing) writing.then(start);
      else start();
    };
    process.on(TOGGLE_SIGNAL, toggle);
  } else if (!begin()) {
    return;
  }

  if (process.env.PERFPROBE_LABELS !== '0') {
    require('./lib/attach/compilers').attachToRspackCompilers(options, warn);
  }
}

register();
