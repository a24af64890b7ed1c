'use strict';
// The Rspack plugin: one profile folder per finished build (per rebuild in watch mode), and one on
// compiler close for a build that never finished. If a session already runs in the process
// (register.js, the CLI, perfprobe.start()), the plugin attaches to it and leaves writing
// to its owner.

const { normalizeOptions, envValue } = require('./options');
const { startSession, prepareSession, current } = require('./session');
const attribution = require('./attribution');
const { consoleSummary } = require('./console-summary');
const { reportCodeFromNow } = require('./v8-profile');
const { PLUGIN_APPLIED: APPLIED, PLUGIN_JOIN_ONLY: JOIN_ONLY } = require('./keys');

const PLUGIN_NAME = attribution.PLUGIN_NAME;
const LAST_STAGE = 2147483647;
/** Results (each with its summary, ~30 kB) the plugin keeps for `results`. */
const RESULTS_KEPT = 50;

/** PERFPROBE_QUIET by the rule of every boolean variable; a bad value (register.js warns) is not quiet. */
function quietFromEnv() {
  try {
    return envValue('PERFPROBE_QUIET');
  } catch {
    return false;
  }
}

class PerfprobePlugin {
  /** @param {import('../index').PerfprobeOptions} [options] */
  constructor(options) {
    this.options = normalizeOptions(options, PLUGIN_NAME);
    this.session = null;
    this.results = [];
  }

  /** Keeps the last RESULTS_KEPT results: a dev server rebuilding all day must not grow with them. */
  _record(result) {
    this.results.push(result);
    if (this.results.length > RESULTS_KEPT) this.results.splice(0, this.results.length - RESULTS_KEPT);
  }

  apply(compiler) {
    compiler[APPLIED] = true;
    const quiet = this.options.quiet || quietFromEnv();
    // Straight to stderr, not through compiler.getInfrastructureLogger: hosts set its level to their
    // taste (@rsbuild/core 2.3.2 sets infrastructureLogging.level to 'error'), and the one warning and
    // the folder's name must reach the user whatever runs the compiler.
    const say = (level, message) => {
      if (!quiet) process.stderr.write(level === 'warn' ? `[perfprobe] warning: ${message}\n` : `[perfprobe] ${message}\n`);
    };
    const rspackVersion = (compiler.rspack && compiler.rspack.rspackVersion) || (compiler.webpack && compiler.webpack.rspackVersion);

    let spans = null;
    try {
      spans = attribution.attach(compiler, (message) => say('warn', message), { minSpanUs: this.options.minSpanUs });
    } catch (e) {
      say('warn', `labels are off: ${e.message}`);
    }
    prepareSession();
    const contributor = { contribute: () => (spans ? spans.take() : { traceEvents: [], attribution: {} }) };
    const written = (result) => {
      this._record(result);
      for (const w of result.warnings) say('warn', w);
      if (result.dir) say('info', consoleSummary(result));
    };
    const pluginOwned = (session) => session.owner.kind === 'plugin';

    // A session the plugin starts belongs to every PerfprobePlugin in the process (a MultiCompiler
    // has one per compiler): its owner's `builds` holds the compilers building, and the last to
    // finish writes the profile. A session started otherwise (register, the CLI, the API) is only
    // joined.
    const begin = () => {
      // A session register.js started before Rspack loaded has V8 report code from the build on.
      reportCodeFromNow();
      if (this.session) return;
      let session = current();
      if (session && !pluginOwned(session)) {
        session.addContributor(contributor);
        session.noteRspackVersion(rspackVersion);
        return;
      }
      if (!session && this[JOIN_ONLY]) {
        // No session yet: keep only this build's spans, for a session started during it (SIGUSR2).
        if (spans) spans.reset();
        return;
      }
      if (!session) {
        const owner = {
          kind: 'plugin',
          builds: new Set(),
          announceQuiet: Boolean(quiet),
          exitReason: 'the process exited before the build finished',
          onExitWritten: written,
        };
        try {
          session = startSession({ ...this.options, quiet: true }, { owner, rspackVersion });
        } catch (e) {
          say('warn', `profiling is off for this build: ${e.message}`);
          return;
        }
        if (!session.running) {
          say('warn', 'profiling is off for this build: the sampler could not start');
          return;
        }
        if (spans) spans.reset();
      }
      session.addContributor(contributor);
      session.owner.builds.add(compiler);
      this.session = session;
    };

    /** Leaves the session; returns it if this was the last build in it (the caller writes it). */
    const leave = () => {
      // A session started during the build (SIGUSR2, perfprobe.start()) gets its spans too.
      const late = current();
      if (!this.session && late && !pluginOwned(late)) late.addContributor(contributor);
      const session = this.session;
      this.session = null;
      if (!session) return null;
      session.owner.builds.delete(compiler);
      return session.owner.builds.size === 0 && session.running ? session : null;
    };

    const finish = async (extra) => {
      const session = leave();
      if (!session) return;
      try {
        written(await session.stop({ ...extra, versions: rspackVersion ? { rspack: rspackVersion } : {} }));
      } catch (e) {
        say('warn', `could not write the profile: ${e.message}`);
      }
    };

    compiler.hooks.beforeRun.tap(PLUGIN_NAME, begin);
    compiler.hooks.watchRun.tap(PLUGIN_NAME, begin);
    // Last of all done taps: their work belongs to the build being profiled.
    compiler.hooks.done.tapPromise({ name: PLUGIN_NAME, stage: LAST_STAGE }, async (stats) => {
      const failed = stats && typeof stats.hasErrors === 'function' && stats.hasErrors();
      await finish(failed ? { partialReason: 'the build failed with compilation errors' } : {});
    });
    compiler.hooks.failed.tap(PLUGIN_NAME, (error) => {
      // No promise hook here: stop synchronously so the folder exists before rspack reports.
      const session = leave();
      if (!session) return;
      try {
        // The first line: Rspack's message goes on with the error's causes and stack, drawn in
        // colour when the terminal (or FORCE_COLOR) asks for it.
        const message = String((error && error.message) || error)
          .replace(/\x1b\[[0-9;]*m/g, '')
          .split('\n')
          .map((l) => l.replace(/^[\s×│╰─▶]+/, ''))
          .find(Boolean);
        written(session.stopSync({ partialReason: `the build failed: ${message}` }));
      } catch (e) {
        say('warn', `could not write the profile: ${e.message}`);
      }
    });
    compiler.hooks.shutdown.tapPromise(PLUGIN_NAME, () => finish({ partialReason: 'the compiler closed before the build finished' }));
  }
}

module.exports = { PerfprobePlugin };
