'use strict';
// The few lines printed after a profiled build: where the files are, how much of the CPU was
// sampled, and the top phases, plugins and loaders by sampled CPU.

const TOP = 5;

function top(entries = [], n = TOP) {
  return entries
    .slice(0, n)
    .map((e) => `${e.name} ${e.cpuMs.toFixed(0)} ms (${e.percent}%)`)
    .join(', ');
}

/** @param {import('../index').ProfileResult} result */
function consoleSummary(result) {
  const s = result.summary || {};
  const lines = [
    // A partial profile (a failed build, a signal, a bound) says so where it is first seen.
    `profile written to ${result.dir}${s.partial ? ` (partial: ${s.partialReason || 'reason unknown'})` : ''}`,
    `  ${s.samples || 0} samples over ${s.durationMs || 0} ms, ${s.sampledCpuMs || 0} ms CPU sampled (fidelity ${s.fidelity})`,
  ];
  const labels = s.labels || {};
  for (const key of ['phase', 'plugin', 'loader']) {
    if (labels[key] && labels[key].length) lines.push(`  top ${key}s: ${top(labels[key])}`);
  }
  return lines.join('\n');
}

module.exports = { consoleSummary };
