'use strict';
// `require('rspack-perfprobe/register')` (or `node --require`, as the CLI sets up): profiles the
// whole process, configured by PERFPROBE_* environment variables, and writes the profile when the
// process exits: normally, through process.exit(), an uncaught exception, SIGINT or SIGTERM.
//
// PERFPROBE_ON_DEMAND=1: nothing is sampled until the process receives SIGUSR2; that starts a
// session, the next SIGUSR2 stops it and writes its folder, and so on (`kill -USR2 <pid>` on a dev
// server around the rebuild to look at). maxDuration / maxSamples end a session by themselves.

const { REGISTERED } = require('./keys');
const { isMainThread } = require('worker_threads');

const TOGGLE_SIGNAL = 'SIGUSR2';

function register() {
  // NODE_OPTIONS preloads this into worker_threads too. The sampler is process-wide and already
  // samples every worker; a second start would only be refused with a warning.
  if (!isMainThread) return;
  if (globalThis[REGISTERED]) return;
  globalThis[REGISTERED] = true;

  const { optionsFromEnv, envValue, checkEnv } = require('./options');
  let options;
  const warn = (m) => {
    if (!options || !options.quiet) process.stderr.write(`[perfprobe] warning: ${m}\n`);
  };
  let onDemand = false;
  try {
    if (envValue('PERFPROBE_DISABLE')) return;
    checkEnv();
    onDemand = envValue('PERFPROBE_ON_DEMAND');
    options = optionsFromEnv();
  } catch (e) {
    warn(`profiling is off: ${e.message}`);
    // SIGUSR2 was meant for the probe (on demand asked for, or a value that is not a clear "off"):
    // without a listener its default action would end the process.
    const asked = process.env.PERFPROBE_ON_DEMAND;
    if (asked && asked !== '0' && asked !== 'false') process.on(TOGGLE_SIGNAL, () => warn(`profiling is off: ${e.message}`));
    return;
  }
  // The sample store is built on a thread of its own while the rest of the probe loads: the
  // session's start on the JS thread was 2.7 ms longer building it there.
  if (!onDemand) require('./native').prepareSampler();
  const { startSession } = require('./session');
  const owner = {
    kind: 'register',
    reportFile: process.env.PERFPROBE_REPORT_FILE || undefined,
    // The whole process was profiled when it ends by itself with 0: not partial.
    exitReason: onDemand ? 'the process exited before the second SIGUSR2' : null,
    // Only the folder's name is reported at exit: the files can be written during node's teardown.
    writeDuringTeardown: true,
  };

  /**
   * Stops `session` off the JS thread (a dev server keeps serving) and names the folder: each
   * warning was printed once by the session that met it.
   */
  const stopAndReport = (session) => session.stop().then((result) => session.announce(result), (e) => warn(`the profile was not written: ${e.message}`));

  /** Starts a session; `onBound()` is called when maxDuration/maxSamples ended it. */
  const begin = (onBound) => {
    const session = startSession(options, { owner });
    if (!session.running) return null;
    session.onFinished(onBound);
    return session;
  };

  if (onDemand) {
    // Each SIGUSR2 flips whether a session is wanted; `settle` brings the sampler there, one step at
    // a time: a start waits until the last profile is written (the sampler is released then), and a
    // start and a stop that both arrive meanwhile cancel out. However fast the signals come, the
    // session alternates with them and none is left running unowned.
    let wanted = false;
    let session = null;
    let writing = null;
    const settle = () => {
      if (writing) return;
      if (wanted && !session) {
        session = begin(() => {
          // A bound ended it: it is written now, and the next SIGUSR2 starts a new one.
          wanted = false;
          settle();
        });
        if (!session) wanted = false;
        else if (!options.quiet) process.stderr.write(`[perfprobe] profiling started; send ${TOGGLE_SIGNAL} again to stop and write it\n`);
      } else if (!wanted && session) {
        const stopping = session;
        session = null;
        writing = stopAndReport(stopping).then(() => {
          writing = null;
          settle();
        });
      }
    };
    process.on(TOGGLE_SIGNAL, () => {
      wanted = !wanted;
      settle();
    });
  } else {
    const session = begin(() => stopAndReport(session));
    if (!session) return;
  }

  if (envValue('PERFPROBE_LABELS')) {
    require('./attach/compilers').attachToRspackCompilers(options, warn);
  }
}

module.exports = { register };
