'use strict';
// The JS side's trace counters (lib/process-counters.js), with no sampler: the JS heap is read at
// the start and the end of a session and at span edges when a point is due, whichever copy of the
// package recorded the span (register.js from the CLI's install, the plugin from the project's).

const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const MS = 1_000_000n;

const heapPoints = (events) => events.filter((e) => e.ph === 'C' && e.name === 'JS heap MB');

describe('JS heap points', () => {
  let secondCopy;
  beforeAll(() => {
    // A second install of the package: the same files under another path, so its modules load apart.
    secondCopy = fs.mkdtempSync(path.join(os.tmpdir(), 'perfprobe-counters-'));
    fs.cpSync(path.join(ROOT, 'lib'), path.join(secondCopy, 'lib'), { recursive: true });
  });
  afterAll(() => fs.rmSync(secondCopy, { recursive: true, force: true }));

  test('at the start, at span edges at most every 100 ms, and at the end', () => {
    const { startProcessCounters } = require('../lib/process-counters');
    const { Spans } = require('../lib/attribution/spans');
    const counters = startProcessCounters();
    const spans = new Spans();
    const start = process.hrtime.bigint();
    const edge = (afterMs) => spans.count('k', () => ({ kind: 'tap' }), { start }, start + BigInt(afterMs) * MS);
    edge(10); // not due: the start's point is 10 ms old
    edge(150);
    edge(200); // not due: 50 ms after the last point
    const points = heapPoints(counters.stop());
    expect(points.map((p) => p.ts)).toEqual([expect.any(Number), Number((start + 150n * MS) / 1000n), expect.any(Number)]);
    for (const p of points) expect(p.args.used).toBeGreaterThan(0);
    // Stopped: an edge takes nothing.
    edge(1000);
    expect(counters.stop()).toEqual([]);
  });

  test("another copy's span edge takes the running session's point", () => {
    const { startProcessCounters } = require('../lib/process-counters');
    const { Spans: OtherSpans } = require(path.join(secondCopy, 'lib', 'attribution', 'spans'));
    expect(OtherSpans).not.toBe(require('../lib/attribution/spans').Spans);
    const counters = startProcessCounters();
    const start = process.hrtime.bigint();
    new OtherSpans().count('k', () => ({ kind: 'tap' }), { start }, start + 150n * MS);
    expect(heapPoints(counters.stop()).map((p) => p.ts)).toContain(Number((start + 150n * MS) / 1000n));
  });
});
