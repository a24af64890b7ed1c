#!/usr/bin/env node
'use strict';
// What one instrumented JS<->Rust crossing costs the JS thread: a function wrapped the way the
// attribution layer wraps the binding's (label switch, span timing and counting), against the same
// function called bare. Prints `{ "wrappedNs": ..., "bareNs": ..., "perCallNs": ... }`.
// The bench multiplies it by the crossings each profile counted (summary.attribution.boundaries).

const { instrumentBinding } = require('../lib/attribution/boundaries');
const { labels } = require('../lib/attribution/labels');
const { Spans } = require('../lib/attribution/spans');

const CALLS = 200000;
const REPEATS = 7;

function timePerCall(fn) {
  let sink = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) sink += fn(i);
  const ns = Number(process.hrtime.bigint() - started) / CALLS;
  if (sink === -1) console.log(sink);
  return ns;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function main() {
  const bare = (i) => i & 1;
  // A copy of the shape @rspack/binding exports: free functions are wrapped in place.
  const binding = { moduleGetIdentifier: bare };
  const l = labels();
  if (!l) throw new Error('the native addon is not built (npm run build)');
  instrumentBinding(binding, l, new Spans());
  const wrapped = binding.moduleGetIdentifier;
  if (wrapped === bare) throw new Error('the binding function was not wrapped');
  const bareNs = [];
  const wrappedNs = [];
  // Alternated, after a warm-up of each, so both run optimized and in the same machine weather.
  for (let r = 0; r < REPEATS + 1; r++) {
    const b = timePerCall(bare);
    const w = timePerCall(wrapped);
    if (r === 0) continue;
    bareNs.push(b);
    wrappedNs.push(w);
  }
  const out = { wrappedNs: median(wrappedNs), bareNs: median(bareNs) };
  out.perCallNs = Math.max(0, out.wrappedNs - out.bareNs);
  console.log(JSON.stringify(out));
}

main();
