#!/usr/bin/env node
'use strict';
// Builds the test fixture addon (`perfprobe-fixture`, __tests__/fixtures/burner)
// in release mode and copies it to __tests__/fixtures/burner/perfprobe_fixture.node.
// Idempotent: cargo is a no-op when nothing changed, and the copy is skipped
// when the .node is already identical in size and not older than the artifact.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const FIXTURE_DIR = path.join(ROOT, '__tests__', 'fixtures', 'burner');
const DEST = path.join(FIXTURE_DIR, 'perfprobe_fixture.node');

function libFileName() {
  switch (process.platform) {
    case 'darwin':
      return 'libperfprobe_fixture.dylib';
    case 'win32':
      return 'perfprobe_fixture.dll';
    default:
      return 'libperfprobe_fixture.so';
  }
}

function targetDir() {
  if (process.env.CARGO_TARGET_DIR) return path.resolve(ROOT, process.env.CARGO_TARGET_DIR);
  return path.join(ROOT, 'target');
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

/**
 * Build the fixture and install it next to its loader.
 * @param {{ quiet?: boolean }} [opts]
 * @returns {string} path of the installed .node file
 */
function buildFixture(opts = {}) {
  const quiet = !!opts.quiet;
  const args = ['build', '--release', '-p', 'perfprobe-fixture'];
  if (quiet) args.push('--quiet');
  const res = spawnSync('cargo', args, {
    cwd: ROOT,
    stdio: quiet ? ['ignore', 'ignore', 'pipe'] : 'inherit',
    encoding: 'utf8',
  });
  if (res.error) throw new Error(`build-fixture: failed to run cargo: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(
      `build-fixture: \`cargo ${args.join(' ')}\` failed with status ${res.status}` +
        (quiet && res.stderr ? `\n${res.stderr}` : ''),
    );
  }
  const src = path.join(targetDir(), 'release', libFileName());
  if (!fs.existsSync(src)) throw new Error(`build-fixture: cargo succeeded but ${src} is missing`);
  if (!upToDate(src, DEST)) {
    // Copy to a temp name then rename, so a concurrently loading test never
    // sees a half-written file (and a loaded old copy is not overwritten in place).
    const tmp = `${DEST}.${process.pid}.tmp`;
    fs.copyFileSync(src, tmp);
    fs.renameSync(tmp, DEST);
    if (!quiet) console.log(`build-fixture: installed ${path.relative(ROOT, DEST)}`);
  } else if (!quiet) {
    console.log(`build-fixture: ${path.relative(ROOT, DEST)} is up to date`);
  }
  return DEST;
}

module.exports = { buildFixture };

if (require.main === module) {
  try {
    buildFixture({ quiet: process.argv.includes('--quiet') });
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
