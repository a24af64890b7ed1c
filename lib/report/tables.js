'use strict';
// Plain-text tables for `perfprobe report` and `perfprobe diff`: aligned columns (numbers to the
// right), long names cut in the middle so both the crate path and the method stay readable.

/** Widest name shown; Rust and C++ names run to hundreds of characters. */
const NAME_MAX = 90;

function clip(text, max = NAME_MAX) {
  const s = String(text);
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.4);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - 1 - head))}`;
}

/**
 * Made on first use: the first Intl.NumberFormat of a process costs ~14 ms (ICU's locale data), and
 * the plugin loads this module in every build for `sampleKind` alone.
 */
const formats = new Map();
const grouped = (digits) => {
  let f = formats.get(digits);
  if (!f) formats.set(digits, (f = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })));
  return f;
};

/** Milliseconds with one decimal and thousands separators. */
function ms(value) {
  return value === null || value === undefined ? '-' : grouped(1).format(value);
}

function int(value) {
  return value === null || value === undefined ? '-' : grouped(0).format(value);
}

function pct(value) {
  return value === null || value === undefined ? '-' : `${grouped(1).format(value)}%`;
}

function signed(text, value) {
  return value > 0 ? `+${text}` : text;
}

/**
 * Lines of a table: `columns` is [{ title, right }] (right: right-aligned, for numbers), `rows` are
 * arrays of cell strings. Returns a one-line note instead when there are no rows.
 */
function table(columns, rows, { indent = '  ', empty = '(none)' } = {}) {
  if (rows.length === 0) return [`${indent}${empty}`];
  const cells = rows.map((r) => r.map((c, i) => (i === 0 ? clip(c) : String(c))));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const line = (r) =>
    indent +
    r
      .map((c, i) => (columns[i].right ? c.padStart(widths[i]) : i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)];
}

/** A titled section: a blank line, the title, the table. */
function section(title, columns, rows, opts) {
  return ['', title, ...table(columns, rows, opts)];
}

/**
 * What a summary's tables weigh (its `sampleType`): CPU, or wall time in a wall-only profile, whose
 * entries carry `wallMs` where CPU profiles' carry `cpuMs`.
 */
function sampleKind(summary) {
  const wall = summary.sampleType === 'wall';
  return { wall, what: wall ? 'wall time' : 'CPU', column: wall ? 'wall ms' : 'CPU ms', ms: (e) => (wall ? e.wallMs : e.cpuMs) };
}

module.exports = { table, section, clip, ms, int, pct, signed, sampleKind, NAME_MAX };
