'use strict';
// The Node half of the perfprobe CLI: `perfprobe report DIR`, `perfprobe diff BASE NEW` (they read
// profile folders, lib/report/), `--help`, and the usage message for every argument mistake.
// `perfprobe [flags] -- <command>` itself is bin/perfprobe, a sh script that execs the command
// without starting a Node process of its own; it hands everything else to this file.

const reportCli = require('./report/cli');

const EXIT_USAGE = 2;

const USAGE = `usage: perfprobe [--out DIR] [--frequency HZ] [--name NAME] [--mode cpu|wall|both] [--wall-frequency HZ] [--mixed] -- <command> [args...]
       perfprobe report DIR [--json] [--top N]
       perfprobe diff BASE NEW [--top N] [--out FILE]
       perfprobe --help`;

const HELP = `perfprobe - sampling CPU profiler for Rspack builds

${USAGE}

Runs <command> with the profiler loaded into every Node.js process it starts
(through NODE_OPTIONS=--require <perfprobe>/register.js; your own NODE_OPTIONS
are kept). perfprobe sets the variables and execs <command>, which takes its
place: signals, stdin, the terminal and the exit status are the command's own,
and no extra process runs beside it. Each profiled process writes a profile
folder and prints "[perfprobe] profile written to DIR" when it exits; no such
line means no Node.js process ran (or PERFPROBE_QUIET=1). A command that is
not found exits 127, one that cannot be executed 126.

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
  --name NAME      Name used in the profile folder and reports: 1-64
                   characters from A-Z a-z 0-9 . _ -. Sets PERFPROBE_NAME.
  --rspack-spans   Label samples with Rspack's own tracing spans (passes and
                   plugin hooks, e.g. SplitChunksPlugin:optimize_chunks) as
                   rspack_span; off by default (it costs Rspack some CPU).
                   Not with RSPACK_PROFILE. Sets PERFPROBE_RSPACK_SPANS=1.
  --mixed          Linux only: start Node with
                   --perf-basic-prof-only-functions --interpreted-frames-native-stack
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
  profile (no summary.json or profile.pb.gz, damaged files such as a
  profile.pb.gz cut short or with a flipped bit, a summary from an
  incompatible perfprobe version).

Signals: SIGINT or SIGTERM writes the profile (marked partial) and the process
then dies of the signal, as without perfprobe; if the JS thread is busy, the
profile is written without it (half a second later). During the export at exit
a signal waits until the folder is complete.

Environment variables (read by the profiler in the profiled process; the flags
above set them, and you may set them directly, e.g. in CI). Unset or empty means
the default. Switches take exactly 1 or true, 0 or false. A value outside what
is accepted prints one warning naming the variable and what it accepts, and the
process runs unprofiled:
  PERFPROBE_OUT=DIR        Same as --out.
  PERFPROBE_FREQUENCY=HZ   Same as --frequency.
  PERFPROBE_MODE=MODE      Same as --mode.
  PERFPROBE_WALL_FREQUENCY=HZ  Same as --wall-frequency.
  PERFPROBE_NAME=NAME      Same as --name.
  PERFPROBE_TIMER=TIMER    What times CPU samples: auto (default: cpu-clock at
                           rates up to half the kernel's tick, else
                           sampler-thread), sampler-thread, perf-event or
                           cpu-clock (see docs/sampling.md).
  PERFPROBE_MIXED=1        Set by --mixed; tells the profiler that the Node
                           flags for mixed-mode stacks are on.
  PERFPROBE_DISABLE=1      Load nothing: the command runs unprofiled (handy to
                           keep the script and switch profiling off).
  PERFPROBE_QUIET=1        The profiler prints nothing in the profiled process.
  PERFPROBE_REPORT_FILE=FILE  Each profiled process appends the path of the
                           folder it wrote to FILE (a line each, once its files
                           are in place) instead of printing it: for scripts that
                           collect profiles. If FILE cannot be appended to, a
                           warning says why and the path is printed instead.
  PERFPROBE_RSPACK_SPANS=1  Same as --rspack-spans.
  PERFPROBE_JS_PROFILER=0  JS frames stay unnamed (default 1: V8's stacks name
                           them).
  PERFPROBE_JS_SOURCE=cpu-profiler  Name JS frames with V8's CPU profiler, as on
                           V8 versions where the default (code-events: JS
                           stacks taken in perfprobe's handler; V8 11.3, 12.4,
                           13.6, 14.6 = Node 20, 22, 24, 26) does not run.
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

const help = () => (process.stdout.write(HELP), 0);

// `report` and `diff` argument mistakes are usage errors like the flags'.
function profileCommand(name) {
  return async (argv) => {
    try {
      return await reportCli[name](argv, { help });
    } catch (err) {
      if (err instanceof reportCli.ArgError) throw new UsageError(err.message);
      throw err;
    }
  };
}

const commands = {
  report: profileCommand('report'),
  diff: profileCommand('diff'),
  '--help': help,
  '-h': help,
  // bin/perfprobe found a mistake in the arguments of a profiled run: the message, then the usage.
  'usage-error': async ([message]) => {
    throw new UsageError(message);
  },
};

async function main(argv) {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || !Object.prototype.hasOwnProperty.call(commands, first)) {
      throw new UsageError(`lib/cli.js runs report, diff and --help; profile a command with bin/perfprobe -- <command>`);
    }
    return await commands[first](rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`perfprobe: ${err.message}\n${USAGE}\nRun "perfprobe --help" for details.\n`);
    return EXIT_USAGE;
  }
}

module.exports = { main };

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
