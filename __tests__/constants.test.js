'use strict';
// The names and numbers JS shares with the addon are defined once, in Rust, and read from the addon
// (`constants()`). The copies kept for code that runs without it (option checks, `perfprobe report`)
// must be the addon's.

const fs = require('fs');
const path = require('path');
const { loadNative } = require('../lib/native');
const { MODES, TIMERS, normalizeOptions } = require('../lib/options');
const { SUMMARY, PPROF } = require('../lib/report/read');
const { tmpDir } = require('./helpers');

const { binding } = loadNative();
const constants = binding.constants();

test("option checks accept the addon's modes and timers, the default first", () => {
  expect(MODES).toEqual(constants.modes);
  expect(TIMERS).toEqual(constants.timers);
  const options = normalizeOptions({}, 'test');
  expect([options.mode, options.timer]).toEqual([constants.modes[0], constants.timers[0]]);
});

test('an option value the addon refuses is refused in the same words', () => {
  expect(() => binding.start({ frequency: 99, mode: 'sometimes' })).toThrow(/option `mode` is "sometimes"; accepted: 'cpu', 'wall' or 'both'$/);
  expect(() => normalizeOptions({ mode: 'sometimes' }, 'test')).toThrow(/option `mode` is "sometimes"; accepted: 'cpu', 'wall' or 'both'$/);
  expect(() => binding.start({ frequency: 99, timer: 'hpet' })).toThrow(/option `timer` is "hpet"; accepted: 'auto', 'sampler-thread', 'perf-event' or 'cpu-clock'$/);
});

test("report reads the files the addon writes; label words and the temp-file mark are the addon's", () => {
  expect([SUMMARY, PPROF]).toEqual([constants.outputFiles.summary, constants.outputFiles.pprof]);
  expect(constants.outputFiles).toEqual({ pprof: 'profile.pb.gz', trace: 'trace.json', flamegraph: 'flamegraph.svg', summary: 'summary.json' });
  expect(constants.labelWords).toEqual({ jsThread: 0, process: 1 });
  // A dead writer's temp file, as the addon names it, is found by its mark.
  const out = tmpDir('constants');
  const stale = path.join(out, `.summary.json${constants.tempMark}999999999`);
  fs.writeFileSync(stale, '');
  expect(binding.removeStaleTemps(out)).toEqual([stale]);
});
