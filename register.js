'use strict';
// `require('rspack-perfprobe/register')` (or `node --require`, as the CLI wrapper does): profiles the
// whole process, configured by PERFPROBE_* environment variables, and writes the profile when the
// process exits: normally, through process.exit(), or on SIGINT / SIGTERM.

const fs = require('fs');

function register() {
  if (process.env.PERFPROBE_DISABLE === '1') return;
  const key = Symbol.for('rspack-perfprobe.registered');
  if (globalThis[key]) return;
  globalThis[key] = true;

  const { optionsFromEnv } = require('./lib/options');
  const { startSession } = require('./lib/session');
  let options;
  try {
    options = optionsFromEnv();
  } catch (e) {
    process.stderr.write(`[perfprobe] warning: profiling is off: ${e.message}\n`);
    return;
  }
  const session = startSession(options);
  if (!session.running) return;
  if (process.env.PERFPROBE_LABELS !== '0') {
    require('./lib/auto-attach').attachToRspackCompilers(options, (m) => {
      if (!options.quiet) process.stderr.write(`[perfprobe] warning: ${m}\n`);
    });
  }

  let written = false;
  const write = (partialReason) => {
    // Someone may have stopped it already (the API hands this session to perfprobe.start() callers).
    if (written || !session.running) return;
    written = true;
    let result;
    try {
      result = session.stopSync(partialReason ? { partialReason } : {});
    } catch (e) {
      if (!options.quiet) process.stderr.write(`[perfprobe] warning: the profile was not written: ${e.message}\n`);
      return;
    }
    if (result.dir) {
      if (process.env.PERFPROBE_REPORT_FILE) {
        try {
          fs.appendFileSync(process.env.PERFPROBE_REPORT_FILE, `${result.dir}\n`);
        } catch {}
      } else if (!options.quiet) {
        process.stderr.write(`[perfprobe] profile written to ${result.dir}\n`);
      }
    }
  };

  process.on('exit', (code) => write(code ? `the process exited with code ${code}` : undefined));
  for (const signal of ['SIGINT', 'SIGTERM']) {
    const onSignal = () => {
      write(`the process received ${signal}`);
      // Keep the signal's own meaning: if nobody else listens, die of it as if we were not here.
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

register();
