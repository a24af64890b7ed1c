'use strict';
// Preloaded first into every benchmarked build process: writes when its `exit` event began, so the
// bench can time the exit phase (the probe's export, node's and Rspack's teardown) up to the moment
// the command ended, probed against unprofiled. Milliseconds since the epoch, sub-millisecond.
const file = process.env.BENCH_EXIT_MARK;
// Only the build's own process marks, not other node processes the command may start.
if (file && /[\\/]@rspack[\\/]cli[\\/]bin[\\/]rspack\.js$/.test(process.argv[1] || '')) {
  const fs = require('fs');
  process.on('exit', () => {
    try {
      fs.writeFileSync(file, String(performance.timeOrigin + performance.now()));
    } catch {}
  });
}
