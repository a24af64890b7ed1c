'use strict';
// Where the probe's own JS lies, to tell its frames from the program's: lib/ when it runs from
// source, or dist/perfprobe.js, the one file scripts/bundle.js builds from lib/, in which every
// module's __filename is that file.

const path = require('path');

const FROM_SOURCE = path.basename(__filename) === 'own-code.js';

/** The folder or the one file of the probe's JS. */
const OWN_JS = FROM_SOURCE ? __dirname : __filename;
/** What a line of a stack trace holds where its frame is the probe's: `at f (<OWN_FRAME>…:12:3)`. */
const OWN_FRAME = FROM_SOURCE ? __dirname + path.sep : `${__filename}:`;

module.exports = { OWN_JS, OWN_FRAME };
