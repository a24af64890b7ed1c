'use strict';
// The package's modules form layers: no module requires, directly or through others, a module that
// requires it back. A loop makes one side see the other's exports half-built, depending on which was
// loaded first; a require moved into a function only hides it. Every `require('./...')` and
// `require('../...')` counts, wherever it is written. Reads files only: milliseconds.

const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');

function jsFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return jsFiles(full);
    return e.name.endsWith('.js') ? [full] : [];
  });
}

const MODULES = [path.join(ROOT, 'index.js'), path.join(ROOT, 'register.js'), ...jsFiles(path.join(ROOT, 'lib'))];
const rel = (file) => path.relative(ROOT, file);

/** The relative requires of `source`, comments left out (they quote requires as examples). */
function requests(source) {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(/\brequire\(\s*(['"])(\.\.?\/[^'"]*)\1\s*\)/g)].map((m) => m[2]);
}

/** The file `request` from `from` names, as node resolves a relative require of a file or folder. */
function resolve(from, request) {
  const base = path.resolve(path.dirname(from), request);
  return [base, `${base}.js`, path.join(base, 'index.js')].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
}

/** module -> the package's modules it requires. */
function graph() {
  const known = new Set(MODULES);
  const edges = new Map();
  for (const file of MODULES) {
    const targets = requests(fs.readFileSync(file, 'utf8')).map((r) => resolve(file, r));
    edges.set(file, [...new Set(targets.filter((t) => known.has(t)))]);
  }
  return edges;
}

/** Every loop found by a depth-first walk, each as the path that closes it. */
function cycles(edges) {
  const found = [];
  const state = new Map();
  const stack = [];
  const visit = (node) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) || []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

test('the walk reads the requires it must see', () => {
  const edges = graph();
  expect(edges.get(path.join(ROOT, 'lib', 'api.js'))).toContain(path.join(ROOT, 'lib', 'session.js'));
  expect(edges.get(path.join(ROOT, 'index.js'))).toContain(path.join(ROOT, 'lib', 'load.js'));
  // Inside a function, and a folder's index.js.
  expect(edges.get(path.join(ROOT, 'lib', 'attach', 'compilers.js'))).toContain(path.join(ROOT, 'lib', 'plugin.js'));
  expect(edges.get(path.join(ROOT, 'lib', 'plugin.js'))).toContain(path.join(ROOT, 'lib', 'attribution', 'index.js'));
  expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual([['a', 'b', 'c', 'a']]);
});

test('no module of lib/, register.js or index.js requires itself back', () => {
  const loops = cycles(graph()).map((c) => c.map(rel).join(' -> '));
  expect(loops).toEqual([]);
});
