#!/usr/bin/env node
'use strict';
// perfprobe CLI. `perfprobe [flags] -- <command> [args...]` runs a command
// with the profiler preloaded into every Node process it starts (through
// NODE_OPTIONS=--require register.js), then says where profiles were written.
// `perfprobe report DIR` and `perfprobe diff BASE NEW` read profile folders
// (lib/report/).
//
// Subcommands live in the `commands` table; `run` is the default when the
// arguments contain `--`.

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
// Loaded for `report` and `diff` only: it takes 40 ms that `run` would add to every profiled command.
const reportCli = () => require('../lib/report/cli');

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const MIXED_NODE_FLAGS = '--perf-basic-prof-only-functions --interpreted-frames-native-stack';
const EXIT_USAGE = 2;

const USAGE = `usage: perfprobe [--out DIR] [--frequency HZ] [--name NAME] [--mode cpu|wall|both] [--wall-frequency HZ] [--mixed] -- <command> [args...]
       perfprobe report DIR [--json] [--top N]
       perfprobe diff BASE NEW [--top N] [--out FILE]
       perfprobe --help`;

const HELP = `perfprobe - sampling CPU profiler for Rspack builds

${USAGE}

Runs <command> with the profiler loaded into every Node.js process it starts
(through NODE_OPTIONS=--require <perfprobe>/register.js; your own NODE_OPTIONS
are kept). Each profiled process writes a profile folder; their paths are
printed when the command exits. perfprobe exits with the command's exit code,
or 128+N if the command was killed by signal N. SIGINT, SIGTERM, SIGHUP and
SIGQUIT are forwarded to the command.

Flags (must come before --):
  --out DIR        Folder under which profile folders are written.
                   Sets PERFPROBE_OUT.
  --frequency HZ   Samples per second of thread CPU time; an integer in
                   1..10000. Sets PERFPROBE_FREQUENCY.
  --mode MODE      cpu (default): CPU samples. wall: every thread sampled at
                   a wall-clock rate, running or waiting (state label). both.
                   Sets PERFPROBE_MODE.
  --wall-frequency HZ
                   Wall samples per second per thread (default 49); an
                   integer in 1..1000. Sets PERFPROBE_WALL_FREQUENCY.
  --name NAME      Name used in the profile folder and reports.
                   Sets PERFPROBE_NAME.
  --mixed          Linux only: start Node with
                   ${MIXED_NODE_FLAGS}
                   so native samples of the JS thread show JS function names
                   (mixed-mode stacks). Costs some speed. Ignored, with a
                   warning, on other platforms. Sets PERFPROBE_MIXED=1.
  -h, --help       Show this help.

Reading profiles:
  perfprobe report DIR [--json] [--top N]
      Prints the summary.json of the profile folder DIR as tables: build
      time, process and sampled CPU, fidelity, samples and drops, versions;
      threads and thread roles by CPU; phases, hooks, plugins, loaders and
      binding calls by CPU (with calls and wall time where the plugin
      measured them); top functions (self and cumulative); the probe's own
      cost. --json prints summary.json as it is. --top N: rows per table
      (default 10).
  perfprobe diff BASE NEW [--top N] [--out FILE]
      Compares two profile folders (e.g. before and after a change): phases,
      plugins, loaders, hooks, binding calls, thread roles and functions
      (self CPU), each with base ms, new ms and the change in ms and %,
      largest change first. Writes a differential flame graph (NEW's widths;
      red: more CPU than BASE, blue: less) to FILE, default
      NEW/diff-flamegraph.svg.
  Both exit with 2 and a one-line message when a folder is not a readable
  profile (no summary.json or profile.pb.gz, damaged files, a summary from
  an incompatible perfprobe version).

Environment variables (read by the profiler in the profiled process; the flags
above set them, and you may set them directly, e.g. in CI):
  PERFPROBE_OUT=DIR        Same as --out.
  PERFPROBE_FREQUENCY=HZ   Same as --frequency.
  PERFPROBE_MODE=MODE      Same as --mode.
  PERFPROBE_WALL_FREQUENCY=HZ  Same as --wall-frequency.
  PERFPROBE_NAME=NAME      Same as --name.
  PERFPROBE_TIMER=TIMER    What times CPU samples: sampler-thread (default) or
                           perf-event (see "How it samples" in the README).
  PERFPROBE_MIXED=1        Set by --mixed; tells the profiler that the Node
                           flags for mixed-mode stacks are on.
  PERFPROBE_DISABLE=1      Load nothing: the command runs unprofiled (handy to
                           keep the script and switch profiling off).
  PERFPROBE_QUIET=1        The profiler prints nothing in the profiled process.
  PERFPROBE_JS_PROFILER=0  No V8 CPU profiler on the JS thread: JS frames stay
                           unnamed (default 1: V8's stacks name them).
  PERFPROBE_LABELS=0       No phase/hook/plugin/loader labels for Rspack compilers
                           that lack the plugin in their config.
  PERFPROBE_ON_DEMAND=1    Sample nothing until the process receives SIGUSR2; that
                           starts a session, the next SIGUSR2 stops it and writes
                           its folder (e.g. around one rebuild of a dev server:
                           kill -USR2 <pid>, save a file, kill -USR2 <pid>).
  PERFPROBE_MAX_DURATION=MS  End a session this many milliseconds after it
                           started; its folder is written then, marked partial.
  PERFPROBE_MAX_SAMPLES=N  The same after N samples.

Examples:
  perfprobe -- rspack build
  perfprobe --out ./profiles --frequency 999 -- npx rspack build --mode production
  perfprobe --mixed --name ci-build -- node scripts/build.js
  perfprobe report .perfprobe/build-20250101-120000-4242 --top 20
  perfprobe diff .perfprobe/before-... .perfprobe/after-...

  In package.json:
    "scripts": {
      "build": "rspack build",
      "build:profile": "perfprobe -- rspack build"
    }
`;

class UsageError extends Error {}

function registerPath() {
  // Internal test hook, deliberately undocumented: lets the CLI tests preload a
  // no-op module instead of the real profiler.
  if (process.env.PERFPROBE_REGISTER_PATH) return path.resolve(process.env.PERFPROBE_REGISTER_PATH);
  return path.join(__dirname, '..', 'register.js');
}

// NODE_OPTIONS honours double quotes, with backslash escaping inside them.
function quoteNodeOption(value) {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function parseRunArgs(argv) {
  const sep = argv.indexOf('--');
  const flags = sep === -1 ? argv : argv.slice(0, sep);
  const opts = { out: undefined, frequency: undefined, name: undefined, mixed: false, command: undefined, args: [] };

  for (let i = 0; i < flags.length; i++) {
    const raw = flags[i];
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq === -1 ? raw : raw.slice(0, eq);
    const takeValue = () => {
      if (eq !== -1) return raw.slice(eq + 1);
      const v = flags[++i];
      if (v === undefined) throw new UsageError(`flag ${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        opts.help = true;
        break;
      case '--out':
        opts.out = takeValue();
        if (opts.out === '') throw new UsageError('flag --out needs a non-empty directory');
        break;
      case '--frequency': {
        const v = takeValue();
        const hz = Number(v);
        if (!/^\d+$/.test(v) || hz < 1 || hz > 10000) {
          throw new UsageError(`invalid value for --frequency: ${JSON.stringify(v)} (accepted: an integer from 1 to 10000, in Hz)`);
        }
        opts.frequency = hz;
        break;
      }
      case '--name':
        opts.name = takeValue();
        break;
      case '--mode': {
        const v = takeValue();
        if (!['cpu', 'wall', 'both'].includes(v)) throw new UsageError(`invalid value for --mode: ${JSON.stringify(v)} (accepted: cpu, wall, both)`);
        opts.mode = v;
        break;
      }
      case '--wall-frequency': {
        const v = takeValue();
        const hz = Number(v);
        if (!/^\d+$/.test(v) || hz < 1 || hz > 1000) {
          throw new UsageError(`invalid value for --wall-frequency: ${JSON.stringify(v)} (accepted: an integer from 1 to 1000, in Hz)`);
        }
        opts.wallFrequency = hz;
        break;
      }
      case '--mixed':
        if (eq !== -1) throw new UsageError(`flag --mixed takes no value, got ${JSON.stringify(raw)}`);
        opts.mixed = true;
        break;
      default:
        throw new UsageError(
          `unknown flag ${JSON.stringify(raw)} (accepted: --out, --frequency, --name, --mode, --wall-frequency, --mixed, --help; put the command after --)`,
        );
    }
  }
  if (opts.help) return opts;
  if (sep === -1) throw new UsageError('missing "--" before the command to profile');
  [opts.command, ...opts.args] = argv.slice(sep + 1);
  if (!opts.command) throw new UsageError('missing command after "--"');
  return opts;
}

function childEnv(opts, reportFile) {
  const env = { ...process.env };
  const nodeOptions = [];
  if (env.NODE_OPTIONS && env.NODE_OPTIONS.trim()) nodeOptions.push(env.NODE_OPTIONS.trim());
  nodeOptions.push(`--require ${quoteNodeOption(registerPath())}`);
  if (opts.mixed) {
    if (process.platform === 'linux') {
      nodeOptions.push(MIXED_NODE_FLAGS);
      env.PERFPROBE_MIXED = '1';
    } else {
      // The flags only pay off with perf-map symbolization, which is Linux-only here.
      console.error(`perfprobe: warning: --mixed is only supported on Linux; ignoring it on ${process.platform}`);
    }
  }
  env.NODE_OPTIONS = nodeOptions.join(' ');
  if (opts.out !== undefined) env.PERFPROBE_OUT = path.resolve(opts.out);
  if (opts.frequency !== undefined) env.PERFPROBE_FREQUENCY = String(opts.frequency);
  if (opts.name !== undefined) env.PERFPROBE_NAME = opts.name;
  if (opts.mode !== undefined) env.PERFPROBE_MODE = opts.mode;
  if (opts.wallFrequency !== undefined) env.PERFPROBE_WALL_FREQUENCY = String(opts.wallFrequency);
  env.PERFPROBE_REPORT_FILE = reportFile;
  return env;
}

function createReportFile() {
  const file = path.join(os.tmpdir(), `perfprobe-report-${process.pid}-${crypto.randomBytes(6).toString('hex')}.txt`);
  // 'wx': never reuse (or follow a symlink planted at) an existing path.
  fs.writeFileSync(file, '', { flag: 'wx', mode: 0o600 });
  return file;
}

function printReport(reportFile) {
  let lines = [];
  try {
    lines = fs.readFileSync(reportFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  } catch {
    // Absent file: nothing was written.
  }
  try {
    fs.unlinkSync(reportFile);
  } catch {
    // Already gone.
  }
  if (lines.length === 0) {
    console.error('perfprobe: no profile was written (is the command a node process?)');
  } else {
    for (const dir of lines) console.error(`perfprobe: profile written to ${dir}`);
  }
}

function run(argv) {
  const opts = parseRunArgs(argv);
  if (opts.help) {
    process.stdout.write(HELP);
    return Promise.resolve(0);
  }

  const reportFile = createReportFile();
  return new Promise((resolve) => {
    // No shell: arguments reach the command exactly as given; spawn still
    // looks the command up in PATH.
    const child = spawn(opts.command, opts.args, { stdio: 'inherit', env: childEnv(opts, reportFile), shell: false });

    const forwarders = new Map();
    for (const sig of FORWARDED_SIGNALS) {
      const forward = () => {
        if (child.exitCode === null && child.signalCode === null) {
          try {
            child.kill(sig);
          } catch {
            // Child already gone.
          }
        }
      };
      try {
        process.on(sig, forward);
        forwarders.set(sig, forward);
      } catch {
        // Signal not supported on this platform.
      }
    }
    const stopForwarding = () => {
      for (const [sig, fn] of forwarders) process.removeListener(sig, fn);
    };

    child.on('error', (err) => {
      stopForwarding();
      fs.rmSync(reportFile, { force: true });
      // Mirror a shell: 127 for "not found", 126 for "cannot execute".
      const notFound = err.code === 'ENOENT';
      console.error(`perfprobe: cannot run ${JSON.stringify(opts.command)}: ${notFound ? 'command not found' : err.message}`);
      resolve(notFound ? 127 : 126);
    });

    child.on('exit', (code, signal) => {
      stopForwarding();
      printReport(reportFile);
      resolve(signal ? 128 + (os.constants.signals[signal] || 0) : code);
    });
  });
}

// `report` and `diff` argument mistakes are usage errors like run's.
function profileCommand(name) {
  return async (argv) => {
    const cli = reportCli();
    try {
      return await cli[name](argv, { help: () => (process.stdout.write(HELP), 0) });
    } catch (err) {
      if (err instanceof cli.ArgError) throw new UsageError(err.message);
      throw err;
    }
  };
}

// Subcommand table; `run` is also the default, see main().
const commands = { run, report: profileCommand('report'), diff: profileCommand('diff') };

async function main(argv) {
  const [first, ...rest] = argv;
  try {
    if (first !== undefined && Object.prototype.hasOwnProperty.call(commands, first)) return await commands[first](rest);
    if (first === undefined) throw new UsageError('missing "--" and the command to profile');
    if (!first.startsWith('-')) {
      throw new UsageError(
        `unknown command ${JSON.stringify(first)} (accepted: ${Object.keys(commands).join(', ')}; or flags, then -- <command>)`,
      );
    }
    return await commands.run(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`perfprobe: ${err.message}\n${USAGE}\nRun "perfprobe --help" for details.\n`);
    return EXIT_USAGE;
  }
}

module.exports = { commands, main };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`perfprobe: ${err && err.stack ? err.stack : err}`);
      process.exitCode = 1;
    },
  );
}
