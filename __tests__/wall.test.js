'use strict';
// Wall-clock mode: every thread sampled at a fixed wall rate whether it runs or waits, with
// `state=running|waiting`; idle threads batched; interop stalls in the summary.

const fs = require('fs');
const path = require('path');
const { ROOT, buildWithPlugin, tmpDir, runNode, profileDirs, readPprof, goPprof, workload } = require('./helpers');

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
    const r = runNode(`
      const p = require(${JSON.stringify(ROOT)});
      const f = require(${JSON.stringify(BURNER)});
      const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 99, mode: 'both', wallFrequency: 199, name: 'wall' });
      f.blockTokioWorker();
      setTimeout(() => {
        const waited = f.answerTokioWorker();
        s.stop().then((r) => console.log(JSON.stringify({ dir: r.dir, waited })));
      }, 200);`);
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
  beforeAll(() => {
    const app = workload('js-loaders', N);
    const out = tmpDir('wall-loaders');
    const r = buildWithPlugin(app, { outDir: out, frequency: 999, mode: 'both' }, {
      PERFPROBE_LOADER_BURN_MS: String(LOADER_BURN_MS),
      PERFPROBE_BURN_MODULE: path.join(__dirname, 'fixtures', 'cpu-burn.js'),
      PERFPROBE_WORKLOAD_MINIMIZE: '0',
    });
    expect(r.status).toBe(0);
    const [d] = profileDirs(out);
    summary = JSON.parse(fs.readFileSync(path.join(d, 'summary.json'), 'utf8'));
  });

  test('loader calls, their run time, and worker time spent waiting meanwhile are reported', () => {
    const loader = summary.interop.rustToJs.find((k) => k.kind === 'loader');
    expect(loader.calls).toBeGreaterThanOrEqual(N);
    expect(loader.runMs).toBeGreaterThan(N * LOADER_BURN_MS * 0.9);
    expect(loader.workerWaitingMs).toBeGreaterThan(0);
    expect(summary.interop.eventLoopLag.samples).toBeGreaterThan(0);
    expect(summary.interop.jsToRust.syncCalls).toBeGreaterThan(0);
  });

  test("the loaders' run time (CPU) matches the loader label's CPU on the JS thread ±15%", () => {
    const loader = summary.interop.rustToJs.find((k) => k.kind === 'loader');
    const labelled = summary.labels.loader.reduce((acc, e) => acc + e.cpuMs, 0);
    expect(loader.runCpuMs).toBeLessThanOrEqual(loader.runMs * 1.01);
    expect(labelled).toBeGreaterThan(loader.runCpuMs * 0.85);
    expect(labelled).toBeLessThan(loader.runCpuMs * 1.15);
  });
});
