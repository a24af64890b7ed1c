'use strict';
// The `report` and `diff` subcommands of the perfprobe CLI (lib/cli.js). Each returns an exit code: 0, 2 for a
// folder that is not a readable profile (one line on stderr, no stack), 1 when the diff's picture
// could not be written. Argument mistakes throw ArgError, which the CLI prints with its usage.

const path = require('path');
const { readProfile, ProfileError } = require('./read');
const { renderReport } = require('./report');
const { renderDiff } = require('./diff');

const EXIT_BAD_PROFILE = 2;
const DEFAULT_TOP = 10;

class ArgError extends Error {}

/** Positional arguments and the flags `accepted` names (`name` -> takes a value?). */
function parseArgs(command, argv, accepted) {
  const opts = { positional: [] };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    if (raw === '--' || !raw.startsWith('-') || raw === '-') {
      opts.positional.push(...(raw === '--' ? argv.slice(i + 1) : [raw]));
      if (raw === '--') break;
      continue;
    }
    const eq = raw.indexOf('=');
    const flag = eq === -1 ? raw : raw.slice(0, eq);
    if (flag === '-h' || flag === '--help') {
      opts.help = true;
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(accepted, flag)) {
      throw new ArgError(`${command}: unknown flag ${JSON.stringify(raw)} (accepted: ${Object.keys(accepted).join(', ')}, --help)`);
    }
    if (!accepted[flag]) {
      if (eq !== -1) throw new ArgError(`${command}: flag ${flag} takes no value`);
      opts[flag.slice(2)] = true;
      continue;
    }
    const value = eq !== -1 ? raw.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new ArgError(`${command}: flag ${flag} needs a value`);
    opts[flag.slice(2)] = value;
  }
  if (opts.top !== undefined) {
    if (!/^\d+$/.test(opts.top) || Number(opts.top) < 1) {
      throw new ArgError(`${command}: invalid value for --top: ${JSON.stringify(opts.top)} (accepted: a positive integer)`);
    }
    opts.top = Number(opts.top);
  } else {
    opts.top = DEFAULT_TOP;
  }
  return opts;
}

/** A reader that closes the pipe early (`| head`) is not an error. */
function quietOnEpipe() {
  process.stdout.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode || 0);
    throw e;
  });
}

function failed(e) {
  if (!(e instanceof ProfileError)) throw e;
  process.stderr.write(`perfprobe: ${e.message}\n`);
  return EXIT_BAD_PROFILE;
}

async function report(argv, { help } = {}) {
  const opts = parseArgs('report', argv, { '--json': false, '--top': true });
  if (opts.help) return help();
  if (opts.positional.length !== 1) throw new ArgError(`report: expected one profile folder, got ${opts.positional.length}`);
  quietOnEpipe();
  try {
    const profile = readProfile(opts.positional[0]);
    if (opts.json) process.stdout.write(profile.summaryText.endsWith('\n') ? profile.summaryText : `${profile.summaryText}\n`);
    else process.stdout.write(renderReport(profile.summary, { top: opts.top, dir: profile.dir }));
    return 0;
  } catch (e) {
    return failed(e);
  }
}

function loadDiffNative() {
  const { loadNative } = require('../native');
  const { binding, error } = loadNative();
  if (!binding || typeof binding.diffProfiles !== 'function') {
    const why = binding ? 'it predates `diff` (rebuild it: npm run build)' : error ? error.message : 'not found';
    throw new Error(`perfprobe diff needs the native addon: ${why}`);
  }
  return binding;
}

async function diff(argv, { help } = {}) {
  const opts = parseArgs('diff', argv, { '--top': true, '--out': true });
  if (opts.help) return help();
  if (opts.positional.length !== 2) throw new ArgError(`diff: expected two profile folders, BASE and NEW, got ${opts.positional.length}`);
  quietOnEpipe();
  let base;
  let next;
  try {
    base = readProfile(opts.positional[0], { pprof: true });
    next = readProfile(opts.positional[1], { pprof: true });
  } catch (e) {
    return failed(e);
  }
  let binding;
  try {
    binding = loadDiffNative();
  } catch (e) {
    process.stderr.write(`perfprobe: ${e.message}\n`);
    return 1;
  }
  const svgPath = path.resolve(opts.out || path.join(next.dir, 'diff-flamegraph.svg'));
  const title = `perfprobe diff: ${path.basename(base.dir)} -> ${path.basename(next.dir)}`;
  let native;
  try {
    native = binding.diffProfiles(base.pprofPath, next.pprofPath, svgPath, title);
  } catch (e) {
    // The addon names the file and what is wrong with it (damaged gzip, not pprof, dangling ids).
    return failed(new ProfileError(e.message));
  }
  process.stdout.write(renderDiff(base, next, native, { top: opts.top, svgPath }));
  if (native.svgError) {
    process.stderr.write(`perfprobe: cannot write the differential flame graph: ${native.svgError}\n`);
    return 1;
  }
  return 0;
}

module.exports = { report, diff, parseArgs, ArgError, EXIT_BAD_PROFILE };
