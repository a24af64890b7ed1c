'use strict';
// Spans of what ran on the JS thread (phases, hook taps), as Chrome trace `X` events on the clock
// the native sampler uses (process.hrtime is CLOCK_MONOTONIC), plus per-boundary call counts and
// wall time for the summary.

const { SPANS } = require('../keys');
const { pointIfDue } = require('../process-counters');

/** Spans kept per session at most; beyond it spans are counted, not stored. */
const MAX_SPANS = 200000;

const nowNs = () => process.hrtime.bigint();

const us = (ns) => Number(ns / 1000n) + Number(ns % 1000n) / 1000;

class Spans {
  constructor() {
    /** Hooks that could not be instrumented, with the reason (reported in every summary). */
    this.skippedHooks = [];
    this.reset();
  }

  /** Boundary crossings shorter than this are counted but not written as trace spans. */
  minSpanUs = 100;

  /** Ids of asynchronous spans (`b`/`e` pairs). */
  asyncIds = 0;

  /** Forgets everything recorded (a new profile session starts). */
  reset() {
    this.events = [];
    this.dropped = 0;
    this.boundaries = new Map();
    this.open = null;
  }

  begin(hook, plugin) {
    return { hook, plugin, start: nowNs() };
  }

  /** Ends a tap: counted, and always a trace event. */
  end(span) {
    const durNs = this.count(`${span.hook}\u0000${span.plugin}`, () => ({ kind: 'tap', hook: span.hook, plugin: span.plugin }), span);
    this.push({ name: span.plugin, cat: 'tap', ph: 'X', ts: us(span.start), dur: us(durNs), pid: process.pid, tid: process.pid, args: { hook: span.hook } });
  }

  /**
   * Ends a boundary crossing (a binding call, a loader run): always counted with its wall time;
   * written as a trace event only when it lasted at least `minSpanUs` (a build makes 100k+ tiny
   * crossings that would only bloat the trace).
   */
  endBoundary(span, kind, minSpanUs = this.minSpanUs) {
    // An asynchronous call (callback, promise) is timed to completion but did not block the JS
    // thread: kept apart from synchronous calls of the same function.
    const key = `${kind}\u0000${span.plugin}${span.async ? '\u0000async' : ''}`;
    const durNs = this.count(key, () => ({ kind, name: span.plugin, folded: 0, ...(span.async ? { async: true } : {}) }), span);
    if (Number(durNs) >= minSpanUs * 1000) {
      const event = { name: span.plugin, cat: span.hook, pid: process.pid, tid: process.pid, args: { kind } };
      if (span.async) {
        // Asynchronous calls overlap each other and the JS thread's own work: Chrome's async events
        // (a track of their own in Perfetto and DevTools), not X slices that must nest.
        const id = ++this.asyncIds;
        this.push({ ...event, ph: 'b', id, ts: us(span.start) });
        this.push({ ...event, ph: 'e', id, ts: us(span.start + durNs) });
      } else {
        this.push({ ...event, ph: 'X', ts: us(span.start), dur: us(durNs) });
      }
    } else {
      this.boundaries.get(key).folded++;
    }
  }

  /**
   * Adds one call and its wall time to the boundary `key` (created by `init`); returns the duration.
   * The JS thread runs here anyway: the session's heap counter takes its point here when one is due.
   */
  count(key, init, span, endNs = nowNs()) {
    pointIfDue(endNs);
    const durNs = endNs - span.start;
    let b = this.boundaries.get(key);
    if (!b) {
      b = { ...init(), calls: 0, wallNs: 0n };
      this.boundaries.set(key, b);
    }
    b.calls++;
    b.wallNs += durNs;
    return durNs;
  }

  /** A phase span on the process row (phases are process-wide). */
  phase(name, startNs, endNs) {
    // Counted like a boundary too, so the summary has each phase's wall time beside its CPU.
    this.count(`phase\u0000${name}`, () => ({ kind: 'phase', name }), { start: startNs }, endNs);
    this.push({ name, cat: 'phase', ph: 'X', ts: us(startNs), dur: us(endNs - startNs), pid: process.pid, tid: 0 });
  }

  push(event) {
    if (this.events.length < MAX_SPANS) this.events.push(event);
    else this.dropped++;
  }

  /** What the exporters get: trace events and boundary statistics. */
  take() {
    const boundaries = [...this.boundaries.values()]
      .map((b) => ({ ...b, wallMs: Number(b.wallNs) / 1e6, wallNs: undefined }))
      .sort((a, b) => b.wallMs - a.wallMs);
    const out = { traceEvents: this.events, attribution: { boundaries, droppedSpans: this.dropped, skippedHooks: [...this.skippedHooks] } };
    this.reset();
    return out;
  }
}

/** The process's span recorder: boundaries (binding calls) are process-wide, so is the recorder. */
function sharedSpans() {
  globalThis[SPANS] = globalThis[SPANS] || new Spans();
  return globalThis[SPANS];
}

module.exports = { Spans, sharedSpans, nowNs };
