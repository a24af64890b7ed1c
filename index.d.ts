// rspack-perfprobe: a sampling CPU profiler over every thread of an Rspack build (Rust tokio and
// rayon workers, the JS thread, libuv and V8 helpers), writing pprof, a Chrome trace, a flame
// graph and a summary. This file is the contract: every option and field is documented here.
//
//   // rspack.config.js
//   const { PerfprobePlugin } = require('rspack-perfprobe');
//   module.exports = { plugins: [new PerfprobePlugin({ outDir: '.perfprobe', frequency: 99 })] };
//
//   // or around any code
//   const perfprobe = require('rspack-perfprobe');
//   const session = perfprobe.start({ name: 'build' });
//   const result = await session.stop(); // { dir, files, summary, warnings }
//
//   // or the whole process: node -r rspack-perfprobe/register, or `perfprobe -- rspack build`

/** Options of `start()` and `new PerfprobePlugin()`. Unknown keys and bad values throw a TypeError. */
export interface PerfprobeOptions {
  /** Folder under which each profile gets its own folder. Relative to the working directory. Default `.perfprobe`. */
  outDir?: string;
  /**
   * Samples per CPU-second of each thread, 1..10000. Default 99. A thread is sampled each time it has
   * used 1/frequency s of CPU, and each sample is weighted by the CPU time it stands for.
   */
  frequency?: number;
  /** Name of the profile: the folder prefix and the title of the outputs. `[A-Za-z0-9._-]{1,64}`. Default `profile`. */
  name?: string;
  /**
   * Linux: the real-time signal to sample with, SIGRTMIN..SIGRTMAX (34..64 with glibc); any other
   * number (2, 9, 27, 65, ...) throws a TypeError. Default: the first of SIGRTMIN+4..SIGRTMAX-1 that has no
   * handler. SIGPROF is never used (V8's CPU profiler owns it). Set this only if another library
   * installs a handler on the signal perfprobe picked after perfprobe started.
   */
  signal?: number;
  /**
   * Stop sampling after this many samples; the profile is then marked partial (`partialReason`
   * "maxSamples (N) reached"). Default: no bound. `PERFPROBE_MAX_SAMPLES` under register/the CLI.
   */
  maxSamples?: number;
  /**
   * Stop sampling this many milliseconds after the start, 1..2147483647; the profile is then marked
   * partial (`partialReason` "maxDuration (N ms) reached"). The sampler ends by itself (within a
   * tick, 1-10 ms); the folder is written by the session's owner: `stop()` for the API, the build's
   * end for the plugin, at once for register.js (`PERFPROBE_MAX_DURATION`). Default: no bound.
   */
  maxDuration?: number;
  /** Print nothing (warnings included). Default false; `PERFPROBE_QUIET=1` has the same effect. */
  quiet?: boolean;
  /**
   * Name the JS frames of the JS thread's native samples. Default true; `PERFPROBE_JS_PROFILER=0`
   * turns it off. The JS part of a native stack (JIT code, V8 builtins) is replaced by JS frames;
   * each native sample keeps its weight, nothing is counted twice.
   *
   * On Linux with Node 20, 22, 24 and 26 (V8 11.3, 12.4, 13.6, 14.6: the versions whose structures perfprobe
   * checked) each sample takes its own JS stack in perfprobe's signal handler (V8's
   * `Isolate::GetStackSample`), named from V8's code events: no profiler thread, no second signal.
   * On any other V8, on macOS, or with `PERFPROBE_JS_SOURCE=cpu-profiler`, V8's CPU profiler (node:inspector, in this
   * process) samples every max(1 ms, 1/frequency) and each native sample takes the stack of the V8
   * sample nearest in time (within two V8 intervals); `(garbage collector)` and `(program)` replace
   * the JS part the same way. See `Summary.jsProfiler` for which ran and how many samples got names.
   */
  jsProfiler?: boolean;
  /**
   * Label samples with Rspack's own tracing spans: `rspack_span` is the innermost Rspack span open at
   * the sample's time (`Compilation:build_module_graph`, `FlagDependencyExportsPlugin:finish_modules`,
   * `SplitChunksPlugin:optimize_chunks`, ...), on every thread; the spans also get an "Rspack" row in
   * `trace.json` and a level under the phase in `flamegraph.svg`. It names the Rust work of a stripped
   * release binding, whose frames read `rspack.linux-x64-gnu.node+0x...`.
   *
   * Registers Rspack's tracing through its binding (`registerGlobalTrace`, logger layer) with a filter
   * that keeps phase-, pass- and plugin-level spans and leaves out those opened per module, loader run
   * or dependency: those run on many workers at once, and Rspack's records name no thread, so time
   * cannot join them. Per-chunk spans (`JsPlugin:render_manifest`, ...) are kept and may overlap:
   * a sample then carries the one that started last. One registration per process: the first session
   * that asks registers, later sessions (a watcher's rebuilds) read the same spans, each taking the
   * spans that closed while it ran. Started before Rspack loads (the CLI, `register.js`), it registers
   * when the first compiler is created. With `RSPACK_PROFILE` set (Rspack's own tracing), one warning and
   * no spans. Costs Rspack CPU (it formats a JSON line per span), so off by default;
   * `PERFPROBE_RSPACK_SPANS=1`, or `--rspack-spans`, turns it on. Linux and macOS.
   */
  rspackSpans?: boolean;
  /**
   * `cpu` (default): samples weighted by CPU time. `wall`: every thread sampled `wallFrequency` times a
   * second of wall-clock time, running or not, each sample labelled `state=running|waiting` (sample
   * type `wall/nanoseconds` in pprof; a thread whose CPU clock did not move since its last wall sample
   * is still where that sample found it, so its time is batched onto that stack without a signal).
   * `both`: CPU and wall samples in one profile (`go tool pprof -sample_index=wall`).
   * `PERFPROBE_MODE` / `perfprobe --mode` set it under the CLI.
   */
  mode?: 'cpu' | 'wall' | 'both';
  /** Wall samples per second per thread, 1..1000. Default 49. `PERFPROBE_WALL_FREQUENCY`. */
  wallFrequency?: number;
  /**
   * Linux: what interrupts a thread for each CPU sample. `PERFPROBE_TIMER`. The summary's `timer`
   * says which ran.
   * - `auto` (default): `cpu-clock` where the kernel's scheduler tick runs at least twice
   *   `frequency` (99 Hz on the usual 250 Hz and 1000 Hz kernels), else `sampler-thread`.
   * - `cpu-clock`: each thread gets a POSIX timer on its own CPU clock (`timer_create`, as Go's
   *   runtime/pprof does); the kernel checks it at the scheduler tick of the thread's own CPU and
   *   signals the thread itself. A sample then costs only its signal's delivery: no interrupt sent
   *   from another CPU, which under a hypervisor is most of what a sample costs. The tick bounds the
   *   rate (HZ samples per thread-CPU-second at most: 250 on many kernels); the kernel's overrun
   *   count keeps each sample's weight exact past it. The sampler thread wakes only every 10-20 ms.
   * - `sampler-thread`: a sampler thread wakes at `frequency`, reads every thread's CPU clock and
   *   signals each thread that used a period of CPU, weighing the sample by exactly that CPU. Any
   *   rate up to 10 kHz. On a loaded machine the sampler thread waits for a core too, so the rate
   *   dips (weights stay exact).
   * - `perf-event`: each thread gets a perf-event CPU-time timer (`task-clock`) and the kernel signals
   *   the thread itself each period of its CPU, so the rate holds on a loaded machine; the sampler
   *   thread wakes only every 10-20 ms, to find new threads and collect samples. Each sample weighs
   *   one period of the kernel's task clock, which on a virtual machine also counts steal time (up
   *   to 6% more than the thread's CPU clock, measured on a loaded 2-core VM), and undercounts threads
   *   that run in bursts of a few µs (V8's profiler thread: 75% of its CPU). Needs
   *   `kernel.perf_event_paranoid` <= 1 or CAP_PERFMON (a user-only event would skip every period
   *   that ends in a syscall) and no seccomp filter blocking `perf_event_open`; without them the
   *   sampler thread times samples, with a warning, and `timerFallback` in the summary says why.
   * With `cpu-clock` or `perf-event`, a thread's CPU total is its clock as the sampler thread last
   * read it (every 10-20 ms): a thread that exits in between has samples for CPU its total lacks.
   * On macOS there are no per-thread CPU signals: the sampler thread reads each thread's CPU time
   * and suspends the threads that used a period, walks their stacks and resumes them; `auto` is
   * that, and `perf-event` and `cpu-clock` fall back to it, saying so in `timerFallback`.
   */
  timer?: 'auto' | 'sampler-thread' | 'perf-event' | 'cpu-clock';
  /**
   * Also write `flamegraph-<role>.svg` for each thread role with samples (js-main, tokio, rayon, ...):
   * a role's small share stays readable. Default false; `PERFPROBE_FLAMEGRAPH_PER_ROLE=1`.
   */
  flamegraphPerRole?: boolean;
  /**
   * Binding calls and Rust->JS callbacks shorter than this (µs) are counted in the summary
   * (`attribution.boundaries[].folded`) but not written as `trace.json` spans: a 20k-module build
   * makes hundreds of thousands of tiny crossings. 0 writes them all. Default 100;
   * `PERFPROBE_MIN_SPAN_US` sets it under the CLI. Phases, taps and loader runs are always written.
   */
  minSpanUs?: number;
}

/** The files of one profile folder (null: not written, see `warnings`). */
export interface ProfileFiles {
  /** `profile.pb.gz`: gzipped pprof; `go tool pprof`, pprof.me, Pyroscope. */
  pprof: string | null;
  /** `trace.json`: Chrome trace (Perfetto, DevTools, speedscope), a flame chart per thread. */
  trace: string | null;
  /** `flamegraph.svg`: all threads, grouped by `[phase]`, `[plugin]` and `[thread role]`. */
  flamegraph: string | null;
  /** `summary.json`: see {@link Summary}. */
  summary: string | null;
  /** `flamegraph-<role>.svg` paths, with option `flamegraphPerRole`. */
  roleFlamegraphs?: string[];
}

export interface ProfileResult {
  /** `<outDir>/<name>-<YYYYMMDD-HHMMSS>-<pid>[-<n>]`, or null when nothing could be written. */
  dir: string | null;
  files: ProfileFiles;
  summary: Summary | null;
  /** What went wrong without stopping anything (unwritable folder, a file that failed). */
  warnings: string[];
  /**
   * Only from a `start()` handle whose shared session another caller's `stop()` split (see
   * `start()`): the folders written before this one that also hold this caller's samples, oldest first.
   */
  earlier?: string[];
}

export type ThreadRole = 'js-main' | 'js-worker' | 'tokio' | 'rayon' | 'libuv' | 'v8' | 'perfprobe' | 'other';

export interface SummaryEntry {
  name: string;
  /** Sampled CPU, in a summary whose `sampleType` is `cpu`. */
  cpuMs?: number;
  /** Sampled wall time (running and waiting), in place of `cpuMs` when `sampleType` is `wall`. */
  wallMs?: number;
  samples: number;
  /** Share of all sampled CPU (or wall time), in percent. */
  percent: number;
}

export interface ThreadSummary {
  tid: number;
  name: string;
  /** From how the thread was first seen, settled by its stacks (rayon threads inherit `tokio-N` names). */
  role: ThreadRole;
  /** CPU the thread used while watched (its CPU clock). */
  cpuMs: number;
  /** CPU its samples stand for; equals cpuMs up to less than two sampling periods. */
  sampledCpuMs: number;
  /** Its samples of the summary's `sampleType`. */
  samples: number;
  /** cpuMs / time the thread was watched. */
  utilization: number;
  exited: boolean;
  /** Samples whose stack could not be walked (kept with the leaf frame): see `stats.unknownStackRegion`, `stats.nearStackLimit`. */
  leafOnlySamples: number;
  /** Wall time its wall samples found it on CPU / off CPU (modes `wall`, `both`; null in `cpu`). */
  wallRunningMs: number | null;
  wallWaitingMs: number | null;
}

/** One kind of Rust->JS call in `Summary.interop`. */
export interface InteropCallKind {
  /** `tap` (JS hook taps), `loader` (JS loaders), `fs` (Rspack's fs bridge), `option` (functions in the config). */
  kind: 'tap' | 'loader' | 'fs' | 'option';
  calls: number;
  /** Wall time the JS thread spent running them. */
  runMs: number;
  /** Sampled CPU of the JS thread inside them (its samples labelled `binding=callback:…`); null in mode `wall`. */
  runCpuMs: number | null;
  /**
   * Wall time Rspack's worker threads (tokio, rayon) spent waiting, summed over workers, while the JS
   * thread ran these calls (calls written as trace spans, i.e. not shorter than `minSpanUs`).
   * Null in mode `cpu`: waiting needs wall samples.
   */
  workerWaitingMs: number | null;
}

/** `summary.json`, schema version 1. */
export interface Summary {
  schemaVersion: 1;
  name: string;
  /**
   * True when the session ended early; `partialReason` says why: "the process received SIGINT" (or
   * SIGTERM), "the process exited with code N", "the build failed with compilation errors", "the build
   * failed: <first line>", "the compiler closed before the build finished", "maxSamples (N) reached",
   * "maxDuration (N ms) reached".
   */
  partial: boolean;
  partialReason: string | null;
  /** node, v8, probe and (when found) rspack versions. */
  versions: Record<string, string>;
  frequency: number;
  /** Wall samples per second per thread; 0 in mode `cpu`. */
  wallFrequency: number;
  signal: number;
  /** What timed the CPU samples (option `timer`, `auto` decided): `cpu-clock`, `perf-event` or `sampler-thread`; empty in mode `wall`. */
  timer: 'cpu-clock' | 'perf-event' | 'sampler-thread' | '';
  /** Why the `timer` asked for by name fell back to the sampler thread (the kernel's refusal, in words to act on), else null. */
  timerFallback: string | null;
  startUnixMs: number;
  durationMs: number;
  /** CPU of the whole process during the session, sampler thread included. */
  processCpuMs: number;
  sampledCpuMs: number;
  /** sampledCpuMs / (processCpuMs - the sampler thread's own CPU). */
  fidelity: number;
  /**
   * What the function, JS function and label tables and each thread's `samples` weigh: `cpu`, or
   * `wall` for a session in mode `wall` (no CPU samples), whose entries carry `wallMs`.
   */
  sampleType: 'cpu' | 'wall';
  samples: number;
  stats: {
    /** Signals sent (CPU and wall samples); on macOS, threads suspended for a sample. */
    signals: number;
    /** Wall periods of idle threads recorded without a signal (their stack could not have moved). */
    wallPeriodsBatched: number;
    /** Lost because the sample store was full (never hidden). */
    droppedStoreFull: number;
    unwindCacheBusy: number;
    truncatedStacks: number;
    /** Stacks outside the known stack regions, walked through checked reads. */
    unknownStackRegion: number;
    /**
     * Samples of threads within 32 KiB of the end of their stack, kept with the leaf frame only: a
     * walk needs ~19 KiB of the interrupted stack and would push such a thread into its guard page.
     */
    nearStackLimit: number;
    lostInFlight: number;
    /**
     * CPU samples that found their thread waiting in the kernel (parked, in `epoll_wait`, woken and
     * not yet run) and gave their weight to the thread's last sample taken where it ran, within
     * twenty sampling periods: that CPU was used before the wait. Not in `samples`; on Linux counted
     * in `signals`. Only where the sampler thread times CPU samples (CPU timers fire only on a
     * running thread).
     */
    movedFromWaits: number;
    /** CPU the sampler thread used: the probe's direct cost. */
    samplerCpuNs: number;
    /** Time spent in the signal handler, all threads: the probe's cost inside the sampled threads. */
    handlerNs: number;
    /** Samples signalled by the threads' own timers, perf-event or CPU-clock (included in `signals`). */
    timerSignals: number;
    /** Threads whose own timer could not be opened (they were signalled by the sampler thread). */
    timerOpenFailures: number;
    /** macOS: samples not taken because the thread could not be suspended (it had exited). */
    suspendFailures: number;
  };
  threads: ThreadSummary[];
  /**
   * Interop stalls: Rust->JS calls by kind (calls, run time, worker time spent waiting meanwhile),
   * JS->Rust binding calls (how long the JS thread was blocked in synchronous ones), and the JS
   * thread's event-loop lag (how late it runs what is queued: the floor of how long a Rust->JS call
   * waits before it starts; Rust's enqueue time is not observable from JS). Null without labels.
   */
  interop: {
    rustToJs: InteropCallKind[];
    jsToRust: { syncCalls: number; blockedMs: number; asyncCalls: number; asyncMs: number };
    eventLoopLag: { samples: number; resolutionMs: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
  } | null;
  topFunctionsSelf: SummaryEntry[];
  topFunctionsCumulative: SummaryEntry[];
  /**
   * JS functions (V8's names, `name file:line`), by the CPU of samples whose innermost JS frame they
   * are (their own code and the native code they called: a binding call, GC), and cumulative.
   */
  topJsFunctionsSelf: SummaryEntry[];
  topJsFunctionsCumulative: SummaryEntry[];
  /** How JS stacks joined the JS thread's native samples; null when `jsProfiler` was off. */
  jsProfiler: {
    /**
     * `code-events`: stacks taken in perfprobe's handler, named from V8's code events;
     * `cpu-profiler`: V8's CPU profiler's samples, the nearest in time.
     */
    source: 'code-events' | 'cpu-profiler';
    /** Code events V8 reported during the session (`code-events`; 0 otherwise). */
    codeEvents: number;
    /** JS stacks taken (`code-events`), or V8's samples (`cpu-profiler`). */
    v8Samples: number;
    /** V8's sampling interval (`cpu-profiler`; 0 otherwise). */
    v8IntervalUs: number;
    /** Native samples of the JS thread ... */
    jsThreadSamples: number;
    /** ... whose JS part got V8's stack, */
    grafted: number;
    /** ... that ran no JS (event loop, node C++), */
    nativeOnly: number;
    /** ... whose JS part got no names: no V8 sample within two intervals or V8 idle (`cpu-profiler`),
     * or no JS frames V8 could name, or taken before V8 listed its code with a collection between
     * that may have moved it (`code-events`); the stack is kept native, */
    unmatched: number;
    /** ... already named by a perf map (`perfprobe --mixed`). */
    perfMapNamed: number;
    /**
     * Why this source ran: `V8 12.4.254.21-node.57 is one whose structures perfprobe knows`, or why
     * the handler could not take JS stacks (`V8 15.1.0 is not one whose structures perfprobe knows
     * (11.3, 12.4, 13.6, 14.6)`, `PERFPROBE_JS_SOURCE=cpu-profiler`). `perfprobe report` shows it.
     */
    reason: string | null;
    /** Why there are no JS stacks, when V8's profile could not be read. */
    error: string | null;
  } | null;
  /**
   * Per label key, its values by sampled CPU. Keys: `phase` and `compiler` (every thread; while
   * several compilers of a MultiCompiler build at once, `phase` joins their phases, e.g. `make+seal`,
   * and no `compiler` is set: worker threads cannot tell whose work they do), `hook`,
   * `plugin`, `stage`, `loader`, `binding` (the JS thread), `rspack_span` (every thread, option
   * `rspackSpans`). See docs/attribution.md.
   */
  labels: Record<string, SummaryEntry[]>;
  /** How Rspack's spans joined the samples (option `rspackSpans`); null when it was off. */
  rspackSpans: {
    /** Spans that closed during the session, and their distinct names. */
    spans: number;
    names: number;
    /**
     * What the samples that carry `rspack_span` weigh, and their share of all samples (percent), in
     * the profile's `sampleType`: CPU, or wall time in a wall-only profile (mode `wall`), which has
     * `labelledWallMs` instead of `labelledCpuMs`.
     */
    labelledCpuMs?: number;
    labelledWallMs?: number;
    percent: number;
    /** Span records dropped because no session took them (the reader keeps at most 500k). */
    dropped: number;
  } | null;
  /**
   * CPU by Rust crate, top 40 by self CPU: a symbolized Rust frame counts for the crate of its
   * function's own path (generic code where it is defined, `<A as B>::f` for `A`'s crate, or `B`'s
   * when `A` is a reference, slice or other type without a path); C/C++ frames and addresses
   * without symbols count by module (`node`, `libc.so.6`, `rspack.linux-x64-gnu.node`), JS frames
   * as `(JS)`. `selfMs`: samples whose innermost frame is in it; `totalMs`: samples with it anywhere
   * on the stack; `percent`: `selfMs` of all sampled CPU. In a wall-only profile (`sampleType: 'wall'`) the figures are wall time.
   */
  crates: Array<{ name: string; selfMs: number; totalMs: number; percent: number }>;
  /**
   * What the plugin measured at each boundary it instruments (empty without the plugin): calls and
   * wall time of every tap (`kind: 'tap'`, with `hook` and `plugin`), JS loader run
   * (`kind: 'rust->js'`) and JS->Rust binding call (`kind: 'js->rust'`; async calls timed to their
   * callback; `folded` counts calls shorter than 100 µs left out of the trace), most wall time first.
   */
  attribution: {
    /**
     * Wall time and calls per tap (`hook` + `plugin`), per binding call or callback (`name`, kind
     * `js->rust` / `rust->js`; `folded`: calls shorter than `minSpanUs`, counted but not in the trace),
     * per loader run and per build phase (kind `phase`). CPU per label is in `labels`.
     */
    boundaries?: Array<{ kind: 'tap' | 'js->rust' | 'rust->js' | 'phase'; name?: string; hook?: string; plugin?: string; calls: number; wallMs: number; /** CPU of the synchronous part (loaders). */ cpuMs?: number; /** Callback- or promise-based JS->Rust call: timed to completion, did not block the JS thread. */ async?: boolean; folded?: number }>;
    /** Spans beyond the 200k kept per session. */
    droppedSpans?: number;
    /** Hooks that could not be instrumented, with the reason. */
    skippedHooks?: string[];
    /**
     * Rspack compilers that ran without labels under register.js, the CLI or `start()`, and why
     * (the same reason was printed once as a warning). `compiler` is the compiler's name, if any.
     */
    unattachedCompilers?: Array<{ reason: string; compiler?: string }>;
    /**
     * The JS thread's event-loop lag over the session: how much later than due a timer armed every
     * `resolutionMs` (50) ran, in ms (with or without the plugin; `interop.eventLoopLag` repeats it
     * when there are labels).
     */
    eventLoopLag?: { samples: number; resolutionMs: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number };
  };
  /** Every loaded module: path, build id, and what its symbols allow. */
  modules: Array<{ path: string; baseAvma: number; start: number; limit: number; fileOffset: number; buildId: string | null; symbols: 'stripped' | 'symbols' | 'dwarf' | 'unreadable'; /** Set when the file was too damaged for the ELF/DWARF readers (also in the result's warnings). */ warning?: string }>;
  /**
   * Time spent after the session, by stage: `pprofMs`, `traceMs` and `flamegraphMs` each build and
   * write their file (side by side), `jsMs` is the JS thread's part (V8's profile, spans),
   * `totalMs` everything from the stop to the last file written.
   */
  postProcessing: {
    symbolizeMs: number;
    pprofMs: number;
    traceMs: number;
    flamegraphMs: number;
    jsMs: number;
    totalMs: number;
    /** Written at process exit while node tore down (register, the CLI): the process waited for less than `totalMs`. */
    duringTeardown: boolean;
  };
  /** What starting the session cost the JS thread: loading the probe (first session only), the sampler, V8's profiler. */
  startMs: number;
}

export interface Session {
  /** True until `stop()`; false if the sampler could not start (a warning said why). */
  readonly running: boolean;
  /** Whether the sampler ended by itself (maxSamples or maxDuration reached); `stop()` still writes. */
  readonly finished: boolean;
  /**
   * Stops sampling and writes the profile folder. Symbolization and writing run off the JS thread.
   * Never rejects for I/O problems: they come back in `warnings`. Calling it again returns the same result.
   */
  stop(): Promise<ProfileResult>;
  /** The same, synchronously (for `process.on('exit')`). */
  stopSync(): ProfileResult;
}

/**
 * Starts profiling every thread of this process and returns this caller's handle. Every Rspack
 * compiler that runs while the session is open is labelled (phase, hook, plugin, loader, binding)
 * as with the plugin, however `@rspack/core` is loaded (ES module or CommonJS); a compiler that
 * cannot be attached costs one warning and an entry in `summary.attribution.unattachedCompilers`.
 * If the sampler cannot start, a warning is printed and the returned handle writes nothing.
 *
 * There is one sampler per process; what each caller receives:
 * - No session runs: the caller's handle owns a new one; its `stop()` writes the folder.
 * - Another `start()` caller's session runs: the callers share it, each with its own handle. A
 *   `stop()` while other handles are still open writes everything sampled so far (the whole of
 *   that caller's time) into its folder, and sampling goes on for the others in a new session (the
 *   sampler is idle only while the previous one stops). Each sample is in one folder only; a
 *   later caller's result lists the folders written before its own in `earlier`. The last handle's
 *   `stop()` writes the rest. No `stop()` throws, and a second `stop()` returns the first's result.
 * - A session owned elsewhere runs (register.js or the CLI, a PerfprobePlugin's build): that owner
 *   writes the profile; this handle's `stop()` writes nothing and its `warnings` say who does.
 *
 * If the process ends before `stop()` (`process.exit()`, an uncaught exception, SIGINT, SIGTERM, or
 * the event loop running dry), the profile is written then, marked partial; the exit code stays the
 * program's and a signal nobody else listens to is raised again once the folder is written, so the
 * process still dies of it. A SIGINT or SIGTERM that finds the JS thread busy (a hung build, a
 * synchronous loop) is heard natively: after 500 ms without the JS thread, the profile is written from
 * the native samples (partial: "the process received SIGTERM while its JS thread was busy"; no spans,
 * no V8 profile), and the process then dies of the signal unless the program listens to it itself.
 * Between start and stop, a PerfprobePlugin in a watcher joins this session:
 * `start()` after one rebuild and `stop()` after the next (e.g. in the watch callback) profiles
 * exactly that rebuild, with its labels. Call it from the main thread: the sampler is process-wide
 * and already samples worker_threads.
 */
export function start(options?: PerfprobeOptions): Session;

/** The session running in this process, if any. */
export function current(): Session | undefined;

/**
 * Rspack plugin: profiles each build (each rebuild in watch mode) into its own folder, and a build
 * interrupted by compiler close, SIGINT/SIGTERM or `process.exit()` into a folder marked partial.
 * Attaches to a session that already runs, or that starts during a build, instead of starting
 * another (the owner writes it then). Its warning and the folder it wrote go to stderr, prefixed
 * `[perfprobe]`, not through Rspack's infrastructure logger, whose level hosts set to their taste
 * (Rsbuild shows only errors); `quiet` or PERFPROBE_QUIET=1 silences them.
 */
export class PerfprobePlugin {
  constructor(options?: PerfprobeOptions);
  apply(compiler: unknown): void;
  /** The profiles this plugin wrote, in order: the last 50 (a watcher may rebuild all day). */
  readonly results: ProfileResult[];
}
