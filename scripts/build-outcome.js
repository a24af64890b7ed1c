'use strict';

/**
 * Reports a finished build as `rspack build` does: the error, or the compilation errors, on stderr
 * and exit code 1 (set, not forced, so exit handlers such as the probe's still run). Returns false
 * when the build threw and there are no stats to report on.
 */
function reportBuildOutcome(err, stats) {
  if (err) {
    console.error(err.stack || err);
    process.exitCode = 1;
    return false;
  }
  if (stats.hasErrors()) {
    console.error(stats.toString({ all: false, errors: true }));
    process.exitCode = 1;
  }
  return true;
}

module.exports = { reportBuildOutcome };
