'use strict';
// The native sampler against the fixture addon: CPU of every kind of thread (JS main, tokio,
// rayon, a named thread), whole call chains, inline frames, V8's profiler alongside, thread churn.

const fs = require('fs');
const path = require('path');
const { ROOT, tmpDir, run, runNode, readPprof, rawSampleCount, buildWithPlugin, workload, profileDirs } = require('./helpers');

const DRIVER = path.join(__dirname, 'fixtures', 'drive-fixture.js');

function drive(args, nodeFlags = [], env = {}) {
  const r = run(process.execPath, [...nodeFlags, DRIVER, JSON.stringify(args)], { cwd: ROOT, env });
  if (r.status !== 0) throw new Error(`fixture driver failed (${r.status} ${r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const KINDS = ['js', 'tokio', 'rayon', 'named', 'callback'];
const perfEventParanoid = () => Number(fs.readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8'));
const kindOf = (report) => report.function.replace(/^fixture_/, '').replace(/_leaf$/, '');

/** How often this kernel ticks: CPU-clock timers fire at the tick, so it bounds their rate. */
const TICK_HZ = require('../lib/native').loadNative().binding.constants().kernelTickHz;
/** What option `timer` 'auto' picks at `frequency`: CPU-clock timers where the tick is twice the rate. */
const autoTimer = (frequency) => (TICK_HZ && frequency * 2 <= TICK_HZ ? 'cpu-clock' : 'sampler-thread');
/**
 * The least share of a burner's CPU its samples weigh (`leaf`: the samples in its burning function).
 * - perf-event: a sample weighs one period of the task clock, whose hrtimer skips the periods it
 *   fired late by: on this VM a burner now and then loses many (999 Hz: 0.83-0.92 in 3 of 30 runs,
 *   4999 Hz: 0.77 and 0.88 in a CI run).
 * - sampler-thread: weights are the thread's CPU clock, but a tick the sampler thread could not
 *   take on time sends one signal weighing all the thread ran meanwhile, and it lands where the
 *   thread is by then: past its burning function near its end (999 Hz, 300 ms burns: 0.90; 4999 Hz,
 *   600 ms: 0.93, in CI runs).
 * - cpu-clock: the kernel folds late expiries into the signal (`si_overrun`): exact.
 */
const weightFloor = (ran, { leaf }) => ({ 'perf-event': 0.7, 'sampler-thread': leaf ? 0.85 : 0.95 })[ran] ?? 0.95;

// The default timer (auto: CPU-clock timers at 99 Hz on this 250 Hz kernel, the sampler thread
// above), each timer asked for by name, at 1 and 5 kHz where the timer reaches such rates.
describe.each([
  [99, 'auto'],
  [999, 'auto'],
  [99, 'sampler-thread'],
  [999, 'sampler-thread'],
  [4999, 'sampler-thread'],
  [999, 'perf-event'],
  [4999, 'perf-event'],
  [99, 'cpu-clock'],
  [999, 'cpu-clock'],
])('at %i Hz, timer %s', (frequency, timer) => {
  let out;
  let pprof;
  beforeAll(() => {
    // At 99 Hz a 300 ms burn is 30 samples: burn longer so ±10% is not a one-sample question. At
    // 4999 Hz the CPU a thread carries past its last sample (up to 5 ms) is 25 samples: burn longer too.
    const burnMs = { 99: 1000, 999: 300, 4999: 600 }[frequency];
    out = drive({ scenario: 'kinds', frequency, timer, outDir: tmpDir(`kinds-${frequency}-${timer}`), burnMs });
    pprof = readPprof(out.result.files.pprof);
  });

  test('the summary names the timer that ran (perf events are allowed here: root or perf_event_paranoid <= 1)', () => {
    const allowed = process.getuid() === 0 || perfEventParanoid() <= 1;
    const ran = timer === 'perf-event' && !allowed ? 'sampler-thread' : timer === 'auto' ? autoTimer(frequency) : timer;
    expect(out.result.summary.timer).toBe(ran);
    const { stats } = out.result.summary;
    if (ran === 'perf-event' || ran === 'cpu-clock') {
      // Every sample came from a thread's own timer (the callback's JS thread included).
      expect(stats.timerSignals).toBe(stats.signals);
      expect(stats.timerOpenFailures).toBe(0);
    } else {
      expect(stats.timerSignals).toBe(0);
    }
  });

  test('go tool pprof -raw reads the profile', () => {
    expect(rawSampleCount(out.result.files.pprof)).toBeGreaterThan(0);
  });

  test.each(KINDS)('%s: sampled CPU is the thread\'s CPU (+5%; -5% CPU-clock, -15% sampler thread, -30% perf-event), at the asked rate (-50%, +10%)', (kind) => {
    const reports = out.reports.filter((r) => kindOf(r) === kind);
    expect(reports.length).toBeGreaterThan(0);
    const tids = new Set(reports.map((r) => r.tid));
    const leaf = `perfprobe_fixture::fixture_${kind}_leaf`;
    let cpu = 0;
    let count = 0;
    for (const s of pprof.profile.sample) {
      if (!tids.has(pprof.labels(s).thread_id)) continue;
      if (!pprof.frames(s).some((f) => f.name === leaf)) continue;
      cpu += pprof.cpu(s);
      count += Number(s.value[0]);
    }
    const expectedCpu = reports.reduce((a, r) => a + r.cpuNs, 0);
    const rate = count / (expectedCpu / 1e9);
    const ran = timer === 'auto' ? autoTimer(frequency) : timer;
    const reachable = ran === 'cpu-clock' ? Math.min(frequency, TICK_HZ) : frequency;
    expect(cpu / expectedCpu).toBeGreaterThan(weightFloor(ran, { leaf: true }));
    expect(cpu / expectedCpu).toBeLessThan(1.05);
    // Weights stay exact under load; the count dips when the sampler thread waits for a core, or
    // (CPU-clock timers) when the kernel's tick finds another thread on the core. Seven burners on
    // this 2-core VM at 999 Hz: 0.96-1.00 alone, 0.72 (sampler thread) and 0.80 (CPU-clock) in CI
    // runs, down to 0.49 with two more busy processes beside it, with the namer thread or without.
    // At 4999 Hz (a tick every 200 µs) the rate fell to 0.6x with cargo's tests on the other core.
    expect(rate / reachable).toBeGreaterThan(0.5);
    expect(rate / reachable).toBeLessThan(1.1);
  });

  test('every burning thread is sampled for its CPU clock (+5%; -5%, perf-event -30%), and an idle thread not at all', () => {
    const ran = timer === 'auto' ? autoTimer(frequency) : timer;
    for (const r of out.reports.filter((r) => kindOf(r) !== 'callback' && kindOf(r) !== 'js')) {
      const t = out.result.summary.threads.find((t) => t.tid === r.tid);
      expect(t).toBeDefined();
      expect(t.sampledCpuMs / t.cpuMs).toBeGreaterThan(weightFloor(ran, { leaf: false }));
      // The sampler thread weighs samples by the thread's CPU clock, so they never exceed it. A
      // perf-event timer counts periods of the kernel's task clock, which also runs through the
      // interrupts and, on a virtual machine, the steal time that the CPU clock leaves out:
      // measured 0.05-4% more here, 6.3% with the whole suite running beside it. A burner's total
      // counts what it ran after the sampler thread's last read of its clock (up to 100 ms before it
      // exited) from its timer's samples (crates/core/tests/sampler.rs checks that total).
      const timed = ['perf-event', 'cpu-clock'].includes(ran);
      expect(t.sampledCpuMs / t.cpuMs).toBeLessThanOrEqual(timed ? 1.1 : 1.0 + 1e-9);
    }
    // A sleeping thread is never signalled: it has at most the samples its own CPU earns (starting
    // up, which at 4999 Hz can pass one 200 µs period on this VM: seen twice, one sample each).
    const idle = out.result.summary.threads.find((t) => t.tid === out.idleTid);
    if (idle) expect(idle.samples).toBeLessThanOrEqual(Math.floor((idle.cpuMs * frequency) / 1000));
  });

  test('thread roles: js-main, tokio, rayon (unnamed threads), other', () => {
    const role = (tid) => out.result.summary.threads.find((t) => t.tid === tid).role;
    for (const r of out.reports) {
      const expected = { js: 'js-main', callback: 'js-main', tokio: 'tokio', rayon: 'rayon', named: 'other' }[kindOf(r)];
      expect(role(r.tid)).toBe(expected);
    }
  });
});

describe('stacks', () => {
  let out;
  let pprof;
  beforeAll(() => {
    out = drive({ scenario: 'kinds', frequency: 999, outDir: tmpDir('stacks') });
    pprof = readPprof(out.result.files.pprof);
  });

  test.each(KINDS)('%s: entry -> chain_a -> chain_b -> leaf in >=95%% of the leaf\'s samples', (kind) => {
    const name = (f) => `perfprobe_fixture::fixture_${kind}_${f}`;
    let withLeaf = 0;
    let whole = 0;
    for (const s of pprof.profile.sample) {
      const names = pprof.frames(s).map((f) => f.name).reverse(); // root first
      const pos = (f) => names.indexOf(name(f));
      if (pos('leaf') < 0) continue;
      withLeaf += Number(s.value[0]);
      if (pos('entry') >= 0 && pos('entry') < pos('chain_a') && pos('chain_a') < pos('chain_b') && pos('chain_b') < pos('leaf')) {
        whole += Number(s.value[0]);
      }
    }
    expect(withLeaf).toBeGreaterThan(100);
    expect(whole / withLeaf).toBeGreaterThanOrEqual(0.95);
  });

  test('the inlined frame shows with its file and line, inside its caller', () => {
    const site = out.inlined;
    const hits = [...pprof.locations.values()].filter((loc) => {
      const lines = loc.line.map((ln) => {
        const f = pprof.functions.get(Number(ln.functionId));
        return { name: pprof.str(f.name), file: pprof.str(f.filename), line: Number(ln.line) };
      });
      const inlined = lines.findIndex((l) => l.name.endsWith(site.function) && l.file.endsWith(site.file));
      return inlined >= 0 && lines.slice(inlined + 1).some((l) => l.name.endsWith(site.caller) && l.line === site.line);
    });
    expect(hits.length).toBeGreaterThan(0);
  });

  test('a JS callback called from native code sits above the native chain', () => {
    const callback = pprof.profile.sample.filter((s) => pprof.frames(s).some((f) => f.name === 'perfprobe_fixture::fixture_callback_chain_a'));
    expect(callback.length).toBeGreaterThan(0);
  });
});

describe("V8's CPU profiler in the same process", () => {
  let alone;
  beforeAll(() => {
    alone = drive({ scenario: 'v8:alone-v8', frequency: 999, outDir: tmpDir('v8') }).v8Samples;
  });

  test.each(['v8-v8', 'v8-probe', 'probe-v8', 'probe-probe'])('started %s first, stopped second-named first: both keep working', (order) => {
    const [first, stopFirst] = order.split('-');
    const out = drive({ scenario: `v8:${first}-${stopFirst}`, frequency: 999, outDir: tmpDir(`v8-${order}`) });
    expect(out.v8Samples).toBeGreaterThanOrEqual(0.8 * alone);
    const js = out.result.summary.threads.find((t) => t.role === 'js-main');
    expect(js.sampledCpuMs / js.cpuMs).toBeGreaterThan(0.95);
    expect(out.result.summary.fidelity).toBeGreaterThan(0.95);
  });
});

describe('thread churn and repeated sessions', () => {
  test('2000 short threads: no crash, no timer left; 50 sessions: fds and RSS flat', () => {
    // glibc opens a malloc arena per contending thread (up to 8 per core) and keeps what they hold:
    // on a busy machine that alone grows RSS by tens of MB. Two arenas leave only real growth.
    const out = drive({ scenario: 'churn', frequency: 999, outDir: tmpDir('churn'), cycles: 70, warmup: 20 }, ['--expose-gc'], { MALLOC_ARENA_MAX: '2' });
    expect(out.churn.threads).toBe(2000);
    const { stats } = out.result.summary;
    // Every signal became a kept sample unless its thread exited before handling it, or it found
    // its thread at a wait and gave its weight to an earlier sample.
    expect(out.result.summary.samples + stats.lostInFlight + stats.droppedStoreFull + stats.movedFromWaits).toBe(stats.signals);
    // How many 1 ms threads the 10 ms discovery catches depends on the load; some must be seen and kept.
    expect(out.result.summary.threads.filter((t) => t.exited && t.samples > 0).length).toBeGreaterThan(0);
    expect(out.timers).toBe('');
    expect(out.after.fds).toBe(out.before.fds);
    // 50 sessions after warm-up. RSS is split in two, because V8 sizes its heap by its own policy:
    // it doubled its young generation (+8 MB of resident heap, heapUsed flat) in half the runs here.
    // Native memory (RSS outside V8's resident heap) grew -0.1 to 1.1 MB; an event-loop histogram
    // per session (370 kB each, freed only when V8 got round to it) grew it 5-16 MB. A leak of 60 kB
    // a session in native memory, or 20 kB a session of live JS objects, would show.
    const native = (m) => m.rss - m.heapPhysical;
    expect(native(out.after) - native(out.before)).toBeLessThan(3 * 1024 * 1024);
    expect(out.after.heapUsed - out.before.heapUsed).toBeLessThan(1024 * 1024);
  });
});

describe("timer 'perf-event' where the kernel refuses perf events", () => {
  // An unprivileged user under perf_event_paranoid >= 2 (the default on most distributions) may not
  // open a perf event that samples in the kernel. Run as nobody when the tests run as root.
  const asNobody = process.getuid() === 0;
  const refused = perfEventParanoid() >= 2;
  let r;
  let out;
  beforeAll(() => {
    out = tmpDir('timer-refused');
    fs.chmodSync(out, 0o777);
    const script = `const p = require(${JSON.stringify(ROOT)});
      const f = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'burner'))});
      const s = p.start({ outDir: ${JSON.stringify(out)}, frequency: 999, name: 'refused', timer: 'perf-event' });
      f.burnJs(300);
      s.stop().then((r) => console.log(JSON.stringify(r.summary)));`;
    const node = [process.execPath, '-e', script];
    const [cmd, ...args] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...node] : node;
    r = run(cmd, args, { cwd: '/' });
  });

  test('the session still profiles, with the sampler thread, and says why on stderr and in the summary', () => {
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop());
    expect(summary.samples).toBeGreaterThan(100);
    expect(summary.fidelity).toBeGreaterThan(0.9);
    if (refused) {
      expect(summary.timer).toBe('sampler-thread');
      expect(summary.timerFallback).toMatch(/perf_event_open: Permission denied.*kernel\.perf_event_paranoid is \d/);
      expect(r.stderr).toMatch(/option `timer`: 'perf-event' is not available, the sampler thread times samples instead: perf_event_open/);
    } else {
      expect(summary.timer).toBe('perf-event');
      expect(summary.timerFallback).toBeNull();
      expect(r.stderr).not.toMatch(/option `timer`/);
    }
  });
});

describe('thread roles: the probe adds no threads of its own beside its sampler; worker_threads workers are js-worker', () => {
  test("under `node -e`, starting a session adds only the probe's own threads (sampler, signal relay, the namer, and those that read symbol tables ahead and clean the outDir at idle priority, while they run), named perfprobe*", () => {
    const r = runNode(`
      const fs = require('fs');
      const names = () => fs.readdirSync('/proc/self/task').map((t) => fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim());
      const p = require(${JSON.stringify(ROOT)});
      const before = names();
      const s = p.start({ outDir: ${JSON.stringify(tmpDir('own-threads'))}, frequency: 99, name: 'own' });
      // A new thread shows its creator's name until it names itself.
      setTimeout(() => {
        const during = names();
        s.stop().then((r) => console.log(JSON.stringify({ before, during, roles: r.summary.threads.map((t) => [t.name, t.role]) })));
      }, 200);`);
    expect(r.status).toBe(0);
    const added = [...r.json.during];
    for (const n of r.json.before) added.splice(added.indexOf(n), 1);
    // The background threads end when their work is done, 200 ms in or later.
    const background = ['perfprobe-prep', 'perfprobe-clean'];
    expect(added.filter((n) => !background.includes(n)).sort()).toEqual(['perfprobe', 'perfprobe-names', 'perfprobe-signa']);
    expect(added.filter((n) => background.includes(n)).length).toBeLessThanOrEqual(2);
    // Without Rspack loaded, no thread of this process is Rspack's.
    expect(r.json.roles.filter(([, role]) => role === 'tokio' || role === 'rayon')).toEqual([]);
  });

  test("a worker burning 300 ms in an emit tap of a real build is 'js-worker', with its CPU", () => {
    const out = tmpDir('worker-role');
    const tidFile = path.join(out, 'worker-tid');
    const r = buildWithPlugin(workload('js-loaders', 20), { outDir: out, frequency: 999 }, { PERFPROBE_TEST_WORKER_TID_FILE: tidFile }, path.join(__dirname, 'fixtures', 'worker-plugins.js'));
    expect(r.status).toBe(0);
    const tid = Number(fs.readFileSync(tidFile, 'utf8'));
    const [dir] = profileDirs(out);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
    const worker = summary.threads.find((t) => t.tid === tid);
    expect(worker.role).toBe('js-worker');
    // It spins for 300 ms of wall time; on a loaded machine it gets less CPU than that.
    expect(worker.cpuMs).toBeGreaterThan(100);
    expect(worker.sampledCpuMs / worker.cpuMs).toBeGreaterThan(0.9);
    const p = readPprof(path.join(dir, 'profile.pb.gz'));
    const labelled = p.profile.sample.filter((s) => p.labels(s).thread_id === tid).map((s) => p.labels(s).thread_role);
    expect(new Set(labelled)).toEqual(new Set(['js-worker']));
  });
});
