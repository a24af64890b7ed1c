'use strict';
// A running session is written however the process ends before its owner stops it: process.exit(),
// an uncaught exception, the event loop running dry, SIGINT or SIGTERM. The process must end as it
// would without the probe: the exit code is left alone, and a signal nobody else listens to is
// raised again once the profile is written, so the process still dies of it.
//
// The listeners exist only while a session runs: between the builds of a watcher, SIGINT finds no
// listener of ours and keeps its default action untouched.

const SIGNALS = ['SIGINT', 'SIGTERM'];

/** A death by signal runs no `atexit` handler: the perf map `perfprobe --mixed` asked for goes now. */
function removePerfMapIfOurs() {
  try {
    const { binding } = require('./native').loadNative();
    if (binding && binding.removePerfMapIfOurs) binding.removePerfMapIfOurs();
  } catch {}
}

/**
 * Guards `session` until it is stopped. `write(partialReason, exiting)` writes it (called at most
 * once, only while the session runs; `exiting` at the exit event, false for a signal, which must
 * find the files written before it kills the process); `exitReason(code)` gives the partial reason
 * for an exit with that code (undefined: the profile is complete). Returns `{ release(), stopping(promise) }`:
 * `stopping` tells the guard an asynchronous stop is writing, so a signal waits for that write
 * before the process dies; `release` removes the listeners.
 */
function guardSession(write, exitReason, endingChanged = () => {}) {
  let released = false;
  let inFlight = null;

  // The signals the probe re-raises after writing (nobody else listens): the addon, writing for a
  // busy JS thread, ends the process on the same ones. `adding`: a listener about to be added.
  const ending = (adding) => SIGNALS.filter((s) => process.listenerCount(s) - (released ? 0 : 1) + (s === adding ? 1 : 0) === 0);
  const onListener = (adding) => (event) => {
    // While the session is being written (or after), the addon has nothing left to end.
    if (released || inFlight || !SIGNALS.includes(event)) return;
    try {
      endingChanged(ending(adding ? event : undefined));
    } catch {}
  };
  const onNewListener = onListener(true);
  const onRemoveListener = onListener(false);

  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', onExit);
    for (const signal of SIGNALS) process.removeListener(signal, onSignal[signal]);
    process.removeListener('newListener', onNewListener);
    process.removeListener('removeListener', onRemoveListener);
  };

  function onExit(code) {
    release();
    // An asynchronous write still in flight now is lost with the process: its temp files are
    // removed by the next session in the same outDir.
    // `exiting`: the process ends through exit(), so the write may run during node's teardown.
    if (!inFlight) write(exitReason(code), true);
  }

  const onSignal = {};
  for (const signal of SIGNALS) {
    onSignal[signal] = () => {
      release();
      const reraise = () => {
        // Someone else listens: the signal is theirs to act on, as it would be without the probe.
        if (process.listenerCount(signal) !== 0) return;
        removePerfMapIfOurs();
        process.kill(process.pid, signal);
      };
      if (inFlight) {
        // The session is being written on a worker thread: dying now would leave half a folder.
        inFlight.then(reraise, reraise);
        return;
      }
      write(`the process received ${signal}`);
      reraise();
    };
  }

  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal[signal]);
  process.on('newListener', onNewListener);
  process.on('removeListener', onRemoveListener);

  return {
    release,
    ending: () => ending(),
    stopping(promise) {
      inFlight = promise;
      const done = () => {
        inFlight = null;
        release();
      };
      promise.then(done, done);
    },
  };
}

module.exports = { guardSession };
