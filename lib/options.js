'use strict';
// Validation of the public options. Every error is a TypeError that names the option, the value
// given and what is accepted, so a typo in rspack.config.js is fixed from the message alone.

const path = require('path');

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * SIGRTMIN..SIGRTMAX as the addon's C library defines them (glibc: 34..64); where no addon loads,
 * Linux glibc's, which the sampler would refuse anyway on another platform.
 */
function realtimeRange() {
  const { binding } = require('./native').loadNative();
  return (binding && binding.realtimeSignals && binding.realtimeSignals()) || [34, 64];
}

function realtimeSignal(v) {
  const [min, max] = realtimeRange();
  return Number.isInteger(v) && v >= min && v <= max;
}

/**
 * The values of options `mode` and `timer`, the default first. The addon defines them (its
 * `constants()`); options are checked before it loads, or without it, so this module keeps a copy,
 * which __tests__/constants.test.js holds equal to the addon's.
 */
const MODES = ['cpu', 'wall', 'both'];
const TIMERS = ['auto', 'sampler-thread', 'perf-event', 'cpu-clock'];

/** `'a', 'b' or 'c'` */
function oneOf(values) {
  const quoted = values.map((v) => `'${v}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}` : quoted.join('');
}

/** The options, their defaults and their rules: the one place index.d.ts and README mirror. */
const SPEC = {
  outDir: { default: '.perfprobe', check: (v) => typeof v === 'string' && v.length > 0, accepted: 'a non-empty path string' },
  frequency: { default: 99, check: (v) => Number.isInteger(v) && v >= 1 && v <= 10000, accepted: 'an integer from 1 to 10000 (Hz)' },
  name: { default: 'profile', check: (v) => typeof v === 'string' && NAME_PATTERN.test(v), accepted: '1-64 characters from A-Z a-z 0-9 . _ -' },
  signal: { default: undefined, check: (v) => v === undefined || realtimeSignal(v), get accepted() { return `a real-time signal number (${realtimeRange().join('..')} here: SIGRTMIN..SIGRTMAX), or unset to pick a free one`; } },
  maxSamples: { default: undefined, check: (v) => v === undefined || (Number.isInteger(v) && v >= 1), accepted: 'a positive integer, or unset for no bound' },
  maxDuration: { default: undefined, check: (v) => v === undefined || (Number.isInteger(v) && v >= 1 && v <= 2 ** 31 - 1), accepted: 'a whole number of milliseconds from 1 to 2147483647, or unset for no bound' },
  quiet: { default: false, check: (v) => typeof v === 'boolean', accepted: 'true or false' },
  mode: { default: MODES[0], check: (v) => MODES.includes(v), accepted: oneOf(MODES) },
  timer: { default: TIMERS[0], check: (v) => TIMERS.includes(v), accepted: oneOf(TIMERS) },
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

/** The spellings every boolean variable accepts; anything else is an error naming the variable. */
const BOOLEAN_SPELLINGS = { 1: true, true: true, 0: false, false: false };
const BOOLEAN_ACCEPTED = '1 or true, 0 or false';

/**
 * The PERFPROBE_* variables and their rules: `key` maps one to an option (SPEC's rule applies, with
 * the variable's name in the message); `kind` says how its text is read. Unset or empty: the default.
 * One table for register.js, the CLI (bin/perfprobe sets them) and the plugin.
 */
const ENV = {
  PERFPROBE_OUT: { key: 'outDir', kind: 'string' },
  PERFPROBE_NAME: { key: 'name', kind: 'string' },
  PERFPROBE_FREQUENCY: { key: 'frequency', kind: 'integer' },
  PERFPROBE_WALL_FREQUENCY: { key: 'wallFrequency', kind: 'integer' },
  PERFPROBE_MODE: { key: 'mode', kind: 'string' },
  PERFPROBE_TIMER: { key: 'timer', kind: 'string' },
  PERFPROBE_SIGNAL: { key: 'signal', kind: 'integer' },
  PERFPROBE_MIN_SPAN_US: { key: 'minSpanUs', kind: 'integer' },
  PERFPROBE_MAX_SAMPLES: { key: 'maxSamples', kind: 'integer' },
  PERFPROBE_MAX_DURATION: { key: 'maxDuration', kind: 'integer' },
  PERFPROBE_QUIET: { key: 'quiet', kind: 'boolean' },
  PERFPROBE_FLAMEGRAPH_PER_ROLE: { key: 'flamegraphPerRole', kind: 'boolean' },
  PERFPROBE_JS_PROFILER: { key: 'jsProfiler', kind: 'boolean' },
  PERFPROBE_RSPACK_SPANS: { key: 'rspackSpans', kind: 'boolean' },
  // Variables of register.js itself, not options of a session.
  PERFPROBE_DISABLE: { kind: 'boolean' },
  PERFPROBE_ON_DEMAND: { kind: 'boolean' },
  PERFPROBE_LABELS: { kind: 'boolean', default: true },
  PERFPROBE_MIXED: { kind: 'boolean' },
  PERFPROBE_REPORT_FILE: { kind: 'string' },
  PERFPROBE_JS_SOURCE: { kind: 'string', values: ['code-events', 'cpu-profiler'] },
};

/** The value of variable `name` by its rule in ENV; a TypeError naming it and what is accepted. */
function envValue(name, env = process.env) {
  const rule = ENV[name];
  const text = env[name];
  if (text === undefined || text === '') return rule.key ? undefined : rule.kind === 'boolean' ? Boolean(rule.default) : undefined;
  const bad = (accepted) => new TypeError(`${name} is ${JSON.stringify(text)}; accepted: ${accepted}`);
  if (rule.kind === 'boolean') {
    if (!Object.prototype.hasOwnProperty.call(BOOLEAN_SPELLINGS, text)) throw bad(BOOLEAN_ACCEPTED);
    return BOOLEAN_SPELLINGS[text];
  }
  if (rule.kind === 'integer') {
    // Digits only: Number() would take '', ' 9', '1e3' and '0x10'.
    if (!/^\d+$/.test(text)) throw bad(SPEC[rule.key].accepted);
    return Number(text);
  }
  if (rule.key && !SPEC[rule.key].check(text)) throw bad(SPEC[rule.key].accepted);
  if (rule.values && !rule.values.includes(text)) throw bad(rule.values.join(', '));
  return text;
}

/** Checks every variable of ENV: the first mistake throws, before anything starts. */
function checkEnv(env = process.env) {
  for (const name of Object.keys(ENV)) envValue(name, env);
}

/** Options from the PERFPROBE_* environment (register.js, the CLI). Same rules, env names in errors. */
function optionsFromEnv(env = process.env) {
  const options = {};
  for (const [name, rule] of Object.entries(ENV)) {
    if (!rule.key) continue;
    const value = envValue(name, env);
    if (value === undefined) continue;
    if (!SPEC[rule.key].check(value)) throw new TypeError(`${name} is ${JSON.stringify(env[name])}; accepted: ${SPEC[rule.key].accepted}`);
    options[rule.key] = value;
  }
  return normalizeOptions(options, 'rspack-perfprobe (PERFPROBE_* environment)');
}

module.exports = { normalizeOptions, optionsFromEnv, envValue, checkEnv, SPEC, ENV, BOOLEAN_ACCEPTED, MODES, TIMERS };
