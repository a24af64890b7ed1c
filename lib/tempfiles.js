'use strict';
// Temp files left by a writer that died mid-write. The native writer (util::write_atomic in
// crates/core) writes `<dir>/.<file><mark><pid>` and renames it over `<dir>/<file>`; a kill -9 in
// between leaves the temp file. A later session in the same outDir removes those whose writer is
// dead, and only those: a live pid may be another process writing right now.

const fs = require('fs');
const path = require('path');
const { addonConstants } = require('./native');

/** `.<file><mark><pid>`, with the mark the addon's writer uses. */
function tempFilePattern(mark) {
  return new RegExp(`^\\..+${mark.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)$`);
}

/** Profile folders as session.js names them: only these are searched, never a user's own folders. */
const PROFILE_FOLDER = /^[A-Za-z0-9._-]+-\d{8}-\d{6}-\d+(-\d+)?$/;

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return e.code === 'EPERM';
  }
}

async function readdir(dir, options) {
  try {
    return await fs.promises.readdir(dir, options);
  } catch {
    return [];
  }
}

/**
 * Removes stale temp files in `outDir` and its profile folders; resolves to their paths, never
 * rejects. Asynchronous (libuv's pool reads the folders): a session starts it and does not wait,
 * so an outDir holding many old profiles costs the build nothing on the JS thread.
 */
async function removeStaleTemps(outDir) {
  const constants = addonConstants();
  // Without the addon nothing here wrote temp files.
  if (!constants) return [];
  const tempFile = tempFilePattern(constants.tempMark);
  const folders = (await readdir(outDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && PROFILE_FOLDER.test(e.name))
    .map((e) => path.join(outDir, e.name));
  const removed = [];
  for (const dir of [outDir, ...folders]) {
    for (const name of await readdir(dir)) {
      const m = tempFile.exec(name);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid === process.pid || pidAlive(pid)) continue;
      try {
        await fs.promises.unlink(path.join(dir, name));
        removed.push(path.join(dir, name));
      } catch {}
    }
  }
  return removed;
}

module.exports = { removeStaleTemps };
