'use strict';
// The order of a bench's builds and what each profiled build is compared with.
//
// The machine's speed drifts over tens of seconds: in 80 consecutive libs builds (4 configurations,
// 20 rounds; 2026-12-07, the 2-vCPU AMD VM) a build's time relative to its configuration's median
// correlated with the next build's by 0.69, the one after by 0.48, and by 0.13 four builds on.
// So every profiled build runs between two unprofiled ones and is compared with their geometric
// mean: on that sequence a comparison with both neighbours varied by 3.2% (wall) and 2.6% (CPU),
// against 5.0% and 4.7% with one baseline per round of four builds, at 1.5 times the builds.

const BASELINE = 'baseline';

/**
 * Builds to run, in order: each round runs every configuration but the baseline once, in an order
 * rotated per round, each right after a baseline build; one more baseline closes the last round.
 */
function schedule(ids, rounds) {
  const others = ids.filter((id) => id !== BASELINE);
  const order = [];
  for (let round = 0; round < rounds; round++) {
    const k = others.length ? round % others.length : 0;
    order.push({ id: BASELINE, round });
    for (const [i, id] of [...others.slice(k), ...others.slice(0, k)].entries()) {
      if (i > 0) order.push({ id: BASELINE, round });
      order.push({ id, round });
    }
  }
  if (others.length) order.push({ id: BASELINE, round: rounds - 1 });
  return order;
}

/**
 * Each successful run of `id` with its `key` (wallMs, cpuMs) over the geometric mean of the nearest
 * successful baseline runs before and after it, in the order `runs` ran (one side when the other
 * failed or is missing). In run order, which the block bootstrap needs.
 */
function bracketedRatios(runs, id, key) {
  const ok = (r) => r && !r.error && r.id === BASELINE && r[key] > 0;
  const ratios = [];
  runs.forEach((run, i) => {
    if (run.id !== id || run.error || !(run[key] > 0)) return;
    let before = i - 1;
    while (before >= 0 && !ok(runs[before])) before--;
    let after = i + 1;
    while (after < runs.length && !ok(runs[after])) after++;
    const near = [runs[before], runs[after]].filter(ok);
    if (!near.length) return;
    const reference = Math.exp(near.reduce((sum, r) => sum + Math.log(r[key]), 0) / near.length);
    ratios.push(run[key] / reference);
  });
  return ratios;
}

module.exports = { BASELINE, schedule, bracketedRatios };
