'use strict';
// `perfprobe report DIR`: a profile's summary.json as tables a person reads top to bottom: what
// was measured and how well, which threads worked, which phases/hooks/plugins/loaders/binding
// calls and functions took the CPU (or, in a wall-only profile, the wall time: running and waiting),
// and what the probe itself cost.

const { section, ms, int, pct, sampleKind } = require('./tables');
const { probeCosts } = require('./costs');
const { rspackSpanTable, crateTable } = require('./rust');

/** What timed the samples, as `summary.timer` names it. */
const TIMED_BY = {
  'sampler-thread': 'the sampler thread',
  'perf-event': 'per-thread perf-event timers',
  'cpu-clock': "per-thread CPU-clock timers at the kernel's tick",
};

/** Label keys in the order a reader narrows down: build phase, then JS-side attribution. */
const LABEL_TABLES = [
  ['phase', 'Phases'],
  ['hook', 'Hooks'],
  ['plugin', 'Plugins'],
  ['loader', 'Loaders'],
  ['binding', 'Binding calls (JS->Rust) and Rust->JS callbacks'],
];

/**
 * Calls and wall time per label value, from the plugin's boundary counts: taps by hook and by
 * plugin, loader runs (`<loader> (pitch|normal)`) by loader, binding calls by name. The `binding`
 * label of Rust->JS callbacks counts them as summary.json's `interop.rustToJs` does: every tap under
 * `callback:tap`, every loader run under `callback:loader`, the fs bridge and option callbacks by
 * their own names (`callback:fs.stat`).
 */
function boundaryTotals(attribution) {
  const totals = { hook: new Map(), plugin: new Map(), loader: new Map(), binding: new Map() };
  const add = (key, name, b) => {
    if (!name) return;
    const t = totals[key].get(name) || { calls: 0, wallMs: 0 };
    t.calls += b.calls;
    t.wallMs += b.wallMs;
    totals[key].set(name, t);
  };
  for (const b of (attribution && attribution.boundaries) || []) {
    const name = String(b.name || '');
    if (b.kind === 'tap') {
      add('hook', b.hook, b);
      add('plugin', b.plugin, b);
      add('binding', 'callback:tap', b);
    } else if (b.kind === 'rust->js' && name.startsWith('callback:')) {
      add('binding', name, b);
    } else if (b.kind === 'rust->js') {
      add('loader', name.replace(/ \((pitch|normal)\)$/, ''), b);
      add('binding', 'callback:loader', b);
    } else if (b.kind === 'js->rust') {
      add('binding', name, b);
    }
  }
  return totals;
}

function entryRows(entries, top, kind, extra = () => []) {
  return entries.slice(0, top).map((e) => [e.name, ms(kind.ms(e)), pct(e.percent), int(e.samples), ...extra(e)]);
}

/** Wall time the threads' wall samples found them running and waiting, summed; null without any. */
function wallTotals(s) {
  const withWall = s.threads.filter((t) => typeof t.wallRunningMs === 'number');
  if (!withWall.length) return null;
  return { running: withWall.reduce((a, t) => a + t.wallRunningMs, 0), waiting: withWall.reduce((a, t) => a + (t.wallWaitingMs || 0), 0), threads: withWall.length };
}

function more(entries, top, what) {
  return entries.length > top ? [`  ... ${entries.length - top} more ${what} (--top to see them)`] : [];
}

function started(unixMs) {
  const d = new Date(unixMs);
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString();
}

function header(s, dir) {
  const kind = sampleKind(s);
  const wall = wallTotals(s);
  const wallRow = wall
    ? [['sampled wall', `${ms(wall.running + wall.waiting)} ms over ${int(wall.threads)} threads: running ${ms(wall.running)} ms, waiting ${ms(wall.waiting)} ms`]]
    : [];
  const st = s.stats;
  const dropped = st.droppedStoreFull + st.lostInFlight;
  const versions = Object.entries(s.versions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const symbols = {};
  for (const m of s.modules) symbols[m.symbols] = (symbols[m.symbols] || 0) + 1;
  const rows = [
    ['profile', dir ? `${s.name} (${dir})` : s.name],
    ['started', started(s.startUnixMs)],
    ['duration', `${ms(s.durationMs)} ms`],
    ['process CPU', `${ms(s.processCpuMs)} ms (${(s.processCpuMs / Math.max(s.durationMs, 1e-9)).toFixed(2)} cores on average)`],
    ...(kind.wall ? [] : [['sampled CPU', `${ms(s.sampledCpuMs)} ms, fidelity ${s.fidelity} (sampled / threads' own CPU)`]]),
    ...wallRow,
    [
      'samples',
      `${int(s.samples)}, dropped ${int(dropped)} (store full ${int(st.droppedStoreFull)}, lost in flight ${int(st.lostInFlight)})` +
        (st.truncatedStacks ? `, truncated stacks ${int(st.truncatedStacks)}` : '') +
        (st.movedFromWaits ? `, ${int(st.movedFromWaits)} more found their thread waiting and gave their CPU to its last sample where it ran` : ''),
    ],
    ...(kind.wall
      ? []
      : [['frequency', `${s.frequency} Hz per thread CPU-second, signal ${s.signal}${s.timer ? `, timed by ${TIMED_BY[s.timer] || s.timer}` : ''}`]]),
    ...(s.wallFrequency ? [['wall frequency', `${s.wallFrequency} Hz per thread of wall-clock time, running or waiting${kind.wall ? `, signal ${s.signal}` : ''}`]] : []),
    ...(s.timerFallback ? [['timer fallback', s.timerFallback]] : []),
    ['versions', versions || '-'],
    ['modules', Object.entries(symbols).map(([k, n]) => `${n} ${k}`).join(', ') || '-'],
    ['partial', s.partial ? `yes: ${s.partialReason || 'no reason recorded'}` : 'no'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`);
}

function threads(s, top) {
  const kind = sampleKind(s);
  const wall = wallTotals(s) !== null;
  const sorted = [...s.threads].sort((a, b) => b.cpuMs - a.cpuMs);
  const rows = sorted
    .slice(0, top)
    .map((t) => [
      `${t.name} [${t.tid}]`,
      t.role,
      ms(t.cpuMs),
      ...(kind.wall ? [] : [ms(t.sampledCpuMs)]),
      ...(wall ? [ms(t.wallRunningMs), ms(t.wallWaitingMs)] : []),
      int(t.samples),
      pct(t.utilization * 100),
    ]);
  const columns = [
    { title: 'thread' },
    { title: 'role' },
    { title: 'CPU ms', right: true },
    ...(kind.wall ? [] : [{ title: 'sampled ms', right: true }]),
    ...(wall ? [{ title: 'running ms', right: true }, { title: 'waiting ms', right: true }] : []),
    { title: kind.wall ? 'wall samples' : 'samples', right: true },
    { title: 'utilization', right: true },
  ];
  const byRole = new Map();
  for (const t of s.threads) {
    const r = byRole.get(t.role) || { threads: 0, cpuMs: 0 };
    r.threads++;
    r.cpuMs += t.cpuMs;
    byRole.set(t.role, r);
  }
  const roleRows = [...byRole]
    .sort((a, b) => b[1].cpuMs - a[1].cpuMs)
    .map(([role, r]) => [role, int(r.threads), ms(r.cpuMs), pct((r.cpuMs * 100) / Math.max(s.processCpuMs, 1e-9))]);
  return [
    ...section(`Threads by CPU (${s.threads.length})`, columns, rows),
    ...more(sorted, top, 'threads'),
    ...section('Thread roles', [{ title: 'role' }, { title: 'threads', right: true }, { title: 'CPU ms', right: true }, { title: '% process', right: true }], roleRows),
  ];
}

function labels(s, top) {
  const kind = sampleKind(s);
  const totals = boundaryTotals(s.attribution);
  const out = [];
  for (const [key, title] of LABEL_TABLES) {
    const entries = s.labels[key] || [];
    const measured = totals[key];
    const columns = [{ title: key }, { title: kind.column, right: true }, { title: '%', right: true }, { title: 'samples', right: true }];
    if (measured) columns.push({ title: 'calls', right: true }, { title: kind.wall ? 'calls wall ms' : 'wall ms', right: true });
    const extra = (e) => {
      if (!measured) return [];
      const t = measured.get(e.name);
      return t ? [int(t.calls), ms(t.wallMs)] : ['-', '-'];
    };
    const empty = key === 'phase' ? '(no phase labels: the profile was not taken with PerfprobePlugin in the config)' : '(none sampled)';
    out.push(...section(`${title} by ${kind.what}`, columns, entryRows(entries, top, kind, extra), { empty }), ...more(entries, top, `${key}s`));
  }
  return out;
}

function functions(s, top) {
  const kind = sampleKind(s);
  const columns = (what) => [{ title: what }, { title: kind.column, right: true }, { title: '%', right: true }, { title: 'samples', right: true }];
  const out = [
    ...section(`Top functions, self ${kind.what}`, columns('function'), entryRows(s.topFunctionsSelf, top, kind)),
    ...section(`Top functions, cumulative ${kind.what}`, columns('function'), entryRows(s.topFunctionsCumulative, top, kind)),
  ];
  if (s.topJsFunctionsSelf && s.topJsFunctionsSelf.length) {
    out.push(...section(`Top JS functions (V8), self ${kind.what}`, columns('JS function'), entryRows(s.topJsFunctionsSelf, top, kind)));
  }
  return out;
}

/** Why the JS stacks came from where they did (summaries written before `reason` have none). */
function because(js) {
  return js.reason ? `; ${js.reason}` : '';
}

function probeCost(s) {
  const st = s.stats;
  const pp = s.postProcessing;
  const share = (nsOrMs, isNs) => {
    const v = isNs ? nsOrMs / 1e6 : nsOrMs;
    return `${ms(v)} ms (${pct((v * 100) / Math.max(s.processCpuMs, 1e-9))} of process CPU)`;
  };
  const { v8CpuMs, probeThreadsCpuMs, probeThreads, duringCpuMs, outsideMs } = probeCosts(s);
  const js = s.jsProfiler;
  const rows = [
    ...(typeof s.startMs === 'number' ? [['start-up', `${ms(s.startMs)} ms before the first sample (loading the probe, the sampler, JS naming)`]] : []),
    ['sampler thread CPU', share(st.samplerCpuNs, true)],
    ...(probeThreads.length ? [["probe's other threads", `${share(probeThreadsCpuMs, false)}: ${probeThreads.map((t) => `${t.name} ${ms(t.cpuMs)} ms`).join(', ')}`]] : []),
    ...(typeof st.handlerNs === 'number' ? [['signal handler time', `${share(st.handlerNs, true)}, ${s.samples ? ((st.handlerNs / s.samples) / 1000).toFixed(1) : '0'} µs a sample`]] : []),
    // Which way JS frames were named decides whether V8's profiler thread is part of the cost.
    ...(js && js.source === 'code-events' ? [['JS stacks', `taken in the signal handler (code-events): ${int(js.v8Samples)} stacks, ${int(js.codeEvents)} code events, no V8 profiler thread${because(js)}`]] : []),
    ...(js && js.source === 'cpu-profiler' ? [['JS stacks', `V8's CPU profiler (cpu-profiler), a sample every ${int(js.v8IntervalUs)} µs${because(js)}`]] : []),
    ...(v8CpuMs ? [["V8 profiler's thread", share(v8CpuMs, false)]] : []),
    [
      'post-processing',
      `${ms(pp.totalMs)} ms after the session${pp.duringTeardown ? ", during node's teardown at exit" : ''} (symbolize ${ms(pp.symbolizeMs)}, pprof ${ms(pp.pprofMs)}, trace ${ms(pp.traceMs)}, flame graph ${ms(pp.flamegraphMs)}${typeof pp.jsMs === 'number' ? `, JS side ${ms(pp.jsMs)}` : ''})`,
    ],
    ['in all', `${ms(duringCpuMs)} ms of CPU during the session (${pct((duringCpuMs * 100) / Math.max(s.processCpuMs, 1e-9))} of process CPU) + ${ms(outsideMs)} ms before and after it (${pct((outsideMs * 100) / Math.max(s.durationMs, 1e-9))} of the session's ${ms(s.durationMs)} ms)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', "The probe's own cost", ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
}

/** The report as text. `top` bounds every table; `dir` is shown in the header. */
function renderReport(summary, { top = 10, dir } = {}) {
  return [
    `perfprobe report`,
    ...header(summary, dir),
    ...threads(summary, top),
    ...labels(summary, top),
    ...rspackSpanTable(summary, top),
    ...crateTable(summary, top),
    ...functions(summary, top),
    ...probeCost(summary),
  ].join('\n') + '\n';
}

module.exports = { renderReport, boundaryTotals };
