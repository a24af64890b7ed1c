'use strict';
// Loads the native addon: a local build first (the repo's own `npm run build`), then the prebuilt
// package for this platform. Returns null and a reason instead of throwing: a profiler that cannot
// load must not take the build down with it.

const path = require('path');

const ROOT = path.join(__dirname, '..');

function platformTriple() {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-gnu`;
  if (platform === 'darwin') return `darwin-${arch}`;
  return `${platform}-${arch}`;
}

let cached;

/** @returns {{ binding: object|null, error: Error|null, triple: string }} */
function loadNative() {
  if (cached) return cached;
  const triple = platformTriple();
  const candidates = [
    process.env.PERFPROBE_NATIVE_PATH,
    path.join(ROOT, `perfprobe.${triple}.node`),
    `rspack-perfprobe-${triple}`,
  ].filter(Boolean);
  const failures = [];
  for (const candidate of candidates) {
    try {
      cached = { binding: require(candidate), error: null, triple };
      return cached;
    } catch (e) {
      if (e && e.code !== 'MODULE_NOT_FOUND') failures.push(`${candidate}: ${e.message}`);
    }
  }
  const detail = failures.length ? `\n${failures.join('\n')}` : '';
  cached = {
    binding: null,
    triple,
    error: new Error(
      `rspack-perfprobe has no native profiler for ${triple}: install the package \`rspack-perfprobe-${triple}\`, ` +
        `or build it from a checkout with \`npm run build\` (Rust toolchain needed).${detail}`,
    ),
  };
  return cached;
}

let constants;

/**
 * What the addon defines for JS, once, in Rust (`constants()` in src/lib.rs): the profile folder's
 * files, the values of options `mode` and `timer`, which label word is which, the temp-file mark.
 * Null without the addon.
 */
function addonConstants() {
  if (constants === undefined) {
    const { binding } = loadNative();
    constants = binding ? binding.constants() : null;
  }
  return constants;
}

/**
 * For a starter that knows a session will start soon: the addon builds what the session's start
 * needs on a thread of its own meanwhile (`prepare_sampler`, src/lib.rs). Building it twice is
 * harmless (the second call finds it built); a failure only leaves the work to the start.
 */
function prepareSampler() {
  try {
    loadNative().binding?.prepareSampler();
  } catch {}
}

module.exports = { loadNative, addonConstants, platformTriple, prepareSampler };
