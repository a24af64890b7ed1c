'use strict';
// Wall-clock mode: every thread sampled at a fixed wall rate whether it runs or waits, with
// `state=running|waiting`; idle threads batched; interop stalls in the summary.

const fs = require('fs');
const path = require('path');
const { ROOT, CLI, buildWithPlugin, tmpDir, run, runNode, profileDirs, readPprof, goPprof, workload } = require('./helpers');

const BURNER = path.join(__dirname, 'fixtures', 'burner');

function profileOf(dir) {
  const p = readPprof(path.join(dir, 'profile.pb.gz'));
  const wallIndex = p.sampleTypes.indexOf('wall/nanoseconds');
  return { dir, p, wall: (s) => Number(s.value[wallIndex]), summary: JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) };
}

describe('a tokio worker blocked on a channel the JS thread answers after 200 ms', () => {
  let prof;
  let waitedMs;
  beforeAll(() => {
    const out = tmpDir('wall');
    // The runtime's workers are found and walked while they idle first; then one takes the task and
    // blocks in the channel within microseconds of CPU, too few to count as running: its wait must
    // still get the stack it waits in, not the idle one it was last walked in.
    const r = runNode(`
      const p = require(${JSON.stringify(ROOT)});
      const f = require(${JSON.stringify(BURNER)});
      const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 99, mode: 'both', wallFrequency: 199, name: 'wall' });
      f.burnTokio(1, 1).then(() => setTimeout(() => {
        f.blockTokioWorker();
        setTimeout(() => {
          const waited = f.answerTokioWorker();
          s.stop().then((r) => console.log(JSON.stringify({ dir: r.dir, waited })));
        }, 200);
      }, 100));`);
    expect(r.status).toBe(0);
    waitedMs = r.json.waited;
    prof = profileOf(r.json.dir);
  });

  const blocked = (s, p) => p.frames(s).some((f) => f.name.includes('fixture_wait_for_js'));

  test('its wall samples say waiting for the time it waited ±15%, with the channel-receive stack', () => {
    const { p, wall } = prof;
    let waitingNs = 0;
    for (const s of p.profile.sample) {
      if (blocked(s, p) && p.labels(s).state === 'waiting') waitingNs += wall(s);
    }
    expect(waitedMs).toBeGreaterThan(190);
    expect(waitingNs / 1e6).toBeGreaterThan(waitedMs * 0.85);
    expect(waitingNs / 1e6).toBeLessThan(waitedMs * 1.15);
    const stack = p.profile.sample.find((s) => blocked(s, p) && p.labels(s).state === 'waiting');
    expect(p.frames(stack).map((f) => f.name).join(' ')).toMatch(/recv/);
  });

  test('its CPU samples show almost nothing', () => {
    const { p } = prof;
    let cpuNs = 0;
    for (const s of p.profile.sample) if (blocked(s, p)) cpuNs += p.cpu(s);
    expect(cpuNs / 1e6).toBeLessThan(15);
  });

  test('the summary has running/waiting per thread; go tool pprof reads wall with -sample_index', () => {
    const worker = prof.summary.threads.filter((t) => t.role === 'tokio').sort((a, b) => b.wallWaitingMs - a.wallWaitingMs)[0];
    expect(worker.wallWaitingMs).toBeGreaterThan(150);
    expect(prof.summary.wallFrequency).toBe(199);
    const top = goPprof(['-top', '-sample_index=wall', '-tagfocus=state=waiting', path.join(prof.dir, 'profile.pb.gz')]);
    expect(top).toMatch(/Type: wall/);
    expect(top).toMatch(/fixture_wait_for_js|recv/);
  });

  test('the trace has a running/waiting track per thread', () => {
    const trace = JSON.parse(fs.readFileSync(path.join(prof.dir, 'trace.json'), 'utf8'));
    const state = trace.traceEvents.filter((e) => e.ph === 'C' && String(e.name).startsWith('on CPU: '));
    expect(state.some((e) => e.args.running === 0)).toBe(true);
    expect(state.some((e) => e.args.running === 1)).toBe(true);
  });
});

test('mode wall: wall is the default sample type; 32 idle rayon threads are batched, not signalled', () => {
  const out = tmpDir('wall-idle');
  const r = runNode(`
    const p = require(${JSON.stringify(ROOT)});
    const f = require(${JSON.stringify(BURNER)});
    f.idleRayonPool(32);
    const s = p.start({ outDir: ${JSON.stringify(out)}, mode: 'wall', name: 'idle' });
    setTimeout(() => s.stop().then((r) => console.log(JSON.stringify({ dir: r.dir }))), 3000);`);
  expect(r.status).toBe(0);
  const { summary, dir } = profileOf(r.json.dir);
  const threads = summary.threads.length;
  expect(threads).toBeGreaterThanOrEqual(33);
  const periods = (summary.durationMs / 1000) * 49 * threads;
  const samplerShare = summary.stats.samplerCpuNs / 1e6 / summary.durationMs;
  console.log(
    `wall mode, ${threads} threads (32 idle rayon) for ${summary.durationMs} ms at 49 Hz: ${summary.stats.signals} signals for ${Math.round(periods)} thread-periods, ` +
      `${summary.stats.wallPeriodsBatched} batched; sampler CPU ${(samplerShare * 100).toFixed(2)}% of one core; handler ${(summary.stats.handlerNs / 1e6).toFixed(2)} ms`,
  );
  expect(summary.stats.wallPeriodsBatched).toBeGreaterThan(periods * 0.7);
  expect(summary.stats.signals).toBeLessThan(periods * 0.2);
  expect(samplerShare).toBeLessThan(0.02);
  expect(goPprof(['-top', path.join(dir, 'profile.pb.gz')])).toMatch(/Type: wall/);
});

describe('interop stalls on the js-loaders workload (mode both)', () => {
  const N = 300;
  const LOADER_BURN_MS = 3;
  let summary;
  let loadersCpuMs;
  beforeAll(() => {
    const app = workload('js-loaders', N);
    const out = tmpDir('wall-loaders');
    const cpuFile = path.join(out, 'loaders-cpu-ms');
    const r = buildWithPlugin(app, { outDir: out, frequency: 999, mode: 'both' }, {
      PERFPROBE_LOADER_BURN_MS: String(LOADER_BURN_MS),
      PERFPROBE_BURN_MODULE: path.join(__dirname, 'fixtures', 'cpu-burn.js'),
      PERFPROBE_LOADER_CPU_FILE: cpuFile,
      PERFPROBE_WORKLOAD_MINIMIZE: '0',
    });
    expect(r.status).toBe(0);
    const [d] = profileDirs(out);
    summary = JSON.parse(fs.readFileSync(path.join(d, 'summary.json'), 'utf8'));
    loadersCpuMs = Number(fs.readFileSync(cpuFile, 'utf8'));
  });

  test('loader calls, their run time, and worker time spent waiting meanwhile are reported', () => {
    const loader = summary.interop.rustToJs.find((k) => k.kind === 'loader');
    expect(loader.calls).toBeGreaterThanOrEqual(N);
    expect(loader.runMs).toBeGreaterThan(N * LOADER_BURN_MS * 0.9);
    expect(loader.workerWaitingMs).toBeGreaterThan(0);
    expect(summary.interop.eventLoopLag.samples).toBeGreaterThan(0);
    expect(summary.interop.jsToRust.syncCalls).toBeGreaterThan(0);
  });

  test("the loaders' sampled run CPU matches the CPU their runs used, and the loader label's CPU ±15%", () => {
    const loader = summary.interop.rustToJs.find((k) => k.kind === 'loader');
    const labelled = summary.labels.loader.reduce((acc, e) => acc + e.cpuMs, 0);
    // The sampler thread times these samples (999 Hz is above half the scheduler tick) at its
    // ticks, not at the CPU instant a CPU timer fires, and a sample that finds the JS thread in
    // `epoll_wait` gives its CPU to the thread's last sample where it ran, most often a loader's:
    // on this 2-core VM that put the loaders 2.9-4.9% over the CPU they used in 4 builds (the CPU
    // timers: within 0.3%), so their sampled CPU may exceed their wall time (docs/sampling.md).
    expect(loadersCpuMs).toBeGreaterThan(N * LOADER_BURN_MS * 0.95);
    expect(loader.runCpuMs).toBeGreaterThan(loadersCpuMs * 0.95);
    expect(loader.runCpuMs).toBeLessThan(loadersCpuMs * 1.07);
    expect(labelled).toBeGreaterThan(loader.runCpuMs * 0.85);
    expect(labelled).toBeLessThan(loader.runCpuMs * 1.15);
  });
});

describe('mode wall: summary, report, diff and flame graph speak wall time', () => {
  let dirs;
  beforeAll(() => {
    const out = tmpDir('wall-readers');
    // Two wall-only sessions of the JS thread: burning, then waiting on a timer.
    const r = runNode(`
      const p = require(${JSON.stringify(ROOT)});
      const f = require(${JSON.stringify(BURNER)});
      const session = (burnMs) => new Promise((resolve) => {
        const s = p.start({ outDir: ${JSON.stringify(out)}, mode: 'wall', wallFrequency: 199, name: 'w' + burnMs });
        f.burnJs(burnMs);
        setTimeout(() => s.stop().then((r) => resolve(r.dir)), 200);
      });
      (async () => console.log(JSON.stringify([await session(100), await session(400)])))();`);
    expect(r.status).toBe(0);
    dirs = r.json;
  });

  test('summary.json: sampleType wall, function and label tables in wallMs, samples per thread', () => {
    const s = JSON.parse(fs.readFileSync(path.join(dirs[1], 'summary.json'), 'utf8'));
    expect(s.sampleType).toBe('wall');
    expect(s.topFunctionsSelf.length).toBeGreaterThan(3);
    expect(s.topFunctionsCumulative[0].wallMs).toBeGreaterThan(500);
    expect(s.topFunctionsSelf.every((e) => e.cpuMs === undefined && typeof e.wallMs === 'number')).toBe(true);
    const js = s.threads.find((t) => t.role === 'js-main');
    expect(js.samples).toBeGreaterThan(50);
    expect(js.wallRunningMs).toBeGreaterThan(300);
    expect(js.wallWaitingMs).toBeGreaterThan(100);
  });

  test('report: wall time sampled, running vs waiting, tables by wall time; no CPU-second, fidelity or sampled CPU', () => {
    const r = run(CLI, ['report', dirs[1]]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/sampled wall\s+[\d,.]+ ms over \d+ threads: running [\d,.]+ ms, waiting [\d,.]+ ms/);
    expect(r.stdout).toMatch(/wall frequency\s+199 Hz per thread of wall-clock time/);
    expect(r.stdout).toContain('Top functions, self wall time');
    expect(r.stdout).toMatch(/running ms\s+waiting ms/);
    expect(r.stdout).not.toMatch(/CPU-second|fidelity|sampled CPU|self CPU/);
    const fn = JSON.parse(fs.readFileSync(path.join(dirs[1], 'summary.json'), 'utf8')).topFunctionsSelf[0];
    expect(r.stdout).toContain(fn.name.slice(0, 30));
  });

  test('diff of two wall profiles: wall time, with the burn that grew', () => {
    const r = run(CLI, ['diff', dirs[0], dirs[1], '--out', path.join(path.dirname(dirs[0]), 'diff.svg')]);
    expect(r.status).toBe(0);
    const grown = /sampled wall time\s+([\d,.]+) -> ([\d,.]+) ms/.exec(r.stdout);
    expect(grown).not.toBeNull();
    const [before, after] = [grown[1], grown[2]].map((v) => Number(v.replace(/,/g, '')));
    expect(after - before).toBeGreaterThan(200);
    expect(r.stdout).toContain('Functions by self wall time');
    // Process CPU is CPU in any mode; nothing sampled is called CPU.
    expect(r.stdout).not.toMatch(/sampled CPU|by CPU|self CPU|NEW's CPU|fidelity/);
    expect(fs.readFileSync(path.join(path.dirname(dirs[0]), 'diff.svg'), 'utf8')).toContain('µs wall');
  });

  test("the flame graph's tooltips say wall, not CPU", () => {
    const svg = fs.readFileSync(path.join(dirs[1], 'flamegraph.svg'), 'utf8');
    expect(svg).toMatch(/\(\d[\d,]* µs wall, /);
    expect(svg).not.toContain('µs CPU');
  });
});
