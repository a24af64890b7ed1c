'use strict';
// Process-wide counters for the Chrome trace, read on a timer that never keeps the process alive:
// memory (RSS, V8's heap: only V8 can tell the heap) and the JS thread's event-loop lag (how late
// the loop runs what is queued: the floor of how long a Rust->JS call waits before it starts).

const { monitorEventLoopDelay } = require('perf_hooks');

const INTERVAL_MS = 100;
/**
 * How often the lag monitor's timer fires. Not the probe's rate: each firing wakes the JS thread,
 * which in an Rspack build mostly waits for Rust. An idle node process on the development VM spent
 * 2.4% of a core on it at 1 ms (the resolution at 999 Hz), 1% at 10 ms (99 Hz), 0.4% at 20 ms and
 * 0.16% at 50 ms; 20 delays a second still give a build's lag percentiles from hundreds of them.
 */
const LAG_RESOLUTION_MS = 50;
/**
 * Lag points are taken every this many memory points: the histogram's mean walks all its buckets
 * (150 µs a read, measured in a react N=7000 build: 9 ms of the JS thread at every 100 ms).
 */
const LAG_EVERY = 10;
/** Ten hours at the interval: beyond it the counters stop growing (the trace keeps the start). */
const MAX_POINTS = 360000;

/**
 * The lag histogram, kept for the process and reset per session. Each histogram holds ~370 kB of
 * native memory that node frees only when V8 collects its JS object, and V8 does not count that
 * memory, so it rarely hurries: a histogram per session grew a 50-session process by 5-16 MB
 * (heaptrack: 45 of them alive at once), which a watch-mode build would keep paying.
 */
let idleHistogram = null;

function leaseHistogram() {
  const loop = idleHistogram || monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  // Sessions run one at a time; one that overlapped would get a histogram of its own.
  idleHistogram = null;
  loop.reset();
  loop.enable();
  return loop;
}

function returnHistogram(loop) {
  loop.disable();
  idleHistogram = loop;
}

const mb = (bytes) => Math.round(bytes / 1024 / 10.24) / 100;
const msOf = (ns) => Math.round(ns / 1e4) / 100;

function lagOf(loop) {
  try {
    if (loop.count === 0) return null;
    return { samples: loop.count, resolutionMs: LAG_RESOLUTION_MS, meanMs: msOf(loop.mean), p50Ms: msOf(loop.percentile(50)), p99Ms: msOf(loop.percentile(99)), maxMs: msOf(loop.max) };
  } catch {
    return null;
  }
}

/**
 * Starts reading; `stop()` returns the `C` events, and `lag()` the event-loop lag over the whole
 * session.
 */
function startProcessCounters() {
  const events = [];
  // One histogram for the whole session; each counter point is the mean of the delays recorded
  // since the previous point (from the running count and mean).
  const loop = leaseHistogram();
  let seen = { count: 0, sum: 0 };
  let reads = 0;
  const read = (final) => {
    const ts = Number(process.hrtime.bigint() / 1000n);
    const m = process.memoryUsage();
    const common = { cat: 'counters', ph: 'C', pid: process.pid, tid: 0, ts };
    events.push({ ...common, name: 'memory MB', args: { rss: mb(m.rss), jsHeapUsed: mb(m.heapUsed), jsHeapTotal: mb(m.heapTotal), external: mb(m.external) } });
    if (reads++ % LAG_EVERY !== 0 && !final) return;
    const now = { count: loop.count, sum: loop.count ? loop.mean * loop.count : 0 };
    if (now.count > seen.count) {
      events.push({ ...common, name: 'event loop lag ms', args: { mean: msOf((now.sum - seen.sum) / (now.count - seen.count)) } });
    }
    seen = now;
  };
  // A timer callback that threw would take the process down: counters are never worth that.
  const take = (final = false) => {
    if (events.length >= MAX_POINTS) return;
    try {
      read(final);
    } catch {}
  };
  take();
  const timer = setInterval(take, INTERVAL_MS);
  timer.unref();
  let stopped = false;
  let finalLag = null;
  return {
    stop() {
      if (stopped) return [];
      stopped = true;
      clearInterval(timer);
      take(true);
      finalLag = lagOf(loop);
      returnHistogram(loop);
      return events;
    },
    /** Lag over the session so far: what the summary reports (`interop.eventLoopLag`). */
    lag() {
      return stopped ? finalLag : lagOf(loop);
    },
  };
}

module.exports = { startProcessCounters };
