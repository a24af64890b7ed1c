'use strict';
// Where the probe's JS loads from (lib/load.js): dist/perfprobe.js, all of lib/ in one file, where
// it is built; lib/ itself where it is not (a checkout before `npm run build`). Either way the
// probe's own frames are told from the program's (lib/own-code.js): an error a user's tap throws
// leaves the probe's wrappers without them, and with the user's frames. Each case runs a child
// process, which loads one copy of the package.

const fs = require('fs');
const path = require('path');
const { run, runNode, tmpDir } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const BUNDLE = path.join(ROOT, 'dist', 'perfprobe.js');
const THROWING_TAP = path.join(__dirname, 'fixtures', 'throwing-tap.js');
const { platformTriple } = require('../lib/native');

/** A copy of the package without dist/, beside this checkout (its addon linked in). */
function sourceCopy() {
  const copy = tmpDir('own-code-source');
  for (const entry of ['index.js', 'register.js', 'package.json', 'lib']) fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
  const addon = `perfprobe.${platformTriple()}.node`;
  fs.symlinkSync(path.join(ROOT, addon), path.join(copy, addon));
  return copy;
}

function throwingTap(root) {
  const r = run(process.execPath, [THROWING_TAP, root]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

test('index.js and register.js load dist/perfprobe.js, and of lib/ only the loader', () => {
  expect(fs.existsSync(BUNDLE)).toBe(true);
  const loaded = (entry) => {
    const script = `require(${JSON.stringify(path.join(ROOT, entry))}); console.log(JSON.stringify(Object.keys(require.cache)))`;
    const r = runNode(script, { env: { PERFPROBE_OUT: tmpDir('own-code-register'), PERFPROBE_QUIET: '1' } });
    expect(r.status).toBe(0);
    return r.json.map((f) => path.relative(ROOT, f)).filter((f) => !f.endsWith('.node')).sort();
  };
  expect(loaded('index.js')).toEqual(['dist/perfprobe.js', 'index.js', 'lib/keys.js', 'lib/load.js']);
  expect(loaded('register.js')).toEqual(['dist/perfprobe.js', 'lib/keys.js', 'lib/load.js', 'register.js']);
});

test.each([
  ['dist/perfprobe.js', () => ROOT, (root) => path.join(root, 'dist', 'perfprobe.js')],
  ['lib/, without dist/', sourceCopy, (root) => path.join(root, 'lib') + path.sep],
])("an error from a user's tap comes out of the probe's wrapper with the user's frames and none of the probe's (%s)", (_, packageRoot, probeFiles) => {
  const root = packageRoot();
  const { stack, loaded } = throwingTap(root);
  expect(loaded.some((f) => f.startsWith(probeFiles(root)))).toBe(true);
  expect(stack).toMatch(/^Error: the user plugin failed\n/);
  const frames = stack.split('\n').slice(1);
  // The tap, and the hook that called it through the probe's wrapper.
  expect(frames[0]).toMatch(/at (UserPlugin|Object)?\.?userTap .*throwing-tap\.js:/);
  expect(frames.some((f) => f.includes('fake-hooks.js'))).toBe(true);
  expect(frames.filter((f) => f.includes(probeFiles(root)) || f.includes(path.join(root, 'index.js')))).toEqual([]);
});
