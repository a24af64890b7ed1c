'use strict';
// The probe's wrappers (taps, loaders, binding calls) sit between a user's function and its caller,
// so an error raised inside would carry the probe's frames in its stack, and V8's stack trace
// limit (10 frames by default) would spend on them frames the user needs. While a wrapped call
// runs, the limit gets room for the probe's frames; an error that comes out of the call (thrown,
// rejected, or handed to a callback) loses the probe's frames and is cut to the program's own
// limit: the stack it would have printed without the probe.

const { OWN_FRAME } = require('../own-code');

/** More than the probe's frames in any nesting of wrappers (a tap calling a binding: ~10). */
const ROOM = 32;
const FRAME = /^\s+at /;

let depth = 0;
/** Error.stackTraceLimit as the program set it (read whenever no wrapped call is running). */
let programLimit = Error.stackTraceLimit;

const ours = (line) => FRAME.test(line) && line.includes(OWN_FRAME);

/**
 * Removes the probe's frames from `error.stack` and cuts it to the program's limit. Anything that
 * is not an Error with a string stack, or whose stack cannot be set, is left as it is.
 */
function scrubStack(error) {
  try {
    if (!(error instanceof Error)) return;
    const stack = error.stack;
    if (typeof stack !== 'string' || !stack.includes(OWN_FRAME)) return;
    const lines = stack.split('\n');
    const kept = [];
    let frames = 0;
    const limit = typeof programLimit === 'number' && programLimit >= 0 ? programLimit : Infinity;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (ours(line)) continue;
      // AsyncLocalStorage.run is node's frame but the probe's call (labels.runAsync): in
      // node:async_hooks on Node 20 and 22, in async_context_frame from Node 24.
      if (/^\s+at AsyncLocalStorage\.run \(node:(async_hooks|internal\/async_local_storage\/)/.test(line) && i + 1 < lines.length && ours(lines[i + 1])) continue;
      if (FRAME.test(line) && frames++ >= limit) continue;
      kept.push(line);
    }
    error.stack = kept.join('\n');
  } catch {
    // A frozen error, a throwing getter: its stack stays as it was.
  }
}

/** `fn.apply(thisArg, args)` with room in the stack trace limit for the probe's frames. */
function callThrough(fn, thisArg, args) {
  let raised = 0;
  if (depth === 0) {
    programLimit = Error.stackTraceLimit;
    if (typeof programLimit === 'number' && programLimit > 0 && programLimit < Infinity) {
      raised = programLimit + ROOM;
      Error.stackTraceLimit = raised;
    }
  }
  depth++;
  try {
    return fn.apply(thisArg, args);
  } catch (e) {
    scrubStack(e);
    throw e;
  } finally {
    depth--;
    // The program may have set its own limit meanwhile: that one stays.
    if (raised && Error.stackTraceLimit === raised) Error.stackTraceLimit = programLimit;
  }
}

module.exports = { callThrough, scrubStack };
