'use strict';
// The few lines printed after a profiled build: where the files are, how much of the CPU (or, in
// mode wall, of the threads' wall time) was sampled, and the top phases, Rspack spans (option rspackSpans), plugins and loaders by it.

const { sampleKind } = require('./report/tables');

const TOP = 5;

function top(entries = [], kind, n = TOP) {
  return entries
    .slice(0, n)
    .map((e) => `${e.name} ${Number(kind.ms(e)).toFixed(0)} ms${kind.wall ? ' wall' : ''} (${e.percent}%)`)
    .join(', ');
}

function sampledLine(s, kind) {
  if (!kind.wall) return `${s.sampledCpuMs || 0} ms CPU sampled (fidelity ${s.fidelity})`;
  const sum = (key) => Math.round((s.threads || []).reduce((a, t) => a + (t[key] || 0), 0));
  return `threads' wall time sampled: ${sum('wallRunningMs')} ms running, ${sum('wallWaitingMs')} ms waiting`;
}

/** @param {import('../index').ProfileResult} result */
function consoleSummary(result) {
  const s = result.summary || {};
  const kind = sampleKind(s);
  const lines = [
    // A partial profile (a failed build, a signal, a bound) says so where it is first seen.
    `profile written to ${result.dir}${s.partial ? ` (partial: ${s.partialReason || 'reason unknown'})` : ''}`,
    `  ${s.samples || 0} samples over ${s.durationMs || 0} ms, ${sampledLine(s, kind)}`,
  ];
  const labels = s.labels || {};
  for (const [key, title] of [['phase', 'phases'], ['rspack_span', 'Rspack spans'], ['plugin', 'plugins'], ['loader', 'loaders']]) {
    if (labels[key] && labels[key].length) lines.push(`  top ${title}: ${top(labels[key], kind)}`);
  }
  return lines.join('\n');
}

module.exports = { consoleSummary };
