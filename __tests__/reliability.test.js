'use strict';
// The probe in hard places and a hostile environment: it must never crash or fail the build it
// watches, must say clearly what went wrong (path, errno, option), and must leave no junk behind.
// Real node processes, real Rspack builds, real mounts (the tests run as root) and a real kill -9.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { ROOT, BUILD_APP, buildWithPlugin, tmpDir, run, runNode, profileDirs, readPprof, workload } = require('./helpers');

const FIXTURE = path.join(__dirname, 'fixtures', 'burner');
const ADDON = path.join(ROOT, `perfprobe.${require('../lib/native').platformTriple()}.node`);
// Mounting a read-only bind or a tiny tmpfs needs root (CI runs as root); permission bits would
// not do, root ignores them.
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const rootTest = asRoot ? test : test.skip;

/** Runs `body` (JS using `p`, `f`, `out`) in a fresh node with a session `s` started by `startOptions`; prints the stop result. */
function profileInNode(out, startOptions, body) {
  return runNode(
    `const p = require(${JSON.stringify(ROOT)});
     const f = require(${JSON.stringify(FIXTURE)});
     const out = ${JSON.stringify(out)};
     const s = p.start({ outDir: out, ...${JSON.stringify(startOptions)} });
     (async () => { ${body} })().then(() => s.stop()).then((r) => console.log(JSON.stringify(r)));`,
  );
}

function threadNamed(summary, name) {
  return summary.threads.find((t) => t.name === name);
}

describe('unwinding in hard places, sampled at 4999 Hz', () => {
  test('10k-frame recursion: stacks cut at the 512-frame limit and counted in stats.truncatedStacks', () => {
    const out = tmpDir('deep');
    const r = profileInNode(out, { frequency: 4999, quiet: true }, 'await f.burnDeepRecursion(10000, 600);');
    expect(r.status).toBe(0);
    const { summary, files } = r.json;
    const deep = threadNamed(summary, 'fixture-deep');
    expect(deep.samples).toBeGreaterThan(1000);
    expect(summary.stats.truncatedStacks).toBeGreaterThanOrEqual(deep.samples * 0.9);
    const p = readPprof(files.pprof);
    // pprof keeps one sample per distinct stack and labels, with its count.
    const count = (list) => list.reduce((n, s) => n + Number(s.value[0]), 0);
    const deepSamples = p.profile.sample.filter((s) => p.labels(s).thread === 'fixture-deep');
    const cut = deepSamples.filter((s) => s.locationId.length === 512);
    expect(count(cut)).toBeGreaterThanOrEqual(count(deepSamples) * 0.9);
    // The cut keeps the innermost frames: the leaf (or the clock read it makes) and the recursion above it.
    const leafThenRecursion = cut.filter((s) => {
      const names = p.frames(s).map((fr) => fr.name);
      const leaf = names.findIndex((n) => /fixture_deep_leaf/.test(n));
      return leaf >= 0 && leaf < 3 && names.slice(leaf + 1, leaf + 20).every((n) => /fixture_deep_recurse/.test(n));
    });
    expect(count(leafThenRecursion)).toBeGreaterThanOrEqual(count(cut) * 0.9);
  });

  test('a thread blocked in read() for 2 s while the JS thread burns gets ~no samples', () => {
    const out = tmpDir('blocked');
    const r = profileInNode(
      out,
      { frequency: 4999, quiet: true },
      `const blocked = f.blockInSyscall(2000);
       f.burnJs(1500);
       const report = await blocked;
       console.log(JSON.stringify(report));`,
    );
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n')[0]);
    expect(report.wallNs).toBeGreaterThan(1.9e9);
    const { summary } = r.json;
    const blocked = summary.threads.find((t) => t.tid === report.tid);
    // Seen, but it used microseconds of CPU: at most one sample of its start-up or wake-up.
    expect(blocked).toBeDefined();
    expect(blocked.samples).toBeLessThanOrEqual(2);
    expect(blocked.cpuMs).toBeLessThan(5);
    expect(summary.threads.find((t) => t.role === 'js-main').samples).toBeGreaterThan(5000);
  });

  test.each([
    [64, 'full stacks'],
    [12, 'leaf-only samples, counted in stats.nearStackLimit'],
    [6, 'leaf-only samples, counted in stats.nearStackLimit'],
  ])('a thread burning with %i KiB of stack left above its guard page: %s, no crash', (marginKb) => {
    const out = tmpDir('guard');
    const r = profileInNode(
      out,
      { frequency: 4999, quiet: true },
      `console.log(JSON.stringify(await f.burnNearStackLimit(256, ${marginKb}, 500)));`,
    );
    // Before the handler checked the room left, 12 and 6 KiB died here of "stack overflow".
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n')[0]);
    expect(report.leftBytes).toBeLessThanOrEqual(marginKb * 1024);
    const { summary } = r.json;
    const t = summary.threads.find((x) => x.tid === report.tid);
    expect(t.samples).toBeGreaterThan(1000);
    if (marginKb > 32) {
      expect(t.leafOnlySamples).toBeLessThan(t.samples * 0.1);
    } else {
      expect(t.leafOnlySamples).toBeGreaterThan(t.samples * 0.8);
      expect(summary.stats.nearStackLimit).toBeGreaterThanOrEqual(t.leafOnlySamples);
    }
  });
});

describe('a hostile environment: the build succeeds, the warning names the path and the errno, no junk is left', () => {
  let app;
  let baseline;
  beforeAll(() => {
    app = workload('react', 300);
    baseline = run(process.execPath, [BUILD_APP, app], { env: { PERFPROBE_WORKLOAD_MINIMIZE: '0' } });
  });

  function buildWithOutDir(outDir) {
    return buildWithPlugin(app, { outDir, frequency: 999, name: 'hostile' }, { PERFPROBE_WORKLOAD_MINIMIZE: '0' });
  }

  function expectBuildUnaffected(r) {
    expect(baseline.status).toBe(0);
    expect(r.status).toBe(baseline.status);
    expect(JSON.parse(r.stdout.trim().split('\n').find((l) => l.startsWith('{"buildMs"')))).toEqual(
      expect.objectContaining({ errors: false }),
    );
  }

  /** Every file under `dir`, relative. */
  function listAll(dir) {
    const out = [];
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const rel = e.name;
      if (e.isDirectory()) out.push(`${rel}/`, ...listAll(path.join(dir, rel)).map((f) => `${rel}/${f}`));
      else out.push(rel);
    }
    return out;
  }

  rootTest('outDir on a read-only mount: EROFS and the path, build unaffected', () => {
    const mnt = tmpDir('ro');
    expect(run('mount', ['--bind', mnt, mnt]).status).toBe(0);
    try {
      expect(run('mount', ['-o', 'remount,ro,bind', mnt]).status).toBe(0);
      const outDir = path.join(mnt, 'profiles');
      const r = buildWithOutDir(outDir);
      expectBuildUnaffected(r);
      expect(r.stderr).toContain(`cannot create a profile folder under ${outDir}: EROFS`);
      expect(fs.readdirSync(mnt)).toEqual([]);
    } finally {
      run('umount', [mnt]);
    }
  });

  test('outDir under a path that is a file: ENOTDIR and the path', () => {
    const dir = tmpDir('file');
    const file = path.join(dir, 'not-a-folder');
    fs.writeFileSync(file, 'user data');
    const r = buildWithOutDir(path.join(file, 'profiles'));
    expectBuildUnaffected(r);
    expect(r.stderr).toContain(`cannot create a profile folder under ${path.join(file, 'profiles')}: ENOTDIR`);
    expect(fs.readFileSync(file, 'utf8')).toBe('user data');
  });

  test('outDir is a file: ENOTDIR and the path, the file untouched', () => {
    const dir = tmpDir('isfile');
    const file = path.join(dir, 'profiles');
    fs.writeFileSync(file, 'user data');
    const r = buildWithOutDir(file);
    expectBuildUnaffected(r);
    expect(r.stderr).toContain(`cannot create a profile folder under ${file}: ENOTDIR`);
    expect(fs.readFileSync(file, 'utf8')).toBe('user data');
    expect(fs.readdirSync(dir)).toEqual(['profiles']);
  });

  rootTest('outDir on a full filesystem (64 KiB tmpfs): ENOSPC and the file, no temp files left', () => {
    const mnt = tmpDir('full');
    expect(run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status).toBe(0);
    try {
      const r = buildWithOutDir(mnt);
      expectBuildUnaffected(r);
      expect(r.stderr).toMatch(new RegExp(`${mnt}/hostile-[^/]+/(profile\\.pb\\.gz|trace\\.json|flamegraph\\.svg|summary\\.json): ENOSPC: No space left on device`));
      const left = listAll(mnt);
      expect(left.filter((f) => f.includes('perfprobe-tmp') || f.includes('.tmp'))).toEqual([]);
      // What is there is whole: every file that made it parses.
      for (const f of left.filter((x) => x.endsWith('.json'))) expect(() => JSON.parse(fs.readFileSync(path.join(mnt, f), 'utf8'))).not.toThrow();
    } finally {
      run('umount', [mnt]);
    }
  });
});

describe('two copies of the addon in one process', () => {
  let copy;
  beforeAll(() => {
    copy = path.join(tmpDir('copy'), 'perfprobe-second-install.node');
    fs.copyFileSync(ADDON, copy);
  });

  test('the second copy refuses to start a second sampler; the first keeps sampling and writes its profile', () => {
    const out = tmpDir('two');
    const r = profileInNode(
      out,
      { frequency: 499, name: 'first' },
      `const second = require(${JSON.stringify(copy)});
       let refused = null;
       try { second.start({ frequency: 99 }); } catch (e) { refused = e.message; }
       console.log(JSON.stringify({ refused }));
       f.burnJs(400);`,
    );
    expect(r.status).toBe(0);
    const { refused } = JSON.parse(r.stdout.trim().split('\n')[0]);
    expect(refused).toMatch(/another copy of rspack-perfprobe is already sampling this process \(two installs loaded\?\)/);
    expect(r.json.warnings).toEqual([]);
    expect(r.json.summary.threads.find((t) => t.role === 'js-main').samples).toBeGreaterThan(100);
  });

  test('through the JS API (PERFPROBE_NATIVE_PATH): a warning, the program goes on', () => {
    const out = tmpDir('two-js');
    const r = runNode(
      `const first = require(${JSON.stringify(ADDON)}).start({ frequency: 99 });
       const s = require(${JSON.stringify(ROOT)}).start({ outDir: ${JSON.stringify(out)} });
       s.stop().then((res) => { first.cancel(); console.log(JSON.stringify(res)); });`,
      { env: { PERFPROBE_NATIVE_PATH: copy } },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/\[perfprobe\] warning: profiling is off: another copy of rspack-perfprobe is already sampling this process/);
    expect(r.json.dir).toBeNull();
    expect(r.json.warnings).toEqual([expect.stringMatching(/^profiling is off: another copy of rspack-perfprobe/)]);
  });
});

describe('another library owns the real-time signal the probe would use', () => {
  test('unset `signal`: the probe picks the next free one and samples', () => {
    const out = tmpDir('sig');
    const taken = runNode(
      `const f = require(${JSON.stringify(FIXTURE)});
       const owned = f.sigrtmin() + 4;
       if (!f.claimSignal(owned)) throw new Error('could not claim');
       const s = require(${JSON.stringify(ROOT)}).start({ outDir: ${JSON.stringify(out)}, frequency: 499, quiet: true });
       f.burnJs(300);
       s.stop().then((res) => console.log(JSON.stringify({ owned, summary: res.summary })));`,
    );
    expect(taken.status).toBe(0);
    const { owned, summary } = taken.json;
    expect(summary.signal).not.toBe(owned);
    expect(summary.signal).toBeGreaterThan(owned);
    expect(summary.threads.find((t) => t.role === 'js-main').samples).toBeGreaterThan(100);
  });

  test('`signal` set to the owned one: a warning naming the option and the signal, the program goes on', () => {
    const out = tmpDir('sig-opt');
    const r = runNode(
      `const f = require(${JSON.stringify(FIXTURE)});
       const owned = f.sigrtmin() + 4;
       f.claimSignal(owned);
       const s = require(${JSON.stringify(ROOT)}).start({ outDir: ${JSON.stringify(out)}, signal: owned });
       f.burnJs(100);
       s.stop().then((res) => console.log(JSON.stringify({ owned, res })));`,
    );
    expect(r.status).toBe(0);
    const { owned } = r.json;
    expect(r.stderr).toContain(`option \`signal\`: signal ${owned} already has a handler installed by someone else`);
    expect(r.stderr).toContain('leave `signal` unset');
  });
});

describe('a loaded module rebuilt on disk', () => {
  /** Loads a copy of the fixture addon, runs `during` around 300 ms of its code in a session, returns the result. */
  function rebuilt(name, { beforeStart, afterMs }) {
    const dir = tmpDir(name);
    const loaded = path.join(dir, 'addon-under-work.node');
    fs.copyFileSync(path.join(FIXTURE, 'perfprobe_fixture.node'), loaded);
    // A rebuild replaces the file by copy and rename: the process keeps the old one mapped.
    const rebuild = `fs.copyFileSync(${JSON.stringify(ADDON)}, ${JSON.stringify(loaded + '.new')});
       fs.renameSync(${JSON.stringify(loaded + '.new')}, ${JSON.stringify(loaded)});`;
    const r = runNode(
      `const fs = require('fs');
       const p = require(${JSON.stringify(ROOT)});
       const f = require(${JSON.stringify(loaded)});
       ${beforeStart ? rebuild : ''}
       const s = p.start({ outDir: ${JSON.stringify(dir)}, frequency: 999, quiet: true });
       f.burnJs(${afterMs ?? 300});
       ${beforeStart ? '' : rebuild}
       f.burnJs(300);
       s.stop().then((res) => console.log(JSON.stringify(res)));`,
    );
    expect(r.status).toBe(0);
    return { r, module: r.json.summary.modules.find((m) => m.path === loaded) };
  }

  test("before the session: its frames stay module+0x... (not another binary's names) and a warning says why", () => {
    const { r, module } = rebuilt('rebuilt-before', { beforeStart: true });
    expect(module.symbols).toBe('unreadable');
    expect(module.warning).toMatch(/changed on disk since it was loaded \(build-id [0-9a-f]+, loaded [0-9a-f]+\)/);
    expect(r.json.warnings).toContain(module.warning);
    const top = r.json.summary.topFunctionsSelf.map((e) => e.name);
    expect(top.some((n) => n.startsWith('addon-under-work.node+0x'))).toBe(true);
  });

  test('during the session, after its tables were read ahead: its frames are named from the binary loaded', () => {
    // The tables are read at idle priority from the session's start (tens of ms on one free core).
    const { r, module } = rebuilt('rebuilt-during', { beforeStart: false, afterMs: 1500 });
    expect(module.symbols).toBe('dwarf');
    expect(module.warning).toBeUndefined();
    expect(r.json.warnings).toEqual([]);
    const top = r.json.summary.topFunctionsSelf.map((e) => e.name);
    expect(top.some((n) => n.includes('fixture_js_'))).toBe(true);
    expect(top.some((n) => n.startsWith('addon-under-work.node+0x'))).toBe(false);
  });
});

describe('another library takes the signal over during a session', () => {
  test('sampling stops, the profile says why and which option to set, the next session picks a free signal', () => {
    const out = tmpDir('sig-takeover');
    const r = runNode(
      `const p = require(${JSON.stringify(ROOT)});
       const f = require(${JSON.stringify(FIXTURE)});
       const mine = f.sigrtmin() + 4;
       const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499, quiet: true });
       f.burnJs(200);
       f.claimSignal(mine);
       f.burnJs(300);
       s.stop().then(async (first) => {
         const again = p.start({ outDir: ${JSON.stringify(out)}, frequency: 499, quiet: true });
         f.burnJs(300);
         const second = await again.stop();
         console.log(JSON.stringify({ mine, first: first.summary, second: second.summary }));
       });`,
    );
    expect(r.status).toBe(0);
    const { mine, first, second } = r.json;
    expect(first.signal).toBe(mine);
    expect(first.partial).toBe(true);
    expect(first.partialReason).toMatch(new RegExp(`another handler took over signal ${mine} during the session.*set option \`signal\``));
    // Sampled until the takeover (200 ms at 499 Hz), not after it.
    const js = (s) => s.threads.find((t) => t.role === 'js-main').samples;
    expect(js(first)).toBeGreaterThan(50);
    expect(js(first)).toBeLessThan(200);
    expect(second.signal).not.toBe(mine);
    expect(second.partial).toBe(false);
    expect(js(second)).toBeGreaterThan(100);
  });
});

describe('temp files: a kill -9 mid-write leaves only ours, and the next session removes them', () => {
  const TEMP = /^\..+\.perfprobe-tmp-(\d+)$/;

  function deadPid() {
    const child = spawnSync('true');
    return child.pid;
  }

  test('planted: temps of dead pids go, those of live pids and everything else stay', () => {
    const out = tmpDir('stale');
    const old = path.join(out, 'build-20240101-000000-4242');
    fs.mkdirSync(old);
    const dead = deadPid();
    const stale = [path.join(old, `.trace.json.perfprobe-tmp-${dead}`), path.join(out, `.summary.json.perfprobe-tmp-${dead}`)];
    const sleeper = spawn('sleep', ['30']);
    const kept = [
      path.join(old, `.trace.json.perfprobe-tmp-${sleeper.pid}`), // a live writer
      path.join(old, 'profile.pb.gz'),
      path.join(old, `.notes.tmp-${dead}`), // not ours
      path.join(out, 'README'),
    ];
    const userDir = path.join(out, 'my-stuff');
    fs.mkdirSync(userDir);
    kept.push(path.join(userDir, `.x.perfprobe-tmp-${dead}`)); // not a profile folder: never searched
    for (const f of [...stale, ...kept]) fs.writeFileSync(f, 'x');
    try {
      const r = profileInNode(out, { frequency: 99, quiet: true }, 'f.burnJs(50);');
      expect(r.status).toBe(0);
      for (const f of stale) expect(fs.existsSync(f)).toBe(false);
      for (const f of kept) expect(fs.existsSync(f)).toBe(true);
    } finally {
      sleeper.kill();
    }
  });

  test('a real kill -9 during export', async () => {
    const out = tmpDir('kill9');
    // Big output (many distinct deep stacks at 9999 Hz) so that writing takes long enough to hit.
    const script = `const p = require(${JSON.stringify(ROOT)});
      const f = require(${JSON.stringify(FIXTURE)});
      const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 9999, name: 'killed', quiet: true });
      Promise.all([f.burnRayon(1500, 2), f.burnDeepRecursion(300, 1500)]).then(() => s.stop());`;
    let caught = null;
    for (let attempt = 0; attempt < 5 && !caught; attempt++) {
      const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const deadline = Date.now() + 60000;
      while (child.exitCode === null && Date.now() < deadline) {
        const hit = profileDirs(out)
          .flatMap((d) => fs.readdirSync(d).map((n) => path.join(d, n)))
          .find((f) => TEMP.test(path.basename(f)));
        if (hit) {
          child.kill('SIGKILL');
          caught = { hit, pid: child.pid };
          break;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await exited;
    }
    expect(caught).not.toBeNull();
    // What the kill left: complete files and temp files named as ours, with the dead pid.
    const [dir] = profileDirs(out);
    const leftovers = fs.readdirSync(dir).filter((n) => n.startsWith('.'));
    expect(leftovers.length).toBeGreaterThan(0);
    for (const n of leftovers) expect(n).toMatch(new RegExp(`^\\.(profile\\.pb\\.gz|trace\\.json|flamegraph\\.svg|summary\\.json)\\.perfprobe-tmp-${caught.pid}$`));
    for (const n of fs.readdirSync(dir).filter((x) => !x.startsWith('.'))) expect(['profile.pb.gz', 'trace.json', 'flamegraph.svg', 'summary.json']).toContain(n);
    // The next session in the same outDir cleans them.
    const r = profileInNode(out, { frequency: 99, quiet: true }, 'f.burnJs(50);');
    expect(r.status).toBe(0);
    expect(fs.readdirSync(dir).filter((n) => TEMP.test(n))).toEqual([]);
  }, 300000);
});
