'use strict';
// What start() hands each caller. The sampler is process-wide, so callers whose start() and stop()
// overlap share one session; each gets a handle of its own, stoppable without breaking the others:
//
// - The last open handle's stop() writes the session's folder.
// - A stop() while other handles are open writes what was sampled since the session started (all of
//   that caller's time, and any earlier) and sampling goes on for the others in a new session, so
//   each sample lands in one folder only. A handle that lived through such a split lists the folders
//   written before its own in `result.earlier`.
// - A session someone else owns (register.js or the CLI, a PerfprobePlugin's build) is not the
//   caller's to stop: the handle's stop() writes nothing and says who writes.

const { startSession, current } = require('./session');

/** How long a split waits for the previous sampler to let go before the new one starts (ms). */
const RESTART_WAIT_MS = 2000;

const noFiles = () => ({ pprof: null, trace: null, flamegraph: null, summary: null });
const emptyResult = (warnings) => ({ dir: null, files: noFiles(), summary: null, warnings });

/** session.stop() or stopSync(), whose "already stopped" (the process exit wrote it) becomes a result. */
function stopSession(session, sync) {
  const already = () => emptyResult(['the session was already written (the process was exiting)']);
  if (!session.running && session.native) return sync ? already() : Promise.resolve(already());
  try {
    return sync ? session.stopSync() : session.stop();
  } catch (e) {
    const r = emptyResult([e.message]);
    return sync ? r : Promise.resolve(r);
  }
}

/** The callers sharing the sampler: the owner of each session they sample into. */
class Group {
  constructor(options) {
    this.options = options;
    this.handles = new Set();
    // Quiet sessions (see restart) still name the folders the addon writes, unless the callers are quiet.
    this.owner = { kind: 'api', group: this, announceQuiet: Boolean(options.quiet) };
    this.session = startSession(options, { owner: this.owner });
  }

  /**
   * Starts the next session for the handles still open, once the stopped one's sampler is released
   * (the write takes it off the JS thread: the sampler stops when the worker thread picks it up).
   * The new session inherits the old one's contributors (plugins building now).
   */
  restart(previous, sync) {
    const tryStart = () => {
      // Quiet while retrying: a refusal is expected until the previous sampler has stopped.
      const next = startSession({ ...this.options, quiet: true }, { owner: this.owner });
      if (!next.running) return false;
      next.options = this.options;
      next.warn = previous.warn;
      for (const c of previous.contributors) next.addContributor(c);
      this.session = next;
      return true;
    };
    if (sync) {
      if (!tryStart()) previous.warn('sampling could not go on for the other start() callers: the sampler did not restart');
      return;
    }
    const deadline = Date.now() + RESTART_WAIT_MS;
    const retry = () => {
      if (this.handles.size === 0 || tryStart()) return;
      if (Date.now() > deadline) {
        previous.warn('sampling could not go on for the other start() callers: the sampler did not restart');
        return;
      }
      setTimeout(retry, 1);
    };
    setImmediate(retry);
  }
}

class Handle {
  /** @private */
  constructor(group, foreign) {
    this.group = group;
    this.foreign = foreign;
    this.stopped = false;
    this.result = null;
    /** Results of the splits this handle lived through. */
    this.earlierResults = [];
    if (group) group.handles.add(this);
  }

  /** The session this handle samples into (the latest one after a split). */
  get session() {
    return this.group ? this.group.session : this.foreign;
  }

  get running() {
    return !this.stopped && Boolean(this.session && this.session.running);
  }

  get finished() {
    return this.session ? this.session.finished : true;
  }

  async stop() {
    if (this.result) return this.result;
    this.result = this._stop(false).then(async (result) => {
      const earlier = (await Promise.all(this.earlierResults)).map((r) => r.dir).filter(Boolean);
      return earlier.length ? { ...result, earlier } : result;
    });
    return this.result;
  }

  stopSync() {
    if (this.syncResult) return this.syncResult;
    if (this.result) return emptyResult(['stop() was called on this handle already: its promise has the result']);
    const result = this._stop(true);
    const earlier = this.earlierResults.filter((r) => r && !r.then && r.dir).map((r) => r.dir);
    this.syncResult = earlier.length ? { ...result, earlier } : result;
    this.result = Promise.resolve(this.syncResult);
    return this.syncResult;
  }

  _stop(sync) {
    this.stopped = true;
    if (!this.group) {
      const r = emptyResult([`this process's profile belongs to ${describeOwner(this.foreign)}, which writes it; this start() wrote nothing of its own`]);
      return sync ? r : Promise.resolve(r);
    }
    const group = this.group;
    group.handles.delete(this);
    const session = group.session;
    if (!session.running && this.earlierResults.length) {
      // Stopped while the split's next sampler was still starting: all of it is in `earlier`.
      const r = emptyResult([]);
      return sync ? r : Promise.resolve(r);
    }
    if (group.handles.size === 0) return stopSession(session, sync);
    // Others still sample: this caller gets everything so far, they go on in a new session.
    if (!session.running) return stopSession(session, sync);
    const result = stopSession(session, sync);
    for (const other of group.handles) other.earlierResults.push(result);
    group.restart(session, sync);
    return result;
  }
}

function describeOwner(session) {
  if (session && session.owner.kind === 'plugin') return 'a PerfprobePlugin (the build it profiles)';
  return 'rspack-perfprobe/register (the CLI, `node -r`)';
}

/** A handle on the running API session, a new one, or (owned elsewhere) one that only watches it. */
function openHandle(options) {
  const running = current();
  if (running && running.owner.kind === 'api') return new Handle(running.owner.group, null);
  if (running) return new Handle(null, running);
  return new Handle(new Group(options), null);
}

module.exports = { openHandle };
