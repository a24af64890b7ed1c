'use strict';
// Jest's global setup: the tests load the probe as users do, from dist/perfprobe.js (lib/load.js),
// so it is built from lib/ as it is now, before any test runs.

module.exports = () => {
  require('../../scripts/bundle').bundle();
};
