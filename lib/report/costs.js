'use strict';
// The probe's own costs as one profile's summary.json measured them: what `perfprobe report` shows
// in its cost section and what the benchmark adds up into its accounted overhead.

/** V8's CPU profiler runs its own thread (ProfilerEventsProcessor, named `v8:ProfEvntProc`). */
const V8_PROFILER_THREAD = 'v8:ProfEvntProc';

/**
 * From a summary: the JS thread's waits before the first sample and after the last (`startMs`,
 * `postMs`; together `outsideMs`), the CPU of the sampler thread, the handler, the probe's other
 * threads and V8's profiler thread during the session (together `duringCpuMs`), and the JS<->Rust
 * crossings instrumented.
 */
function probeCosts(s) {
  const boundaries = (s.attribution && s.attribution.boundaries) || [];
  // The sampler thread does not sample itself and is not among them; the namer, the thread that
  // reads symbol tables ahead and the signal listener are (role `perfprobe`).
  const probeThreads = s.threads.filter((t) => t.role === 'perfprobe');
  const costs = {
    startMs: typeof s.startMs === 'number' ? s.startMs : 0,
    postMs: s.postProcessing.totalMs,
    samplerCpuMs: s.stats.samplerCpuNs / 1e6,
    handlerMs: typeof s.stats.handlerNs === 'number' ? s.stats.handlerNs / 1e6 : 0,
    probeThreadsCpuMs: probeThreads.reduce((a, t) => a + t.cpuMs, 0),
    probeThreads: probeThreads.map((t) => ({ name: t.name, cpuMs: t.cpuMs })),
    v8CpuMs: s.threads.filter((t) => t.name === V8_PROFILER_THREAD).reduce((a, t) => a + t.cpuMs, 0),
    crossings: boundaries.filter((b) => b.kind !== 'phase').reduce((a, b) => a + b.calls, 0),
  };
  return { ...costs, duringCpuMs: costs.samplerCpuMs + costs.handlerMs + costs.probeThreadsCpuMs + costs.v8CpuMs, outsideMs: costs.startMs + costs.postMs };
}

module.exports = { probeCosts };
