#!/usr/bin/env node
'use strict';
// Builds dist/perfprobe.js: lib/entries.js and every module it loads, in one file (esbuild), which
// index.js and register.js load when it is there (lib/load.js says why). Modules stay as they are,
// each run when it is first required, names and line structure kept; node's built-ins, the native
// addon and Rspack are loaded at run time as before.
//   node scripts/bundle.js     (scripts/build.js and `npm pack` run it; Jest's global setup too)
// Written to a temporary name and renamed: a process loading it never sees half a file.

const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const OUT = path.join(ROOT, 'dist', 'perfprobe.js');

function bundle() {
  const esbuild = require('esbuild');
  const result = esbuild.buildSync({
    entryPoints: [path.join(ROOT, 'lib', 'entries.js')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    outfile: OUT,
    logLevel: 'warning',
    banner: { js: '// Built by scripts/bundle.js from lib/ (lib/load.js): change lib/, then run `node scripts/bundle.js`.' },
  });
  const code = result.outputFiles[0].contents;
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  if (fs.existsSync(OUT) && Buffer.compare(fs.readFileSync(OUT), code) === 0) return OUT;
  const tmp = `${OUT}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, OUT);
  return OUT;
}

module.exports = { bundle };

if (require.main === module) {
  try {
    console.log(bundle());
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
