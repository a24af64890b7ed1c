'use strict';
// What a person opens: a real Rspack build's trace.json in speedscope (its npm package's static
// app, served from localhost, in Debian's chromium driven by playwright-core), the trace checked
// against Chrome's event rules, and flamegraph.svg parsed by the browser's XML parser.

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');
const { buildWithPlugin, tmpDir, profileDirs, workload } = require('./helpers');
const { traceViolations } = require('./helpers/trace-rules');
const { serveStatic } = require('./helpers/static-server');
const { CHROMIUM } = require('../scripts/setup');

const PLUGINS = path.join(__dirname, 'fixtures', 'viewer-plugins.js');
const SPEEDSCOPE = path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist', 'release');
// The burner fixture's JS-thread chain, run by viewer-plugins.js inside a `make` tap.
const BURNER_CHAIN = ['fixture_js_entry', 'fixture_js_chain_a', 'fixture_js_chain_b', 'fixture_js_leaf'];

let tmp;
let dir;
let trace;
let server;
let browser;
let page;
/** What the page reported that a person would see as a failure: page errors, alerts, warnings. */
const problems = [];
const consoleLog = [];

beforeAll(async () => {
  // Never a silent skip: a machine without the browser fails here, saying how to get it.
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`node scripts/setup.js --test\` (it installs the Debian package chromium)`);
  tmp = tmpDir('viewer');
  const out = path.join(tmp, 'profiles');
  const r = buildWithPlugin(workload('react', 300), { outDir: out, frequency: 999, name: 'viewer' }, { PERFPROBE_QUIET: '1' }, PLUGINS);
  if (r.status !== 0) throw new Error(`the profiled build failed (${r.status}):\n${r.stderr}`);
  [dir] = profileDirs(out);
  trace = JSON.parse(fs.readFileSync(path.join(dir, 'trace.json'), 'utf8'));

  server = await serveStatic({ '/speedscope/': SPEEDSCOPE, '/profile/': dir });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('console', (m) => {
    consoleLog.push(m.text());
    // SwiftShader's WebGL chatter is the software renderer, not speedscope.
    if ((m.type() === 'error' || m.type() === 'warning') && !/GL Driver Message|WebGL/.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
  });
});

afterAll(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
});

/** Profile names speedscope lists in its profile selector, with their total weight as shown. */
async function listedProfiles() {
  await page.getByText(/\(1\/\d+\)/).click();
  await page.waitForFunction(() => /#\s+Name\s+Total Weight/.test(document.body.innerText));
  const text = await page.evaluate(() => document.body.innerText);
  return text
    .split('\n')
    .map((line) => /^(\d+)\t(.+)\t(.+)$/.exec(line))
    .filter(Boolean)
    .map(([, index, name, weight]) => ({ index: Number(index), name, weight }));
}

describe('trace.json', () => {
  test('follows the Chrome trace event rules', () => {
    expect(traceViolations(trace)).toEqual([]);
    // The rules above hold vacuously for an empty trace: these are what this build must contain.
    const events = trace.traceEvents;
    expect(events.filter((e) => e.ph === 'X' && e.cat === 'phase').map((e) => e.name)).toEqual(expect.arrayContaining(['make', 'seal', 'process-assets']));
    expect(events.some((e) => e.ph === 'X' && e.name === 'BurnerPlugin')).toBe(true);
    expect(events.some((e) => e.ph === 'C')).toBe(true);
    const sampledNames = events
      .filter((e) => e.name === 'Profile')
      .map((p) => events.find((e) => e.name === 'thread_name' && e.tid === p.tid).args.name);
    expect(sampledNames).toEqual(expect.arrayContaining([expect.stringMatching(/\(js-main\)$/), expect.stringMatching(/\((tokio|rayon)\)$/)]));
  });

  test("speedscope imports it and lists the JS thread's and worker threads' flame charts", async () => {
    const profileURL = `${server.origin}/profile/trace.json`;
    await page.goto(`${server.origin}/speedscope/index.html#profileURL=${encodeURIComponent(profileURL)}`);
    await page.waitForFunction(() => /\(\d+\/\d+\)|went wrong|Unrecognized/.test(document.body.innerText), null, { timeout: 60000 });
    expect(problems).toEqual([]);
    // Read as sampled stacks, not as a list of spans (which is what a trace speedscope does not
    // recognize as Chrome's becomes).
    expect(consoleLog).toContain('Importing as Chrome Timeline Object');

    const profiles = await listedProfiles();
    const jsMain = profiles.find((p) => p.name === 'trace.json - node (js-main)');
    const worker = profiles.find((p) => /^trace\.json - tokio-[\w-]+ \((tokio|rayon)\)$/.test(p.name) && !/^0(\.0+)?\s*ns$/.test(p.weight));
    expect({ jsMain, worker }).toEqual({ jsMain: expect.anything(), worker: expect.anything() });

    // A worker's flame chart, on screen, for a person to look at after a failure.
    await page.getByText(worker.name, { exact: true }).first().click();
    await page.waitForFunction((name) => document.body.innerText.includes(`${name} (`), worker.name);
    await page.screenshot({ path: path.join(tmp, 'speedscope-worker.png') });
    expect(problems).toEqual([]);
  });
});

describe('flamegraph.svg', () => {
  test("is well-formed SVG whose frames hold the burner fixture's chain under its plugin", async () => {
    await page.goto(`${server.origin}/profile/flamegraph.svg`);
    const parsed = await page.evaluate(async () => {
      const text = await (await fetch(location.href)).text();
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      const error = doc.querySelector('parsererror');
      return {
        error: error && error.textContent,
        root: doc.documentElement.namespaceURI + ' ' + doc.documentElement.localName,
        frames: [...doc.querySelectorAll('g > title')].map((t) => t.textContent),
      };
    });
    expect(parsed.error).toBeNull();
    expect(parsed.root).toBe('http://www.w3.org/2000/svg svg');
    const names = parsed.frames.map((t) => t.replace(/ \([\d,]+ µs CPU, [\d.]+%\)$/, ''));
    expect(names).toContain('[plugin BurnerPlugin]');
    for (const f of BURNER_CHAIN) expect(names).toContain(`perfprobe_fixture::${f}`);
  });
});
