'use strict';
// The package's two ways in, each loading its modules when it is first called: index.js takes the
// API, register.js registers. scripts/bundle.js builds dist/perfprobe.js from this file.

module.exports = {
  api: () => require('./api'),
  register: () => require('./register').register(),
};
