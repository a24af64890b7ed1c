'use strict';
// Signals as CI runners and users send them: SIGTERM to a hung build (a busy JS thread never runs
// node's listeners: the addon writes the profile and ends the process as SIGTERM would), SIGTERM
// during the export at exit (the folder is completed first), and SIGUSR2 toggling on-demand
// sessions however fast it comes. Real node processes under register.js, real signals.

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { ROOT, tmpDir, profileDirs } = require('./helpers');

const REGISTER = path.join(ROOT, 'register.js');
const FILES = ['flamegraph.svg', 'profile.pb.gz', 'summary.json', 'trace.json'];

/** `node -r register -e script`; `at(ms, signal)` sends a signal; resolves { code, signal, stdout, stderr, ms }. */
function launch(script, env, cwd = ROOT) {
  const child = spawn(process.execPath, ['-e', script], {
    cwd,
    env: { ...process.env, NODE_OPTIONS: `--require ${REGISTER}`, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  let signalledAt = 0;
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, ...out, msAfterSignal: signalledAt ? Date.now() - signalledAt : null })),
  );
  // Settles with the process whatever happens: a process deaf to SIGTERM is killed after 20 s.
  const killer = setTimeout(() => child.kill('SIGKILL'), 20000);
  exited.then(() => clearTimeout(killer));
  const waitFor = async (re, stream = 'stdout', count = 1) => {
    const deadline = Date.now() + 20000;
    while ((out[stream].match(new RegExp(re.source, 'g')) || []).length < count) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}:\n${out.stdout}\n${out.stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const kill = (signal) => {
    signalledAt = signalledAt || Date.now();
    child.kill(signal);
  };
  return { child, out, exited, waitFor, kill };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function onlyFolder(out) {
  const dirs = profileDirs(out);
  expect(dirs).toHaveLength(1);
  expect(fs.readdirSync(dirs[0]).sort()).toEqual(FILES);
  return { dir: dirs[0], summary: JSON.parse(fs.readFileSync(path.join(dirs[0], 'summary.json'), 'utf8')) };
}

describe('a busy JS thread: the signal is heard without it', () => {
  test.each([['SIGTERM'], ['SIGINT']])('%s to `for (;;) {}`: the profile is written and the process dies of the signal', async (signal) => {
    const out = tmpDir('busy');
    const p = launch('console.log("BUSY"); setTimeout(() => { for (;;) {} }, 100);', { PERFPROBE_OUT: out, PERFPROBE_FREQUENCY: '199' });
    await p.waitFor(/BUSY/);
    await sleep(1500);
    p.kill(signal);
    const end = await p.exited;
    expect(end.signal).toBe(signal);
    // JS gets 500 ms to take the session through its own listener, then the export: seconds, not forever.
    expect(end.msAfterSignal).toBeLessThan(8000);
    const { dir, summary } = onlyFolder(out);
    expect(summary.partial).toBe(true);
    expect(summary.partialReason).toBe(`the process received ${signal} while its JS thread was busy`);
    expect(summary.threads.find((t) => t.role === 'js-main').samples).toBeGreaterThan(100);
    expect(end.stderr).toBe(`[perfprobe] profile written to ${dir}\n`);
  });

  test('a plugin build whose tap never returns: SIGTERM writes the profile and names its folder', async () => {
    const out = tmpDir('busy-plugin');
    const app = tmpDir('busy-plugin-app');
    fs.writeFileSync(path.join(app, 'index.js'), 'console.log(1);\n');
    const script = `const { rspack } = require('@rspack/core');
      const { PerfprobePlugin } = require(${JSON.stringify(ROOT)});
      const spin = { apply(c) { c.hooks.thisCompilation.tap('Spin', (comp) => comp.hooks.processAssets.tap('Spin', () => { console.log('BUSY'); for (;;) {} })); } };
      rspack({ mode: 'development', context: ${JSON.stringify(app)}, entry: './index.js', output: { path: ${JSON.stringify(path.join(app, 'dist'))} },
        plugins: [new PerfprobePlugin({ outDir: ${JSON.stringify(out)}, frequency: 199 }), spin] }).run(() => {});`;
    const p = launch(script, { NODE_OPTIONS: '' });
    await p.waitFor(/BUSY/);
    await sleep(500);
    p.kill('SIGTERM');
    const end = await p.exited;
    expect(end.signal).toBe('SIGTERM');
    const { dir, summary } = onlyFolder(out);
    expect(summary.partialReason).toBe('the process received SIGTERM while its JS thread was busy');
    expect(end.stderr).toContain(`[perfprobe] profile written to ${dir}\n`);
  });

  test('a program with its own SIGTERM listener: the profile is written, and the program still decides', async () => {
    const out = tmpDir('busy-listener');
    // Once the loop is free, the session the addon wrote is over for JS too: no session is current.
    const script = `const keep = setInterval(() => {}, 100);
      process.on('SIGTERM', () => setImmediate(() => { console.log('HANDLED', Boolean(require(${JSON.stringify(ROOT)}).current())); clearInterval(keep); process.exitCode = 7; }));
      console.log('BUSY'); setTimeout(() => { const end = Date.now() + 2500; while (Date.now() < end) {} }, 100);`;
    const p = launch(script, { PERFPROBE_OUT: out, PERFPROBE_FREQUENCY: '199' });
    await p.waitFor(/BUSY/);
    await sleep(500);
    p.kill('SIGTERM');
    const end = await p.exited;
    expect(end.signal).toBe(null);
    expect(end.code).toBe(7);
    expect(end.stdout).toBe('BUSY\nHANDLED false\n');
    const { summary } = onlyFolder(out);
    expect(summary.partialReason).toBe('the process received SIGTERM while its JS thread was busy');
  });

  test('a free event loop: node\'s listeners write the profile as before, with the JS side\'s data', async () => {
    const out = tmpDir('free');
    const p = launch('console.log("IDLE"); setInterval(() => {}, 1000);', { PERFPROBE_OUT: out });
    await p.waitFor(/IDLE/);
    await sleep(300);
    p.kill('SIGTERM');
    const end = await p.exited;
    expect(end.signal).toBe('SIGTERM');
    const { summary } = onlyFolder(out);
    expect(summary.partialReason).toBe('the process received SIGTERM');
  });
});

describe('--mixed: the files V8 wrote for the probe go when a signal ends the process', () => {
  // What `perfprobe --mixed` sets: V8 writes /tmp/perf-<pid>.map for the probe's JS names.
  const MIXED = { PERFPROBE_MIXED: '1', NODE_OPTIONS: `--require ${REGISTER} --perf-basic-prof-only-functions --interpreted-frames-native-stack` };
  test.each([
    ['a free event loop (node\'s listener)', 'console.log("READY"); setInterval(() => {}, 1000);'],
    ['a busy JS thread (the addon)', 'console.log("READY"); setTimeout(() => { for (;;) {} }, 100);'],
  ])('%s, SIGTERM', async (_, script) => {
    const out = tmpDir('mixed-signal');
    // Node 24 and 26 also write isolate-0x<isolate>-<pid>-v8.log into the working folder.
    const cwd = tmpDir('mixed-cwd');
    const p = launch(script, { PERFPROBE_OUT: out, ...MIXED }, cwd);
    await p.waitFor(/READY/);
    await sleep(800);
    const map = `/tmp/perf-${p.child.pid}.map`;
    expect(fs.existsSync(map)).toBe(true);
    p.kill('SIGTERM');
    const end = await p.exited;
    expect(end.signal).toBe('SIGTERM');
    onlyFolder(out);
    expect(fs.existsSync(map)).toBe(false);
    expect(fs.readdirSync(cwd)).toEqual([]);
  });
});

describe('a signal during the export at exit', () => {
  test('SIGTERM while the folder is written during teardown: the folder is completed, then the process dies of SIGTERM', async () => {
    const out = tmpDir('teardown');
    // The probe's exit listener (registered first) has handed the export to its thread when this one runs.
    const script = `const end = Date.now() + 800; while (Date.now() < end) {}
      process.on('exit', () => process.kill(process.pid, 'SIGTERM'));`;
    const p = launch(script, { PERFPROBE_OUT: out, PERFPROBE_FREQUENCY: '999' });
    const end = await p.exited;
    expect(end.signal).toBe('SIGTERM');
    const { dir, summary } = onlyFolder(out);
    expect(summary.samples).toBeGreaterThan(100);
    // Announced only once its files were in place.
    expect(end.stderr).toBe(`[perfprobe] profile written to ${dir}\n`);
  });

  test('SIGTERM after the export at exit, while the teardown hangs: the process dies of it at once', async () => {
    const out = tmpDir('teardown-hang');
    // An exit listener that never returns: the teardown hangs after the probe's export has ended.
    const script = `console.log('READY'); process.on('exit', () => { for (;;) {} });`;
    const p = launch(script, { PERFPROBE_OUT: out });
    await p.waitFor(/profile written to/, 'stderr');
    await sleep(300);
    p.kill('SIGTERM');
    const end = await p.exited;
    expect(end.signal).toBe('SIGTERM');
    // Heard by the probe's thread, not after the 20 s SIGKILL of launch().
    expect(end.msAfterSignal).toBeLessThan(5000);
    onlyFolder(out);
  });
});

describe('PERFPROBE_ON_DEMAND: SIGUSR2 alternates start and stop however fast it comes', () => {
  test('start, then stop-start-stop in quick succession, then start and stop: a folder for each start, no warning, none left running', async () => {
    const out = tmpDir('toggle');
    const script = `console.log('READY');
      const t = setInterval(() => { const b = Date.now() + 20; while (Date.now() < b) {} }, 1);
      process.stdin.on('end', () => { clearInterval(t); console.log('DONE'); }).resume();`;
    const p = launch(script, { PERFPROBE_ON_DEMAND: '1', PERFPROBE_OUT: out, PERFPROBE_FREQUENCY: '999' });
    await p.waitFor(/READY/);
    p.kill('SIGUSR2');
    await p.waitFor(/profiling started/, 'stderr');
    await sleep(1500);
    // Apart enough that the kernel does not merge them into one pending signal; close enough that
    // the first profile is still being written when the second start comes.
    for (let i = 0; i < 3; i++) {
      p.child.kill('SIGUSR2');
      await sleep(15);
    }
    await p.waitFor(/profile written to/, 'stderr');
    await sleep(500);
    p.child.kill('SIGUSR2');
    await p.waitFor(/profiling started/, 'stderr', 2);
    await sleep(300);
    p.child.kill('SIGUSR2');
    await p.waitFor(/profile written to/, 'stderr', 2);
    p.child.stdin.end();
    const end = await p.exited;
    expect(end.code).toBe(0);
    expect(end.stdout).toBe('READY\nDONE\n');
    expect(end.stderr).not.toMatch(/warning/);
    // The middle start and stop cancel out if the first profile was still being written, or make a
    // short profile of their own if it was done: either way each start has its stop and its folder.
    const dirs = profileDirs(out);
    expect([2, 3]).toContain(dirs.length);
    expect(end.stderr.match(/profiling started/g)).toHaveLength(dirs.length);
    expect(end.stderr.match(/profile written to/g)).toHaveLength(dirs.length);
    for (const dir of dirs) expect(JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')).partial).toBe(false);
  });
});
