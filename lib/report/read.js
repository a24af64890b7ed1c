'use strict';
// Loads a profile folder for `perfprobe report` and `perfprobe diff`, and says in one line what is
// wrong when it is not one: missing files, a summary.json that is not JSON or not the shape
// index.d.ts documents (edited by hand, cut short), a schema version this perfprobe cannot read.

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const SUPPORTED_SCHEMA_VERSIONS = [1];
// Two of the files the addon writes (its `constants().outputFiles`). `report` reads folders without
// the addon too (another platform's profile), so it keeps a copy, which __tests__/constants.test.js
// holds equal to the addon's.
const SUMMARY = 'summary.json';
const PPROF = 'profile.pb.gz';

/** A folder that cannot be read as a profile: the CLI prints the message and exits 2. */
class ProfileError extends Error {}

// The fields the report and diff read, as index.d.ts documents them. A trailing `?` allows null or
// absence: fields newer than schema version 1's first release, and the plugin-only attribution.
const ENTRY = { name: 'string', cpuMs: 'number', samples: 'number', percent: 'number' };
// A wall-only profile (`sampleType: 'wall'`) weighs its entries in wall time.
const WALL_ENTRY = { name: 'string', wallMs: 'number', samples: 'number', percent: 'number' };
const shape = (entry) => ({
  sampleType: 'string?',
  name: 'string',
  partial: 'boolean',
  partialReason: 'string?',
  versions: { $values: 'string' },
  frequency: 'number',
  signal: 'number',
  timer: 'string?',
  timerFallback: 'string?',
  durationMs: 'number',
  processCpuMs: 'number',
  sampledCpuMs: 'number',
  fidelity: 'number',
  samples: 'number',
  stats: { signals: 'number', droppedStoreFull: 'number', lostInFlight: 'number', movedFromWaits: 'number?', samplerCpuNs: 'number', handlerNs: 'number?' },
  threads: [{ tid: 'number', name: 'string', role: 'string', cpuMs: 'number', sampledCpuMs: 'number', samples: 'number', utilization: 'number' }],
  topFunctionsSelf: [entry],
  topFunctionsCumulative: [entry],
  topJsFunctionsSelf: { $optional: [entry] },
  topJsFunctionsCumulative: { $optional: [entry] },
  labels: { $values: [entry] },
  attribution: {
    $optional: {
      boundaries: { $optional: [{ kind: 'string', name: 'string?', hook: 'string?', plugin: 'string?', calls: 'number', wallMs: 'number' }] },
    },
  },
  modules: [{ path: 'string', symbols: 'string' }],
  postProcessing: { symbolizeMs: 'number', pprofMs: 'number', traceMs: 'number', flamegraphMs: 'number', jsMs: 'number?', totalMs: 'number', duringTeardown: 'boolean?' },
  startMs: 'number?',
  crates: { $optional: [{ name: 'string', selfMs: 'number', totalMs: 'number', percent: 'number' }] },
});
const SHAPES = { cpu: shape(ENTRY), wall: shape(WALL_ENTRY) };

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** The first place `value` departs from `shape`, as [path, expected, found], or null. */
function mismatch(value, shape, at) {
  if (typeof shape === 'string') {
    const optional = shape.endsWith('?');
    const type = optional ? shape.slice(0, -1) : shape;
    if (optional && (value === null || value === undefined)) return null;
    const ok = type === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === type;
    return ok ? null : [at, `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`, value];
  }
  if (shape.$optional) return value === undefined || value === null ? null : mismatch(value, shape.$optional, at);
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [at, 'an array', value];
    for (let i = 0; i < value.length; i++) {
      const m = mismatch(value[i], shape[0], `${at}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [at, 'an object', value];
  if (shape.$values) {
    for (const [k, v] of Object.entries(value)) {
      const m = mismatch(v, shape.$values, `${at}.${k}`);
      if (m) return m;
    }
    return null;
  }
  for (const [k, sub] of Object.entries(shape)) {
    const m = mismatch(value[k], sub, at ? `${at}.${k}` : k);
    if (m) return m;
  }
  return null;
}

/** Checks a parsed summary; throws a ProfileError naming `file` and the first wrong field. */
function validateSummary(summary, file) {
  if (typeof summary !== 'object' || summary === null || Array.isArray(summary)) {
    throw new ProfileError(`${file}: not a perfprobe summary (the JSON is ${describe(summary)}, not an object)`);
  }
  const version = summary.schemaVersion;
  if (typeof version !== 'number') {
    throw new ProfileError(`${file}: not a perfprobe summary (no numeric "schemaVersion"; found ${version === undefined ? 'nothing' : describe(version)})`);
  }
  if (!SUPPORTED_SCHEMA_VERSIONS.includes(version)) {
    throw new ProfileError(
      `${file}: schemaVersion ${version} is not supported by this perfprobe (it reads ${SUPPORTED_SCHEMA_VERSIONS.join(', ')}); use the perfprobe version that wrote the profile`,
    );
  }
  const m = mismatch(summary, summary.sampleType === 'wall' ? SHAPES.wall : SHAPES.cpu, '');
  if (m) {
    const [at, expected, found] = m;
    const what = found === undefined ? 'it is missing' : `found ${describe(found)}`;
    throw new ProfileError(`${file}: field "${at}" should be ${expected}, ${what} (was the file edited or cut short?)`);
  }
  return summary;
}

/**
 * A profile.pb.gz beside the summary must be whole: gzip's CRC-32 and length trailer catch a file
 * cut short or a flipped bit, which the summary alone would hide. An absent one is fine for `report`.
 */
function checkPprof(pprofPath) {
  let bytes;
  try {
    bytes = fs.readFileSync(pprofPath);
  } catch (e) {
    if (e.code === 'ENOENT') return;
    throw new ProfileError(`${pprofPath}: cannot read (${e.code || e.message})`);
  }
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) throw new ProfileError(`${pprofPath}: not a pprof profile (no gzip header)`);
  try {
    zlib.gunzipSync(bytes);
  } catch (e) {
    throw new ProfileError(`${pprofPath}: damaged gzip data (${e.message}); the file was cut short or altered`);
  }
}

/**
 * Reads the profile folder `dir` (or the folder of a summary.json / profile.pb.gz given directly).
 * With `pprof: true`, profile.pb.gz must be there too (diff reads it).
 * @returns {{ dir: string, summary: object, summaryText: string, summaryPath: string, pprofPath: string }}
 */
function readProfile(dir, { pprof = false } = {}) {
  let stat;
  try {
    stat = fs.statSync(dir);
  } catch (e) {
    throw new ProfileError(`${dir}: ${e.code === 'ENOENT' ? 'no such file or folder' : e.message}`);
  }
  if (stat.isFile() && [SUMMARY, PPROF].includes(path.basename(dir))) {
    dir = path.dirname(dir);
  } else if (!stat.isDirectory()) {
    throw new ProfileError(`${dir}: not a folder; give a profile folder (the one holding ${SUMMARY} and ${PPROF})`);
  }
  const summaryPath = path.join(dir, SUMMARY);
  const pprofPath = path.join(dir, PPROF);
  let summaryText;
  try {
    summaryText = fs.readFileSync(summaryPath, 'utf8');
  } catch (e) {
    const why = e.code === 'ENOENT' ? `no ${SUMMARY}` : `cannot read ${SUMMARY} (${e.code || e.message})`;
    throw new ProfileError(`${dir}: not a perfprobe profile folder: ${why}`);
  }
  let summary;
  try {
    summary = JSON.parse(summaryText);
  } catch (e) {
    throw new ProfileError(`${summaryPath}: not valid JSON (${e.message})`);
  }
  validateSummary(summary, summaryPath);
  if (pprof && !fs.existsSync(pprofPath)) {
    throw new ProfileError(`${dir}: not a complete perfprobe profile folder: no ${PPROF}`);
  }
  checkPprof(pprofPath);
  return { dir, summary, summaryText, summaryPath, pprofPath };
}

module.exports = { readProfile, validateSummary, ProfileError, SUPPORTED_SCHEMA_VERSIONS, SUMMARY, PPROF };
