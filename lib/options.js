'use strict';
// Validation of the public options. Every error is a TypeError that names the option, the value
// given and what is accepted, so a typo in rspack.config.js is fixed from the message alone.

const path = require('path');

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The options, their defaults and their rules: the one place index.d.ts and README mirror. */
const SPEC = {
  outDir: { default: '.perfprobe', check: (v) => typeof v === 'string' && v.length > 0, accepted: 'a non-empty path string' },
  frequency: { default: 99, check: (v) => Number.isInteger(v) && v >= 1 && v <= 10000, accepted: 'an integer from 1 to 10000 (Hz)' },
  name: { default: 'profile', check: (v) => typeof v === 'string' && NAME_PATTERN.test(v), accepted: '1-64 characters from A-Z a-z 0-9 . _ -' },
  signal: { default: undefined, check: (v) => v === undefined || (Number.isInteger(v) && v > 0 && v < 128), accepted: 'a real-time signal number (SIGRTMIN..SIGRTMAX), or unset to pick a free one' },
  maxSamples: { default: undefined, check: (v) => v === undefined || (Number.isInteger(v) && v >= 1), accepted: 'a positive integer, or unset for no bound' },
  maxDuration: { default: undefined, check: (v) => v === undefined || (Number.isInteger(v) && v >= 1 && v <= 2 ** 31 - 1), accepted: 'a whole number of milliseconds from 1 to 2147483647, or unset for no bound' },
  quiet: { default: false, check: (v) => typeof v === 'boolean', accepted: 'true or false' },
  mode: { default: 'cpu', check: (v) => ['cpu', 'wall', 'both'].includes(v), accepted: "'cpu', 'wall' or 'both'" },
  timer: { default: 'sampler-thread', check: (v) => ['sampler-thread', 'perf-event'].includes(v), accepted: "'sampler-thread' or 'perf-event'" },
  wallFrequency: { default: 49, check: (v) => Number.isInteger(v) && v >= 1 && v <= 1000, accepted: 'an integer from 1 to 1000 (Hz)' },
  flamegraphPerRole: { default: false, check: (v) => typeof v === 'boolean', accepted: 'true or false' },
  jsProfiler: { default: true, check: (v) => typeof v === 'boolean', accepted: 'true or false' },
  rspackSpans: { default: false, check: (v) => typeof v === 'boolean', accepted: 'true or false' },
  minSpanUs: { default: 100, check: (v) => Number.isInteger(v) && v >= 0 && v <= 1e6, accepted: 'an integer from 0 to 1000000 (microseconds)' },
};

function describe(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Returns complete, validated options (defaults filled in, outDir absolute against `cwd`).
 * @param {object|undefined} options
 * @param {string} where  what the options belong to, for messages ("perfprobe.start", "PerfprobePlugin")
 */
function normalizeOptions(options, where, cwd = process.cwd()) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!Object.prototype.hasOwnProperty.call(SPEC, key)) {
      throw new TypeError(`${where}: unknown option \`${key}\`; accepted options are ${Object.keys(SPEC).join(', ')}`);
    }
  }
  const out = {};
  for (const [key, rule] of Object.entries(SPEC)) {
    const value = options[key] === undefined ? rule.default : options[key];
    if (!rule.check(value)) {
      throw new TypeError(`${where}: option \`${key}\` is ${describe(options[key])}; accepted: ${rule.accepted}`);
    }
    out[key] = value;
  }
  out.outDir = path.resolve(cwd, out.outDir);
  return out;
}

/** Options from the PERFPROBE_* environment (register.js, the CLI). Same rules, env names in errors. */
function optionsFromEnv(env = process.env) {
  const options = {};
  if (env.PERFPROBE_OUT) options.outDir = env.PERFPROBE_OUT;
  if (env.PERFPROBE_NAME) options.name = env.PERFPROBE_NAME;
  if (env.PERFPROBE_QUIET) options.quiet = env.PERFPROBE_QUIET === '1';
  if (env.PERFPROBE_SIGNAL) options.signal = Number(env.PERFPROBE_SIGNAL);
  // Whole numbers: anything but digits is rejected here, naming the variable (Number('') is 0).
  const integers = [
    ['PERFPROBE_FREQUENCY', 'frequency'],
    ['PERFPROBE_WALL_FREQUENCY', 'wallFrequency'],
    ['PERFPROBE_MIN_SPAN_US', 'minSpanUs'],
    ['PERFPROBE_MAX_SAMPLES', 'maxSamples'],
    ['PERFPROBE_MAX_DURATION', 'maxDuration'],
  ];
  for (const [name, key] of integers) {
    if (!env[name]) continue;
    if (!/^\d+$/.test(env[name])) throw new TypeError(`${name} is ${JSON.stringify(env[name])}; accepted: ${SPEC[key].accepted}`);
    options[key] = Number(env[name]);
  }
  if (env.PERFPROBE_MODE) options.mode = env.PERFPROBE_MODE;
  if (env.PERFPROBE_TIMER) options.timer = env.PERFPROBE_TIMER;
  if (env.PERFPROBE_FLAMEGRAPH_PER_ROLE) options.flamegraphPerRole = env.PERFPROBE_FLAMEGRAPH_PER_ROLE === '1';
  if (env.PERFPROBE_RSPACK_SPANS) {
    if (!['0', '1'].includes(env.PERFPROBE_RSPACK_SPANS)) throw new TypeError(`PERFPROBE_RSPACK_SPANS is ${JSON.stringify(env.PERFPROBE_RSPACK_SPANS)}; accepted: 0 or 1`);
    options.rspackSpans = env.PERFPROBE_RSPACK_SPANS === '1';
  }
  if (env.PERFPROBE_JS_PROFILER) {
    if (!['0', '1'].includes(env.PERFPROBE_JS_PROFILER)) {
      throw new TypeError(`PERFPROBE_JS_PROFILER is ${JSON.stringify(env.PERFPROBE_JS_PROFILER)}; accepted: 0 or 1`);
    }
    options.jsProfiler = env.PERFPROBE_JS_PROFILER === '1';
  }
  return normalizeOptions(options, 'rspack-perfprobe (PERFPROBE_* environment)');
}

module.exports = { normalizeOptions, optionsFromEnv, SPEC };
