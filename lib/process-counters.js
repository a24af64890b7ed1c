'use strict';
// What only the JS thread can tell, for the Chrome trace: V8's heap and the event-loop lag (how
// late the loop runs what is queued: the floor of how long a Rust->JS call waits before it starts).
// RSS is read by the native sampler thread, which wakes anyway.
//
// Points are taken when the JS thread runs anyway (at the edges of the spans it records, no oftener
// than POINT_EVERY_NS) and at the start and end of the session, never on a timer: a timer that woke
// the JS thread every 100 ms to read process.memoryUsage() cost it 19 ms of CPU in a 6.6 s react
// N=7000 build (Node 20, the 2-vCPU development VM), most of it the wake-ups. The heap only changes
// while JS runs, so a build's quiet stretches lose no point that would differ.

const { monitorEventLoopDelay } = require('perf_hooks');
const v8 = require('v8');
const { PROCESS_COUNTERS: ACTIVE } = require('./keys');

/** Heap points at most this often (ns). */
const POINT_EVERY_NS = 100_000_000n;
/**
 * Lag points at most this often (ns): the histogram's mean walks all its buckets (150 µs a read,
 * measured in a react N=7000 build).
 */
const LAG_EVERY_NS = 1_000_000_000n;
/**
 * How often the lag monitor's timer fires. Not the probe's rate: each firing wakes the JS thread,
 * which in an Rspack build mostly waits for Rust. An idle node process on the development VM spent
 * 2.4% of a core on it at 1 ms (the resolution at 999 Hz), 1% at 10 ms (99 Hz), 0.4% at 20 ms and
 * 0.16% at 50 ms; 20 delays a second still give a build's lag percentiles from hundreds of them.
 * Not slower: node records no delay for the timer's first run, so at 100 ms a JS-loader build
 * whose loop stalled 1.1 s from its start recorded nothing (at 50 ms, the stall).
 */
const LAG_RESOLUTION_MS = 50;
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
/**
 * The histogram records the whole interval between two runs of its timer (a quiet loop reads
 * 50 ms at a 50 ms resolution): the lag is what exceeds the resolution.
 */
const lagMsOf = (intervalNs) => msOf(Math.max(0, intervalNs - LAG_RESOLUTION_MS * 1e6));

function lagOf(loop) {
  try {
    if (loop.count === 0) return null;
    return { samples: loop.count, resolutionMs: LAG_RESOLUTION_MS, meanMs: lagMsOf(loop.mean), p50Ms: lagMsOf(loop.percentile(50)), p99Ms: lagMsOf(loop.percentile(99)), maxMs: lagMsOf(loop.max) };
  } catch {
    return null;
  }
}

/**
 * Takes a point for the running session, if one is due: called at span edges, where the JS thread
 * runs anyway, with the edge's time (process.hrtime.bigint()). The recorder is process-wide (the
 * span recorder is, and may be another copy's than the session's): a lookup and a compare when no
 * point is due.
 */
function pointIfDue(nowNs) {
  const active = globalThis[ACTIVE];
  if (active && nowNs >= active.nextNs) active.take(nowNs, false);
}

/**
 * Starts recording; `stop()` returns the `C` events, and `lag()` the event-loop lag over the whole
 * session.
 */
function startProcessCounters() {
  const events = [];
  // One histogram for the whole session; each lag point is the mean of the delays recorded since
  // the previous point (from the running count and mean).
  const loop = leaseHistogram();
  let seen = { count: 0, sum: 0 };
  let lagDueNs = 0n;
  const read = (nowNs, final) => {
    const ts = Number(nowNs / 1000n);
    const h = v8.getHeapStatistics();
    const common = { cat: 'counters', ph: 'C', pid: process.pid, tid: 0, ts };
    events.push({ ...common, name: 'JS heap MB', args: { used: mb(h.used_heap_size), total: mb(h.total_heap_size), external: mb(h.external_memory) } });
    if (nowNs < lagDueNs && !final) return;
    lagDueNs = nowNs + LAG_EVERY_NS;
    const now = { count: loop.count, sum: loop.count ? loop.mean * loop.count : 0 };
    if (now.count > seen.count) {
      events.push({ ...common, name: 'event loop lag ms', args: { mean: lagMsOf((now.sum - seen.sum) / (now.count - seen.count)) } });
    }
    seen = now;
  };
  const recorder = {
    nextNs: 0n,
    take(nowNs, final) {
      recorder.nextNs = nowNs + POINT_EVERY_NS;
      if (events.length >= MAX_POINTS) return;
      // Called from span edges inside the build's own calls: a counter is never worth a throw there.
      try {
        read(nowNs, final);
      } catch {}
    },
  };
  recorder.take(process.hrtime.bigint(), false);
  globalThis[ACTIVE] = recorder;
  let stopped = false;
  let finalLag = null;
  return {
    stop() {
      if (stopped) return [];
      stopped = true;
      if (globalThis[ACTIVE] === recorder) globalThis[ACTIVE] = undefined;
      recorder.take(process.hrtime.bigint(), true);
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

module.exports = { startProcessCounters, pointIfDue };
