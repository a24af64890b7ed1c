'use strict';
// `perfprobe diff BASE NEW`: what grew and what shrank between two profiles, per phase, plugin,
// loader, hook, binding call, thread role and function, ranked by absolute change: "did my change
// make the build slower, and where?". The figures (CPU, or wall time for two wall-only profiles) come from both pprof files in full (the
// native side tallies them), not from the summaries' top-30 lists, so a value that left one
// profile's top 30 does not read as 0.

const { section, ms, signed } = require('./tables');

const SECTIONS = [
  ['phase', 'Phases'],
  ['rspack_span', 'Rspack spans'],
  ['plugin', 'Plugins'],
  ['loader', 'Loaders'],
  ['hook', 'Hooks'],
  ['binding', 'Binding calls'],
  ['thread_role', 'Thread roles'],
];

const COLUMNS = (what) => [
  { title: what },
  { title: 'base ms', right: true },
  { title: 'new ms', right: true },
  { title: 'delta ms', right: true },
  { title: 'delta %', right: true },
];

/**
 * Rows of base vs new CPU (ns maps name -> ns), largest absolute change first; names with no CPU
 * on either side are left out.
 * @returns {Array<{ name: string, baseMs: number, newMs: number, deltaMs: number, deltaPct: number|null }>}
 */
function compare(baseNs = {}, newNs = {}) {
  const names = new Set([...Object.keys(baseNs), ...Object.keys(newNs)]);
  const rows = [];
  for (const name of names) {
    const baseMs = (baseNs[name] || 0) / 1e6;
    const newMs = (newNs[name] || 0) / 1e6;
    if (baseMs === 0 && newMs === 0) continue;
    rows.push({ name, baseMs, newMs, deltaMs: newMs - baseMs, deltaPct: baseMs === 0 ? null : ((newMs - baseMs) * 100) / baseMs });
  }
  // Equal changes (a profile against itself, or rows that did not move): the largest first.
  return rows.sort((a, b) => Math.abs(b.deltaMs) - Math.abs(a.deltaMs) || Math.max(b.baseMs, b.newMs) - Math.max(a.baseMs, a.newMs) || a.name.localeCompare(b.name));
}

function percentText(row) {
  if (row.deltaPct === null) return 'new';
  if (row.newMs === 0) return 'gone';
  return `${signed(row.deltaPct.toFixed(1), row.deltaPct)}%`;
}

function rowCells(row) {
  return [row.name, ms(row.baseMs), ms(row.newMs), signed(ms(row.deltaMs), row.deltaMs), percentText(row)];
}

function change(label, before, after, unit, digits = 1) {
  const delta = after - before;
  const rel = before ? ` (${signed(((delta * 100) / before).toFixed(1), delta)}%)` : '';
  const f = (v) => (digits === 1 ? ms(v) : v.toFixed(digits));
  return [label, `${f(before)} -> ${f(after)}${unit}, ${signed(f(delta), delta)}${unit}${rel}`];
}

/**
 * The diff as text.
 * @param base  { dir, summary } of BASE (see read.js)
 * @param next  { dir, summary } of NEW
 * @param native what the addon's diffProfiles returned: { base, new } tallies and svgError
 */
function renderDiff(base, next, native, { top = 10, svgPath } = {}) {
  const [b, n] = [base.summary, next.summary];
  // Both sides weigh the same (the native side refuses CPU against wall): CPU, or wall time.
  const wall = native.new.sampleType === 'wall';
  const what = wall ? 'wall time' : 'CPU';
  const rows = [
    ['base', `${b.name} (${base.dir})`],
    ['new', `${n.name} (${next.dir})`],
    change('duration', b.durationMs, n.durationMs, ' ms'),
    change('process CPU', b.processCpuMs, n.processCpuMs, ' ms'),
    wall ? change('sampled wall time', native.base.totalNs / 1e6, native.new.totalNs / 1e6, ' ms') : change('sampled CPU', native.base.totalNs / 1e6, native.new.totalNs / 1e6, ' ms'),
    ...(wall ? [] : [change('fidelity', b.fidelity, n.fidelity, '', 3)]),
  ];
  const [bHz, nHz] = wall ? [b.wallFrequency, n.wallFrequency] : [b.frequency, n.frequency];
  if (bHz !== nHz) rows.push(['frequency', `${bHz} -> ${nHz} Hz (${what} figures compare; sample counts do not)`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const out = ['perfprobe diff', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];

  for (const [key, title] of SECTIONS) {
    const all = compare(native.base.labels[key], native.new.labels[key]);
    if (all.length === 0 && key !== 'phase' && key !== 'plugin') continue;
    out.push(...section(`${title} by ${what}, largest change first`, COLUMNS(key), all.slice(0, top).map(rowCells), { empty: '(no such labels in either profile)' }));
    if (all.length > top) out.push(`  ... ${all.length - top} more`);
  }
  const crates = compare(native.base.cratesSelf, native.new.cratesSelf);
  if (crates.length) {
    out.push(...section(`Crates by self ${what}, largest change first`, COLUMNS('crate or module'), crates.slice(0, top).map(rowCells)));
    if (crates.length > top) out.push(`  ... ${crates.length - top} more`);
  }
  const fns = compare(native.base.functionsSelf, native.new.functionsSelf);
  out.push(...section(`Functions by self ${what}, largest change first`, COLUMNS('function'), fns.slice(0, top).map(rowCells)));
  if (fns.length > top) out.push(`  ... ${fns.length - top} more`);

  out.push('');
  if (native.svgError) out.push(`differential flame graph not written: ${native.svgError}`);
  else out.push(`differential flame graph: ${svgPath} (widths: NEW's ${what}; red: more than BASE, blue: less)`);
  return out.join('\n') + '\n';
}

module.exports = { renderDiff, compare };
