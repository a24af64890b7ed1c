#!/usr/bin/env node
'use strict';
// Generates the Rspack apps used as profiling workloads by tests, the demo and
// the benchmarks.
//
//   node scripts/workloads.js <react|js-loaders|js-plugins|libs> <N> [--out DIR]
//
// prints the app directory. As a module: generate({ kind, n, outDir }) -> dir.
//
//   react       N generated React components, each importing a real icon module
//   js-loaders  react, with a JS loader doing CPU work on each component
//   js-plugins  react, with a JS plugin doing CPU work in several hooks
//   libs        no generated code: the first N (1-3) entries of LIB_ENTRIES, each importing
//               whole real npm libraries (pinned in LIB_VERSIONS, installed once under
//               .work/libs-deps), built for production with source maps. It stands for an
//               app whose build time is spent on library code rather than on its own.
//
// Output is deterministic (same kind + N => same bytes), so profiles of two
// runs are comparable and a finished app can be reused: a `.complete` marker
// holding the generator version and parameters is written last, and a dir
// whose marker matches is returned untouched.
//
// Build-time knobs, read by the generated rspack.config.js (not baked in, so
// one generated app serves every test):
//   PERFPROBE_WORKLOAD_REQUIRE   module required before anything else
//   PERFPROBE_WORKLOAD_PLUGINS   JS file exporting an array of extra plugins
//                                (or a function (rspack) => array)
//   PERFPROBE_WORKLOAD_MINIMIZE  "0" turns minification off (quick tests)
//   PERFPROBE_RSPACK_CORE        path of the @rspack/core to build with
//   PERFPROBE_LOADER_BURN_MS     js-loaders: CPU ms per module (default 0.5)
//   PERFPROBE_PLUGIN_BURN_MS     js-plugins: CPU ms in processAssets (default 50)

const fs = require('fs');
const path = require('path');

// Bump whenever generated output changes, so stale apps are regenerated.
const GENERATOR_VERSION = 5;
const KINDS = ['react', 'js-loaders', 'js-plugins', 'libs'];
const ROOT = path.resolve(__dirname, '..');
const ICON_PKG = '@iconify-icons/material-symbols';

// The libs workload: real libraries, pinned, imported whole (`import *`, assigned to a global, so
// production tree shaking keeps them) by three entries.
// Measured 2026-12-06 on the 2-vCPU machine: ~5.7k modules, 5.0 s `rspack build`, 7 s CPU.
const LIB_VERSIONS = {
  '@emotion/react': '11.14.0',
  '@emotion/styled': '11.14.1',
  '@mui/material': '9.6.0',
  antd: '6.6.8',
  d3: '7.9.2',
  'date-fns': '4.4.0',
  echarts: '6.1.0',
  'lodash-es': '4.18.1',
  mathjs: '15.2.0',
  moment: '2.31.0',
  react: '19.3.1',
  'react-dom': '19.3.1',
  rxjs: '7.8.2',
  three: '0.187.0',
};
const LIB_ENTRIES = [
  {
    name: 'data',
    imports: ['echarts', 'three', 'lodash-es', 'rxjs', 'rxjs/operators', 'd3', 'date-fns', 'date-fns/locale', 'moment', 'moment/min/locales'],
  },
  { name: 'ui', imports: ['antd', 'react', 'react-dom/client'] },
  { name: 'math', imports: ['mathjs', '@mui/material'] },
];
const LIBS_DEPS_DIR = path.join(ROOT, '.work', 'libs-deps');

// Route roots: enough lazy chunks for realistic chunk graph work.
const MAX_ROUTES = 8;
// Children rendered per non-leaf component; gives a component tree ~log4(N) deep.
const BRANCHING = 4;
// Component files per leaf folder of the depth-4 folder tree.
const PER_LEAF_DIR = 8;
const DIR_DEPTH = 4;

function defaultOutDir(kind, n) {
  return path.join(ROOT, '.work', 'workloads', `${kind}-${n}`);
}

function iconNames(n) {
  const dir = path.dirname(require.resolve(`${ICON_PKG}/package.json`, { paths: [ROOT] }));
  // Plain code-unit sort: locale-independent, hence the same list everywhere.
  const names = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new Error(`no icon modules found in ${dir}`);
  // Past the set's size (~24k icons) icons repeat; modules still differ.
  return Array.from({ length: n }, (_, i) => names[i % names.length]);
}

function toPosix(p) {
  return p.split(path.sep).join('/');
}

function relImport(fromFile, toFile) {
  const rel = toPosix(path.relative(path.dirname(fromFile), toFile));
  return rel.startsWith('.') ? rel : `./${rel}`;
}

// Folder of component i: leaf folders hold PER_LEAF_DIR components each and
// are addressed by DIR_DEPTH base-`fanout` digits, e.g. src/components/d0/d1/d3/d2.
function componentDirs(n) {
  const leaves = Math.ceil(n / PER_LEAF_DIR);
  let fanout = 2;
  while (fanout ** DIR_DEPTH < leaves) fanout++;
  return (i) => {
    let leaf = Math.floor(i / PER_LEAF_DIR);
    const digits = [];
    for (let d = 0; d < DIR_DEPTH; d++) {
      digits.unshift(`d${leaf % fanout}`);
      leaf = Math.floor(leaf / fanout);
    }
    return path.join('src', 'components', ...digits);
  };
}

// Components 0..routes-1 are route roots; every later component hangs under
// an earlier one, so each component belongs to exactly one route's subtree.
function childrenOf(n, routes) {
  const kids = Array.from({ length: n }, () => []);
  for (let i = routes; i < n; i++) kids[Math.floor((i - routes) / BRANCHING)].push(i);
  return kids;
}

function componentSource({ i, file, icon, children, files }) {
  const name = `Comp${i}`;
  const imports = children
    .map((c) => `import Comp${c} from '${relImport(file, files[c])}';`)
    .join('\n');
  const rendered = children.map((c) => `          <Comp${c} depth={depth + 1} />`).join('\n');
  return `import React from 'react';
import { Icon } from '@iconify/react';
import icon from '${ICON_PKG}/${icon}';
${imports}

const LABEL = '${name} (${icon})';

export default function ${name}({ depth = 0 }) {
  const [open, setOpen] = React.useState(depth < 2);
  const title = React.useMemo(() => LABEL.toUpperCase() + ' #' + depth, [depth]);
  return (
    <section className="comp comp-${i}" data-depth={depth}>
      <button type="button" onClick={() => setOpen((o) => !o)} title={title}>
        <Icon icon={icon} width="24" height="24" />
        <span>{LABEL}</span>
      </button>
${
  children.length
    ? `      {open && (
        <div className="children">
${rendered}
        </div>
      )}`
    : `      {open && <p className="leaf">leaf at depth {depth}</p>}`
}
    </section>
  );
}
`;
}

function routesSource(routes, files) {
  const file = path.join('src', 'routes.jsx');
  const lazies = [];
  const entries = [];
  for (let r = 0; r < routes; r++) {
    lazies.push(`const Route${r} = React.lazy(() => import('${relImport(file, files[r])}'));`);
    entries.push(`  { path: '/route-${r}', element: withSuspense(<Route${r} />) },`);
  }
  return `import React from 'react';
import { Link, Outlet } from 'react-router-dom';

${lazies.join('\n')}

function withSuspense(element) {
  return <React.Suspense fallback={<p>loading…</p>}>{element}</React.Suspense>;
}

function Layout() {
  return (
    <div>
      <nav>
${Array.from({ length: routes }, (_, r) => `        <Link to="/route-${r}">Route ${r}</Link>`).join('\n')}
      </nav>
      <main>
        <Outlet />
      </main>
    </div>
  );
}

export const routes = [
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <p>Pick a route.</p> },
${entries.map((e) => `    ${e}`).join('\n')}
    ],
  },
];
`;
}

const INDEX_SOURCE = `import React from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router-dom';
import { routes } from './routes.jsx';

const router = createBrowserRouter(routes);

createRoot(document.getElementById('root') || document.body.appendChild(document.createElement('div'))).render(
  <React.StrictMode>
    <RouterProvider router={router} />
  </React.StrictMode>,
);
`;

/** What the config says about the app's own code: generated components, or whole libraries. */
function appConfigParts(kind, n) {
  if (kind === 'libs') {
    const entries = Object.fromEntries(LIB_ENTRIES.slice(0, n).map((e) => [e.name, `./src/${e.name}.js`]));
    return {
      preamble: `// The libraries, installed once apart from the repo (scripts/workloads.js LIB_VERSIONS).
const LIBS_MODULES = ${JSON.stringify(path.join(LIBS_DEPS_DIR, 'node_modules'))};`,
      entry: JSON.stringify(entries),
      rules: '[]',
      modules: `['node_modules', LIBS_MODULES, FALLBACK_MODULES]`,
      extensions: `['.js']`,
      devtool: `\n  devtool: 'source-map',`,
    };
  }
  const componentUse =
    kind === 'js-loaders'
      ? // Loaders run right to left: work-loader sees the raw JSX, then swc.
        `[swcLoader, { loader: path.join(__dirname, 'loaders', 'work-loader.js') }]`
      : `[swcLoader]`;
  return {
    preamble: `const swcLoader = {
  loader: 'builtin:swc-loader',
  options: {
    jsc: {
      parser: { syntax: 'ecmascript', jsx: true },
      transform: { react: { runtime: 'automatic' } },
    },
  },
};`,
    entry: `'./src/index.jsx'`,
    rules: `[
      {
        test: /\\.jsx?$/,
        include: path.join(__dirname, 'src', 'components'),
        use: ${componentUse},
      },
      {
        test: /\\.jsx?$/,
        include: path.join(__dirname, 'src'),
        exclude: path.join(__dirname, 'src', 'components'),
        use: [swcLoader],
      },
    ]`,
    modules: `['node_modules', FALLBACK_MODULES]`,
    extensions: `['.js', '.jsx']`,
    devtool: '',
  };
}

function configSource(kind, n) {
  const app = appConfigParts(kind, n);
  const kindPlugins =
    kind === 'js-plugins'
      ? `const { WorkPlugin } = require('./plugins/work-plugins.js');\nconst kindPlugins = [new WorkPlugin()];`
      : `const kindPlugins = [];`;
  return `'use strict';
// Generated by rspack-perfprobe scripts/workloads.js (kind: ${kind}). Do not edit.
// Lets a test preload instrumentation before @rspack/core is loaded.
if (process.env.PERFPROBE_WORKLOAD_REQUIRE) {
  const req = process.env.PERFPROBE_WORKLOAD_REQUIRE;
  require(req.startsWith('.') ? require('path').resolve(req) : req);
}

const path = require('path');

// Apps generated outside the repo still resolve the repo's node_modules.
const FALLBACK_MODULES = ${JSON.stringify(path.join(ROOT, 'node_modules'))};
// PERFPROBE_RSPACK_CORE picks another @rspack/core (e.g. the debug-binding 2.2.7 the tests pin).
const rspack = require(process.env.PERFPROBE_RSPACK_CORE || require.resolve('@rspack/core', { paths: [__dirname, FALLBACK_MODULES] }));

function extraPlugins() {
  const file = process.env.PERFPROBE_WORKLOAD_PLUGINS;
  if (!file) return [];
  const exported = require(path.resolve(file));
  const list = typeof exported === 'function' ? exported(rspack) : exported;
  if (!Array.isArray(list)) throw new Error('PERFPROBE_WORKLOAD_PLUGINS must export an array of plugins: ' + file);
  return list;
}

${kindPlugins}

${app.preamble}

module.exports = {
  mode: 'production',
  context: __dirname,
  entry: ${app.entry},
  output: {
    path: path.join(__dirname, 'dist'),
    clean: true,
  },${app.devtool}
  module: {
    rules: ${app.rules},
  },
  resolve: {
    extensions: ${app.extensions},
    modules: ${app.modules},
  },
  resolveLoader: {
    modules: ['node_modules', FALLBACK_MODULES],
  },
  optimization: {
    minimize: process.env.PERFPROBE_WORKLOAD_MINIMIZE !== '0',
  },
  // Size hints are noise for a synthetic app.
  performance: { hints: false },
  plugins: [new rspack.HtmlRspackPlugin({ title: 'perfprobe workload ${kind}' }), ...kindPlugins, ...extraPlugins()],
};
`;
}

const WORK_LOADER_SOURCE = `'use strict';
// Generated by rspack-perfprobe scripts/workloads.js. A JS loader that does
// real CPU work per module, so profiles have loader time to attribute.
// PERFPROBE_LOADER_BURN_MS: busy time per module in ms (default 0.5).

const TOKEN = /[A-Za-z_$][\\w$]*|\\d+|\\S/g;

function fnv1a(h, s) {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

// Kept module-level so V8 cannot discard the busy loop as dead code.
let sink = 0;

// PERFPROBE_BURN_MODULE: a module exporting burn(ms) that spends thread CPU time (tests pass one
// backed by the thread's CPU clock; a wall-clock busy loop loses CPU to descheduling on 2 cores).
const cpuBurn = process.env.PERFPROBE_BURN_MODULE ? require(process.env.PERFPROBE_BURN_MODULE) : null;

// PERFPROBE_LOADER_CPU_FILE (tests, with PERFPROBE_BURN_MODULE): the loader's runs' CPU as the
// thread's clock read it, written there at exit: what a profile's loader label should add up to.
const cpuFile = cpuBurn && process.env.PERFPROBE_LOADER_CPU_FILE;
let runsCpuNs = 0;
if (cpuFile) process.on('exit', () => require('fs').writeFileSync(cpuFile, String(runsCpuNs / 1e6)));

module.exports = function workLoader(source) {
  const started = cpuFile ? cpuBurn.threadCpuNs() : 0;
  try {
    return work(source);
  } finally {
    if (cpuFile) runsCpuNs += cpuBurn.threadCpuNs() - started;
  }
};

function work(source) {
  const burnMs = Number(process.env.PERFPROBE_LOADER_BURN_MS ?? 0.5);
  if (cpuBurn) cpuBurn(burnMs);
  const tokens = source.match(TOKEN) || [];
  let hash = 2166136261;
  for (const t of tokens) hash = fnv1a(hash, t);

  // Keep hashing until the budget is spent; the emitted hash stays the
  // one-pass value so output (and chunk hashes) are deterministic.
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round((cpuBurn ? 0 : burnMs) * 1e6));
  let spin = hash;
  while (process.hrtime.bigint() - start < budget) {
    for (let i = 0; i < tokens.length; i++) spin = fnv1a(spin, tokens[i]);
    if (tokens.length === 0) spin = fnv1a(spin, 'x');
  }
  sink ^= spin;

  return source + '\\n/* work-loader: ' + tokens.length + ' tokens, fnv1a ' + hash.toString(16) + ' */\\n';
}
`;

const WORK_PLUGINS_SOURCE = `'use strict';
// Generated by rspack-perfprobe scripts/workloads.js. A JS plugin whose taps
// burn CPU on several hooks, so profiles have plugin/hook time to attribute.
// PERFPROBE_PLUGIN_BURN_MS: ms burnt in processAssets (default 50); the other
// taps burn a fraction of it.

const PLUGIN_NAME = 'WorkPlugin';

let sink = 0;

// PERFPROBE_BURN_MODULE: see the loader; a module exporting burn(ms) in thread CPU time.
const cpuBurn = process.env.PERFPROBE_BURN_MODULE ? require(process.env.PERFPROBE_BURN_MODULE) : null;

function burn(ms) {
  if (cpuBurn) return cpuBurn(ms);
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  let x = 1;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 1000; i++) x = Math.imul(x ^ i, 2654435761) >>> 0;
  }
  sink ^= x;
}

class WorkPlugin {
  constructor(options = {}) {
    const env = Number(process.env.PERFPROBE_PLUGIN_BURN_MS ?? 50);
    this.burnMs = options.burnMs ?? env;
  }

  apply(compiler) {
    const ms = this.burnMs;
    const { Compilation, sources } = compiler.webpack;

    compiler.hooks.compilation.tap(PLUGIN_NAME, (compilation) => {
      burn(ms * 0.2);
      compilation.hooks.processAssets.tapPromise(
        { name: PLUGIN_NAME, stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL },
        async (assets) => {
          burn(ms);
          // A binding call too: plugins that emit reports are common.
          const names = Object.keys(assets).sort();
          compilation.emitAsset('work-plugin-report.json', new sources.RawSource(JSON.stringify({ assets: names }, null, 2)));
        },
      );
    });

    compiler.hooks.make.tapAsync(PLUGIN_NAME, (compilation, callback) => {
      burn(ms * 0.4);
      setImmediate(callback);
    });

    compiler.hooks.emit.tapPromise(PLUGIN_NAME, async () => {
      burn(ms * 0.4);
    });

    compiler.hooks.done.tap(PLUGIN_NAME, () => {
      burn(ms * 0.2);
    });
  }
}

module.exports = { WorkPlugin };
`;

/** An entry of the libs workload: every import kept whole on a global, so nothing is shaken off. */
function libEntrySource({ name, imports }) {
  const lines = imports.map((m, i) => `import * as lib${i} from ${JSON.stringify(m)};`);
  lines.push(`globalThis.__perfprobeLibs = Object.assign(globalThis.__perfprobeLibs || {}, {`);
  lines.push(`  ${JSON.stringify(name)}: [${imports.map((_, i) => `lib${i}`).join(', ')}],`);
  lines.push(`});`);
  return lines.join('\n') + '\n';
}

function libsFiles(n) {
  const files = new Map([['rspack.config.js', configSource('libs', n)]]);
  for (const entry of LIB_ENTRIES.slice(0, n)) files.set(path.join('src', `${entry.name}.js`), libEntrySource(entry));
  return files;
}

/** The pinned libraries under .work/libs-deps (npm, once per version set). */
function installLibs() {
  const { installApart } = require('./setup');
  installApart(LIBS_DEPS_DIR, LIB_VERSIONS, JSON.stringify(LIB_VERSIONS));
}

function buildFiles(kind, n) {
  if (kind === 'libs') return libsFiles(n);
  const routes = Math.min(MAX_ROUTES, n);
  const dirOf = componentDirs(n);
  const componentFiles = Array.from({ length: n }, (_, i) => path.join(dirOf(i), `Comp${i}.jsx`));
  const icons = iconNames(n);
  const kids = childrenOf(n, routes);

  const files = new Map();
  files.set('rspack.config.js', configSource(kind, n));
  files.set(path.join('src', 'index.jsx'), INDEX_SOURCE);
  files.set(path.join('src', 'routes.jsx'), routesSource(routes, componentFiles));
  for (let i = 0; i < n; i++) {
    files.set(
      componentFiles[i],
      componentSource({ i, file: componentFiles[i], icon: icons[i], children: kids[i], files: componentFiles }),
    );
  }
  if (kind === 'js-loaders') files.set(path.join('loaders', 'work-loader.js'), WORK_LOADER_SOURCE);
  if (kind === 'js-plugins') files.set(path.join('plugins', 'work-plugins.js'), WORK_PLUGINS_SOURCE);
  return files;
}

function readMarker(dir) {
  try {
    return fs.readFileSync(path.join(dir, '.complete'), 'utf8');
  } catch {
    return null;
  }
}

/**
 * Generate (or reuse) a workload app.
 * @param {{ kind: 'react'|'js-loaders'|'js-plugins'|'libs', n: number, outDir?: string }} opts
 * @returns {string} absolute app directory
 */
function generate({ kind, n, outDir } = {}) {
  if (!KINDS.includes(kind)) throw new Error(`unknown workload kind ${JSON.stringify(kind)}; expected one of ${KINDS.join(', ')}`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`workload size must be a positive integer, got ${JSON.stringify(n)}`);
  if (kind === 'libs') {
    if (n > LIB_ENTRIES.length) throw new Error(`the libs workload has ${LIB_ENTRIES.length} entries, got N=${n}`);
    installLibs();
  }
  const dir = path.resolve(outDir || defaultOutDir(kind, n));
  const marker = JSON.stringify({ generator: GENERATOR_VERSION, kind, n }) + '\n';
  if (readMarker(dir) === marker) return dir;

  // Build beside the target and rename into place, so a concurrent caller
  // (e.g. parallel Jest workers) never sees a half-written app.
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [rel, content] of buildFiles(kind, n)) {
    const file = path.join(tmp, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  fs.writeFileSync(path.join(tmp, '.complete'), marker);

  if (readMarker(dir) === marker) {
    // Someone else finished first.
    fs.rmSync(tmp, { recursive: true, force: true });
    return dir;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (readMarker(dir) !== marker) throw err;
  }
  return dir;
}

function usage() {
  return `usage: node scripts/workloads.js <${KINDS.join('|')}> <N> [--out DIR]   (libs: N is 1-${LIB_ENTRIES.length})`;
}

function cli(argv) {
  const positional = [];
  let outDir;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      console.log(usage());
      return 0;
    } else if (a === '--out') {
      outDir = argv[++i];
      if (!outDir) {
        console.error(`workloads: --out needs a directory\n${usage()}`);
        return 2;
      }
    } else if (a.startsWith('--out=')) {
      outDir = a.slice('--out='.length);
    } else if (a.startsWith('-')) {
      console.error(`workloads: unknown flag ${a}\n${usage()}`);
      return 2;
    } else {
      positional.push(a);
    }
  }
  const [kind, nText] = positional;
  const n = Number(nText);
  if (positional.length !== 2 || !KINDS.includes(kind) || !/^\d+$/.test(nText || '') || n < 1) {
    console.error(usage());
    return 2;
  }
  try {
    console.log(generate({ kind, n, outDir }));
  } catch (e) {
    console.error(`workloads: ${e.message}\n${usage()}`);
    return 2;
  }
  return 0;
}

module.exports = { generate, KINDS, GENERATOR_VERSION };

if (require.main === module) process.exitCode = cli(process.argv.slice(2));
