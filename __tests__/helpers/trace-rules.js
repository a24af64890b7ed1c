'use strict';
// The rules of Chrome's trace event format (JSON object form) that viewers rely on, checked in
// plain JS so a violation names the event instead of surfacing as a silently wrong picture.

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const threadKey = (e) => `${e.pid}:${e.tid}`;
const show = (e) => JSON.stringify(e).slice(0, 200);

/** Every rule `trace` (a parsed trace.json) breaks, as readable lines; [] when it is valid. */
function traceViolations(trace) {
  if (trace === null || typeof trace !== 'object' || Array.isArray(trace)) return ['not a JSON object'];
  if (!Array.isArray(trace.traceEvents)) return ['no traceEvents array'];
  const events = trace.traceEvents;
  const out = [];
  const named = new Set();
  const used = new Set();
  const spans = new Map();
  const profiles = new Map();
  for (const e of events) {
    if (typeof e.ph !== 'string' || !isNum(e.pid) || !isNum(e.tid)) {
      out.push(`event without ph/pid/tid: ${show(e)}`);
      continue;
    }
    if (e.ph === 'M') {
      if (e.name === 'thread_name' && typeof e.args?.name === 'string') named.add(threadKey(e));
      continue;
    }
    if (e.ph !== 'C') used.add(threadKey(e));
    if (e.ph === 'X') {
      if (!isNum(e.ts) || !isNum(e.dur) || e.dur < 0) out.push(`X event without numeric ts and dur >= 0: ${show(e)}`);
      else (spans.get(threadKey(e)) || spans.set(threadKey(e), []).get(threadKey(e))).push(e);
    } else if (e.ph === 'C') {
      const values = Object.values(e.args || {});
      if (!isNum(e.ts) || values.length === 0 || !values.every(isNum)) out.push(`C event without ts or numeric args: ${show(e)}`);
    } else if (e.name === 'Profile' || e.name === 'ProfileChunk') {
      out.push(...profileViolations(e, profiles));
    }
  }
  if (!events.some((e) => e.ph === 'M' && e.name === 'process_name' && typeof e.args?.name === 'string')) out.push('no process_name metadata');
  for (const key of used) if (!named.has(key)) out.push(`thread ${key} has events but no thread_name`);
  for (const [key, list] of spans) out.push(...nestingViolations(key, list));
  return out;
}

/**
 * A thread's `X` spans must form a forest: sorted by start (longest first on ties), each span
 * either starts after the enclosing one ends or ends within it.
 */
function nestingViolations(key, list) {
  const out = [];
  // In whole nanoseconds: µs with three decimals near 1e10 do not add up exactly as doubles, and
  // one phase ending where the next begins must not read as an overlap.
  const ns = (v) => Math.round(v * 1000);
  const sorted = list.map((e) => ({ e, start: ns(e.ts), end: ns(e.ts) + ns(e.dur) })).sort((a, b) => a.start - b.start || b.end - a.end);
  const open = [];
  for (const s of sorted) {
    while (open.length && s.start >= open[open.length - 1].end) open.pop();
    const parent = open[open.length - 1];
    if (parent && s.end > parent.end) out.push(`thread ${key}: span ${show(s.e)} overlaps ${show(parent.e)} without nesting`);
    open.push(s);
  }
  return out;
}

/**
 * V8 CPU profile events: a `Profile` declares the start, its `ProfileChunk`s carry nodes whose
 * parents exist, samples that name nodes, and one time delta per sample that add up to the chunk's
 * timestamp (viewers place samples by the running sum).
 */
function profileViolations(e, profiles) {
  const id = e.id ?? threadKey(e);
  if (e.name === 'Profile') {
    if (!isNum(e.args?.data?.startTime)) return [`Profile without args.data.startTime: ${show(e)}`];
    profiles.set(id, { time: e.args.data.startTime, nodes: new Set() });
    return [];
  }
  const p = profiles.get(id);
  if (!p) return [`ProfileChunk before its Profile: ${show(e)}`];
  const data = e.args?.data;
  const nodes = data?.cpuProfile?.nodes || [];
  const samples = data?.cpuProfile?.samples || [];
  const deltas = data?.timeDeltas || [];
  const out = [];
  for (const n of nodes) p.nodes.add(n.id);
  if (nodes.some((n) => n.parent !== undefined && !p.nodes.has(n.parent))) out.push(`ProfileChunk ${id}: a node's parent is unknown`);
  if (nodes.some((n) => typeof n.callFrame?.functionName !== 'string')) out.push(`ProfileChunk ${id}: a node has no callFrame.functionName`);
  if (!samples.every((s) => p.nodes.has(s))) out.push(`ProfileChunk ${id}: a sample names an unknown node`);
  if (samples.length !== deltas.length) out.push(`ProfileChunk ${id}: ${samples.length} samples but ${deltas.length} timeDeltas`);
  if (!deltas.every((d) => isNum(d) && d >= 0)) out.push(`ProfileChunk ${id}: negative or non-numeric timeDeltas`);
  p.time += deltas.reduce((a, d) => a + d, 0);
  if (isNum(e.ts) && Math.abs(p.time - e.ts) > 1) out.push(`ProfileChunk ${id}: startTime + sum(timeDeltas) = ${p.time} µs, but its ts (the last sample) is ${e.ts} µs`);
  return out;
}

module.exports = { traceViolations };
