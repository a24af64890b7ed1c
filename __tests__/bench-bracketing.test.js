'use strict';
// The bench's order of builds and its ratios (bench/bracketing.js, bench/stats.js), on made-up
// sequences whose answer is known: a profiled build sits between two unprofiled ones, and drift of
// the machine's speed cancels out of its ratio.

const { schedule, bracketedRatios } = require('../bench/bracketing');
const { bootstrapCi, median } = require('../bench/stats');

/** Runs in the schedule's order; each build's time is `speed(i)` times its configuration's cost. */
function simulate(ids, rounds, cost, speed) {
  return schedule(ids, rounds).map(({ id, round }, i) => ({ id, round, wallMs: 1000 * cost[id] * speed(i), cpuMs: 2000 * cost[id] * speed(i) }));
}

describe('the bench schedule', () => {
  test('puts every profiled build between two baseline builds, each configuration once per round, rotated', () => {
    const ids = ['baseline', 'a', 'b', 'c'];
    const order = schedule(ids, 4);
    expect(order).toHaveLength(4 * 6 + 1);
    order.forEach(({ id }, i) => {
      if (id === 'baseline') return;
      expect(order[i - 1].id).toBe('baseline');
      expect(order[i + 1].id).toBe('baseline');
    });
    for (let round = 0; round < 4; round++) {
      const profiled = order.filter((r) => r.round === round && r.id !== 'baseline').map((r) => r.id);
      expect([...profiled].sort()).toEqual(['a', 'b', 'c']);
    }
    const firsts = [0, 1, 2].map((round) => order.find((r) => r.round === round && r.id !== 'baseline').id);
    expect(firsts).toEqual(['a', 'b', 'c']);
  });

  test('alternates with one configuration: baseline, profiled, baseline, ...', () => {
    expect(schedule(['baseline', 'p'], 3).map((r) => r.id)).toEqual(['baseline', 'p', 'baseline', 'p', 'baseline', 'p', 'baseline']);
  });
});

describe('bracketed ratios', () => {
  test('recover a 2% cost exactly while the machine speeds up or slows down steadily', () => {
    const cost = { baseline: 1, a: 1.02, b: 1.05 };
    for (const speed of [(i) => Math.exp(0.01 * i), (i) => Math.exp(-0.02 * i)]) {
      const runs = simulate(Object.keys(cost), 5, cost, speed);
      for (const id of ['a', 'b']) {
        const ratios = bracketedRatios(runs, id, 'wallMs');
        expect(ratios).toHaveLength(5);
        for (const r of ratios) expect(r).toBeCloseTo(cost[id], 10);
        for (const r of bracketedRatios(runs, id, 'cpuMs')) expect(r).toBeCloseTo(cost[id], 10);
      }
    }
  });

  test('past a failed baseline build the next successful one is the neighbour; a run with none is left out', () => {
    const runs = [
      { id: 'baseline', wallMs: 100 },
      { id: 'p', wallMs: 103 },
      { id: 'baseline', error: 'exit 1' },
      { id: 'p', wallMs: 110 },
      { id: 'baseline', wallMs: 110 },
    ];
    const [first, second] = bracketedRatios(runs, 'p', 'wallMs');
    expect(first).toBeCloseTo(103 / Math.sqrt(100 * 110), 12);
    expect(second).toBeCloseTo(110 / Math.sqrt(100 * 110), 12);
    // One side only.
    const oneSided = bracketedRatios([{ id: 'p', wallMs: 105 }, { id: 'baseline', wallMs: 100 }], 'p', 'wallMs');
    expect(oneSided).toHaveLength(1);
    expect(oneSided[0]).toBeCloseTo(1.05, 12);
    expect(bracketedRatios([{ id: 'p', wallMs: 1 }, { id: 'baseline', error: 'x' }], 'p', 'wallMs')).toEqual([]);
    // A failed profiled run gives no ratio.
    expect(bracketedRatios([{ id: 'baseline', wallMs: 1 }, { id: 'p', error: 'x' }, { id: 'baseline', wallMs: 1 }], 'p', 'wallMs')).toEqual([]);
  });
});

describe('the block bootstrap', () => {
  test('widens the interval when neighbouring values move together, and is the plain bootstrap with blocks of one', () => {
    // Pairs of equal values: 15 independent draws, not 30.
    const draws = [0.97, 1.04, 1.0, 1.06, 0.99, 1.02, 1.08, 0.95, 1.01, 1.03, 0.98, 1.05, 1.0, 1.07, 0.96];
    const paired = draws.flatMap((x) => [x, x]);
    const plain = bootstrapCi(paired, median);
    const blocks = bootstrapCi(paired, median, { block: 2 });
    expect(blocks.high - blocks.low).toBeGreaterThan(plain.high - plain.low);
    expect(bootstrapCi(paired, median, { block: 1 })).toEqual(plain);
    expect(bootstrapCi([1, 2], median, { block: 2 })).toBeNull();
  });
});
