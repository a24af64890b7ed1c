'use strict';
// The Rust side of a report: CPU by Rspack span (option `rspackSpans`) and by crate. Each table is
// left out when the profile has nothing for it (no spans registered; no symbolized frames).

const { section, ms, pct, int, sampleKind } = require('./tables');

function more(entries, top, what) {
  return entries.length > top ? [`  ... ${entries.length - top} more ${what} (--top to see them)`] : [];
}

/** `labels.rspack_span` with what the join covered. */
function rspackSpanTable(s, top) {
  const entries = (s.labels && s.labels.rspack_span) || [];
  const joined = s.rspackSpans;
  if (!entries.length && !joined) return [];
  const kind = sampleKind(s);
  const title = joined ? `Rspack spans by ${kind.what} (${int(joined.spans)} spans, ${pct(joined.percent)} of sampled ${kind.what} inside one)` : `Rspack spans by ${kind.what}`;
  const rows = entries.slice(0, top).map((e) => [e.name, ms(kind.ms(e)), pct(e.percent), int(e.samples)]);
  const columns = [{ title: 'rspack_span' }, { title: kind.column, right: true }, { title: '%', right: true }, { title: 'samples', right: true }];
  return [...section(title, columns, rows, { empty: '(no sample fell inside a span)' }), ...more(entries, top, 'spans')];
}

/** `crates`: self and total CPU (wall time in a wall profile) by Rust crate (other code by module, JS as (JS)). */
function crateTable(s, top) {
  const kind = sampleKind(s);
  const crates = s.crates || [];
  if (!crates.length) return [];
  const columns = [{ title: 'crate or module' }, { title: 'self ms', right: true }, { title: 'self %', right: true }, { title: 'total ms', right: true }];
  const rows = crates.slice(0, top).map((c) => [c.name, ms(c.selfMs), pct(c.percent), ms(c.totalMs)]);
  return [...section(`Crates by self ${kind.what} (Rust frames by crate, other code by module)`, columns, rows), ...more(crates, top, 'crates')];
}

module.exports = { rspackSpanTable, crateTable };
