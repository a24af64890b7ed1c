#!/usr/bin/env node
'use strict';
// Builds cdylib crates of the workspace in release mode and installs each as a `.node` file.
//   node scripts/build.js            the addon -> perfprobe.<triple>.node (where index.js looks first),
//                                    and the JS bundle (scripts/bundle.js)
//   node scripts/build.js --fixture  the test fixture -> __tests__/fixtures/burner/perfprobe_fixture.node
// Idempotent: cargo does nothing when nothing changed, and an identical copy is not redone.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { platformTriple } = require('../lib/native');

const ROOT = path.join(__dirname, '..');

function targetDir() {
  return process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
}

function libFileName(crateLib) {
  return process.platform === 'darwin' ? `lib${crateLib}.dylib` : `lib${crateLib}.so`;
}

function upToDate(src, dest) {
  try {
    const s = fs.statSync(src);
    const d = fs.statSync(dest);
    return s.size === d.size && d.mtimeMs >= s.mtimeMs;
  } catch {
    return false;
  }
}

/** `cargo build --release -p <pkg>`, then installs lib<crateLib>.so as `dest`. Returns `dest`. */
function buildCdylib({ pkg, crateLib, dest, quiet = false }) {
  const args = ['build', '--release', '-p', pkg];
  if (quiet) args.push('--quiet');
  const res = spawnSync('cargo', args, { cwd: ROOT, stdio: quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (res.error) throw new Error(`cannot run cargo (is Rust installed? https://rustup.rs): ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`\`cargo ${args.join(' ')}\` failed with status ${res.status}${quiet && res.stderr ? `\n${res.stderr}` : ''}`);
  }
  const src = path.join(targetDir(), 'release', libFileName(crateLib));
  if (!fs.existsSync(src)) throw new Error(`cargo succeeded but ${src} is missing`);
  if (!upToDate(src, dest)) {
    // Copy then rename: a process that has the old file loaded keeps its mapping intact, and a
    // concurrent loader never sees half a file.
    const tmp = `${dest}.${process.pid}.tmp`;
    fs.copyFileSync(src, tmp);
    fs.renameSync(tmp, dest);
  }
  return dest;
}

function buildAddon(opts = {}) {
  return buildCdylib({ pkg: 'rspack-perfprobe', crateLib: 'rspack_perfprobe', dest: path.join(ROOT, `perfprobe.${platformTriple()}.node`), ...opts });
}

function buildFixture(opts = {}) {
  const dest = path.join(ROOT, '__tests__', 'fixtures', 'burner', 'perfprobe_fixture.node');
  return buildCdylib({ pkg: 'perfprobe-fixture', crateLib: 'perfprobe_fixture', dest, ...opts });
}

module.exports = { buildCdylib, buildAddon, buildFixture };

if (require.main === module) {
  try {
    const quiet = process.argv.includes('--quiet');
    if (process.argv.includes('--fixture')) console.log(buildFixture({ quiet }));
    else console.log(buildAddon({ quiet }), require('./bundle').bundle());
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
