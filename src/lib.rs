//! The Node-API surface of rspack-perfprobe, and nothing else: start a session, stop it into files
//! (off the JS thread), intern label sets, expose the label words JS writes, and hand JS the names
//! and numbers it shares with the core. Everything behind it is plain Rust in `perfprobe-core`,
//! tested without node.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use perfprobe_core::export::{write_profile, Written};
use perfprobe_core::meta::ExportMeta;
use perfprobe_core::js::jit;
use perfprobe_core::labels::{self, LABEL_WORDS, LABEL_WORD_COUNT};
use perfprobe_core::sampler::{Mode, Timer};
use perfprobe_core::session::{Session, SessionOptions};

mod exit_export;
mod running;
#[cfg(target_os = "linux")]
mod signal_export;
#[cfg(not(target_os = "linux"))]
#[path = "signal_export_other.rs"]
mod signal_export;

#[napi(object)]
pub struct NativeStartOptions {
    /// Samples per CPU-second of each thread.
    pub frequency: u32,
    /// Real-time signal number to sample with; unset picks a free one.
    pub signal: Option<i32>,
    /// Stop recording after this many samples.
    pub max_samples: Option<i64>,
    /// Stop recording this many milliseconds after the start.
    pub max_duration_ms: Option<f64>,
    /// `cpu` (default), `wall` or `both`.
    pub mode: Option<String>,
    /// Wall-clock samples per second of each thread (modes `wall`, `both`).
    pub wall_frequency: Option<u32>,
    /// `sampler-thread` (default) or `perf-event`: what times CPU samples.
    pub timer: Option<String>,
}

/// A running session; `stop` ends it and writes its profile folder.
#[napi]
pub struct NativeSession {
    /// Its session in `running.rs`, where the signal thread can take it too.
    id: u64,
}

#[napi]
impl NativeSession {
    /// Stops sampling and writes the four files into `dir` on a libuv worker thread, so the JS
    /// thread (a dev server, the next build) keeps running meanwhile.
    /// Resolves to the JSON text of what was written (paths, errors, summary). `meta` comes as JSON
    /// text (see `ExportMeta::from_json_text`), read on the worker.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn stop(&mut self, dir: String, meta: String) -> Result<AsyncTask<StopTask>> {
        let session = self.take()?;
        Ok(AsyncTask::new(StopTask { session: Some(session), dir, meta }))
    }

    /// The same, on the calling thread: for `process.on('exit')`, where nothing async runs.
    #[napi]
    pub fn stop_sync(&mut self, dir: String, meta: String) -> Result<serde_json::Value> {
        let meta = parse_meta_text(&meta)?;
        let session = self.take()?;
        Ok(to_json(stop_and_write(session, &dir, meta)))
    }

    /// For the process's `exit` event: stops sampling now and writes the folder on a thread of its
    /// own while node tears down (Rspack's teardown alone took 0.2-0.7 s of the JS thread after
    /// `exit` in react builds), joined before the process ends. Warnings go to stderr unless quiet:
    /// nothing in JS runs any more by the time they are known.
    /// The folder is announced once written: "profile written to DIR" on stderr unless quiet, or a
    /// line in `reportFile`. `meta` (JSON text) is read on the export's thread too.
    #[napi]
    pub fn stop_at_exit(&mut self, dir: String, meta: String, quiet: bool, report_file: Option<String>) -> Result<()> {
        let raw = self.take()?.stop();
        exit_export::write_during_teardown(dir, raw, meta, exit_export::Announce { quiet, report_file });
        Ok(())
    }

    /// Lets a SIGINT or SIGTERM that finds the JS thread busy write this session without JS: into
    /// `folder` (under `outDir`) with `meta`, announced as `stopAtExit` does. Call after the JS
    /// listeners for both signals are in place (they are called on as before). `ending`: the signals
    /// that end the process after the profile (no one else listens), e.g. `['SIGTERM']`.
    #[napi]
    pub fn arm_signal_export(&self, folder: String, out_dir: String, meta: serde_json::Value, quiet: bool, report_file: Option<String>, ending: Vec<String>) -> Result<()> {
        let meta = parse_meta(meta)?;
        let armed = running::with(self.id, |r| {
            r.plan = Some(running::SignalPlan { folder, out_dir, meta, announce: exit_export::Announce { quiet, report_file }, ending: signal_numbers(&ending) });
        });
        if armed.is_some() {
            signal_export::arm_for_session().map_err(|e| Error::from_reason(format!("cannot relay SIGINT/SIGTERM: {e}")))?;
        }
        Ok(())
    }

    /// JS takes the writing of this session on itself (a stop began): a signal no longer makes the
    /// addon write it. False if the addon already took the session (it waits for that folder).
    #[napi]
    pub fn claim(&self) -> bool {
        let found = running::with(self.id, |r| {
            if r.plan.take().is_some() {
                signal_export::disarm();
            }
        })
        .is_some();
        if !found && running::lock().is_none() {
            // The signal thread wrote it and the program lives on (it listens to the signal itself):
            // V8 stops reporting code events here, on the JS thread, as `take` would have (no
            // listing of the existing code: nothing will name the profile's frames with it).
            drop(jit::abandon());
        }
        found
    }

    /// Which signals end the process after a profile written without JS (listeners came or went).
    #[napi]
    pub fn set_signal_ending(&self, ending: Vec<String>) {
        running::with(self.id, |r| {
            if let Some(plan) = r.plan.as_mut() {
                plan.ending = signal_numbers(&ending);
            }
        });
    }

    /// Stops sampling and discards what was recorded (the profile folder could not be created).
    #[napi]
    pub fn cancel(&mut self) -> Result<()> {
        drop(self.take()?.stop());
        Ok(())
    }

    /// Whether the session ended by itself (a bound, maxSamples or maxDuration, was reached).
    #[napi(getter)]
    pub fn finished(&self) -> bool {
        running::with(self.id, |r| r.session.finished()).unwrap_or(true)
    }

    /// Why option `timer: 'perf-event'` fell back to the sampler thread, or null.
    #[napi(getter)]
    pub fn timer_fallback(&self) -> Option<String> {
        running::with(self.id, |r| r.session.timer_fallback().map(str::to_owned)).flatten()
    }

    /// Whether `stop` has not been called yet.
    #[napi(getter)]
    pub fn active(&self) -> bool {
        running::with(self.id, |_| ()).is_some()
    }
}

impl NativeSession {
    /// Ends the session's sampling. Called on the JS thread, where naming JS frames from V8's code
    /// events has to stop.
    fn take(&mut self) -> Result<StoppedSession> {
        let running = running::take(self.id).ok_or_else(|| Error::from_reason("this perfprobe session was already stopped"))?;
        if running.plan.is_some() {
            signal_export::disarm();
        }
        Ok(StoppedSession { session: running.session, code_events: jit::stop() })
    }
}

/// A session whose JS-thread part has stopped; `stop` stops its sampler (on any thread).
pub struct StoppedSession {
    session: Session,
    code_events: Option<Vec<perfprobe_core::profile::CodeEvent>>,
}

impl StoppedSession {
    fn stop(self) -> perfprobe_core::profile::RawProfile {
        self.session.stop_with_code_events(self.code_events)
    }
}

/// Starts naming the main thread's JS frames from V8's code events, with JS stacks taken in the
/// signal handler (`perfprobe_core::js::jit`). Call on the main thread after `start`; returns why
/// it cannot (an unknown V8), and JS then runs V8's CPU profiler instead. Without `live`, V8
/// reports code from `reportCodeEvents` or the listing on.
#[napi]
pub fn start_code_events(v8_version: String, live: bool) -> Option<String> {
    jit::start(&v8_version, live).err()
}

/// Has V8 report code from now on, for a session whose code events did not start `live`: JS calls
/// it when a build starts. False when V8 already does or no session names JS frames.
#[napi]
pub fn report_code_events() -> bool {
    jit::report_from_now()
}

/// Has V8 list the code that already exists (8-14 ms of the JS thread with Rspack loaded), once
/// per session: JS calls it when the JS thread would wait anyway, and `stop` at the latest. False
/// when it already ran or no session names JS frames from code events.
#[napi]
pub fn list_code_events() -> bool {
    jit::list_existing()
}

fn parse_meta(meta: serde_json::Value) -> Result<ExportMeta> {
    ExportMeta::from_js(meta).map_err(|e| Error::new(Status::InvalidArg, e))
}

fn parse_meta_text(meta: &str) -> Result<ExportMeta> {
    ExportMeta::from_json_text(meta).map_err(|e| Error::new(Status::InvalidArg, e))
}

fn stop_and_write(session: StoppedSession, dir: &str, meta: ExportMeta) -> Written {
    let raw = session.stop();
    write_profile(std::path::Path::new(dir), raw, meta)
}

fn to_json(written: Written) -> serde_json::Value {
    serde_json::to_value(written).unwrap_or_default()
}

pub struct StopTask {
    session: Option<StoppedSession>,
    dir: String,
    meta: String,
}

impl Task for StopTask {
    type Output = Written;
    // JSON text: napi's async tasks cannot hand back a serde value directly.
    type JsValue = String;

    fn compute(&mut self) -> Result<Written> {
        let session = self.session.take().ok_or_else(|| Error::from_reason("session already stopped"))?;
        // Sampling stops whatever the metadata holds; what cannot be read is then the error.
        let meta = parse_meta_text(&std::mem::take(&mut self.meta));
        let raw = session.stop();
        Ok(write_profile(std::path::Path::new(&self.dir), raw, meta?))
    }

    fn resolve(&mut self, _env: Env, output: Written) -> Result<String> {
        Ok(to_json(output).to_string())
    }
}

/// Builds what the first session needs on a thread of its own (`perfprobe_core::sampler::prepare`):
/// the plugin calls it when Rspack applies it, so the session's start on the JS thread is shorter.
#[napi]
pub fn prepare_sampler() {
    perfprobe_core::sampler::prepare();
}

/// Starts the process's sampler. Fails (with a message naming what to change) if one runs already,
/// another copy of the addon samples, or no real-time signal is free.
#[napi]
pub fn start(options: NativeStartOptions) -> Result<NativeSession> {
    let refused = |option: &str, value: &str, names: &[&str]| Error::new(Status::InvalidArg, format!("option `{option}` is {value:?}; accepted: {}", one_of(names)));
    let mode = match options.mode.as_deref() {
        None => Mode::default(),
        Some(name) => Mode::from_name(name).ok_or_else(|| refused("mode", name, &Mode::ALL.map(Mode::name)))?,
    };
    let timer = match options.timer.as_deref() {
        None => Timer::default(),
        Some(name) => Timer::from_name(name).ok_or_else(|| refused("timer", name, &Timer::ALL.map(Timer::name)))?,
    };
    let defaults = SessionOptions::default();
    let config = SessionOptions {
        frequency: options.frequency,
        signal: options.signal,
        max_samples: options.max_samples.map(|n| n.max(1) as u64),
        max_duration_ns: options.max_duration_ms.map(|ms| (ms.max(1.0) * 1e6) as u64),
        mode,
        wall_frequency: options.wall_frequency.unwrap_or(defaults.wall_frequency).max(1),
        timer,
        ..defaults
    };
    // Before the session reads modules ahead: the addon's own frames are named from its symbols.
    perfprobe_core::symbolize::set_probe_code(start as fn(NativeStartOptions) -> Result<NativeSession> as usize as u64);
    let started = Session::start(config);
    perfprobe_core::symbolize::perfmap::remove_at_exit_if_ours();
    started
        .map(|session| NativeSession { id: running::put(session) })
        .map_err(|e| Error::from_reason(e.to_string()))
}

/// `'a', 'b' or 'c'`, as lib/options.js words what an option accepts.
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The names and numbers JS shares with the addon, each defined once in perfprobe-core.
#[napi(object)]
pub struct Constants {
    /// The files of a profile folder.
    pub output_files: OutputFiles,
    /// The values of option `mode`, the default first.
    pub modes: Vec<String>,
    /// The values of option `timer`, the default first.
    pub timers: Vec<String>,
    /// Which of `labelWords()` the signal handler reads.
    pub label_words: LabelWordIndices,
    /// What marks the export's temp files: `.<file><tempMark><pid>` beside `<file>`.
    pub temp_mark: String,
    /// How often this kernel's scheduler tick runs (Linux), which bounds `cpu-clock` timers' rate;
    /// null where it is not known.
    pub kernel_tick_hz: Option<u32>,
}

#[napi(object)]
pub struct OutputFiles {
    pub pprof: String,
    pub trace: String,
    pub flamegraph: String,
    pub summary: String,
}

#[napi(object)]
pub struct LabelWordIndices {
    /// The JS thread's label-set id.
    pub js_thread: u32,
    /// The process-wide one (the build phase), which every thread's samples carry.
    pub process: u32,
}

#[napi]
pub fn constants() -> Constants {
    use perfprobe_core::export::{FLAMEGRAPH_FILE, PPROF_FILE, SUMMARY_FILE, TRACE_FILE};
    Constants {
        output_files: OutputFiles { pprof: PPROF_FILE.into(), trace: TRACE_FILE.into(), flamegraph: FLAMEGRAPH_FILE.into(), summary: SUMMARY_FILE.into() },
        modes: Mode::ALL.iter().map(|m| m.name().to_string()).collect(),
        timers: Timer::ALL.iter().map(|t| t.name().to_string()).collect(),
        label_words: LabelWordIndices { js_thread: labels::JS_THREAD_WORD as u32, process: labels::PROCESS_WORD as u32 },
        temp_mark: perfprobe_core::util::TEMP_MARK.into(),
        kernel_tick_hz: perfprobe_core::platform::kernel_tick_hz(),
    }
}

/// The words the signal handler reads label-set ids from (which is which: `constants().labelWords`).
/// Call once per process: V8 refuses two buffers over the same memory.
#[napi]
pub fn label_words() -> Int32Array {
    let ptr = LABEL_WORDS.as_ptr() as *mut i32;
    // SAFETY: static memory that lives as long as the process; AtomicI32 has i32's layout, and JS
    // stores are plain 32-bit stores the handler reads with relaxed loads.
    unsafe { Int32Array::with_external_data(ptr, LABEL_WORD_COUNT, |_, _| {}) }
}

/// Interns a label set given as `[key, value]` pairs; returns its id for the label words.
#[napi]
pub fn intern_labels(pairs: Vec<Vec<String>>) -> Result<u32> {
    let set = pairs
        .into_iter()
        .map(|p| match <[String; 2]>::try_from(p) {
            Ok([k, v]) => Ok((k, v)),
            Err(_) => Err(Error::new(Status::InvalidArg, "internLabels: each label is a [key, value] pair")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(labels::intern(set))
}

/// Creates the profile folder `folder` (or `folder-<n>` if taken) under `outDir`, making `outDir`
/// too; returns the folder made. Throws the warning to show (`cannot create a profile folder under
/// ...`), worded as when the addon writes a session a signal ended.
#[napi]
pub fn create_profile_dir(out_dir: String, folder: String) -> Result<String> {
    perfprobe_core::profile_dir::create(&out_dir, &folder).map_err(Error::from_reason)
}

/// Removes the temp files writers killed mid-write left in `outDir` and its profile folders, those
/// of dead pids only; returns their paths.
#[napi]
pub fn remove_stale_temps(out_dir: String) -> Vec<String> {
    perfprobe_core::profile_dir::remove_stale_temps(std::path::Path::new(&out_dir)).into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

/// The same in the background, at idle priority, once per outDir in the process: a session's start
/// asks for it and does not wait.
#[napi]
pub fn remove_stale_temps_later(out_dir: String) {
    perfprobe_core::profile_dir::remove_stale_temps_in_background(out_dir);
}

/// Tells the owner's reader that `dir` was written, as the export at exit does: "profile written to
/// DIR" on stderr unless quiet, or a line appended to `reportFile` (a warning and the line on stderr
/// if it cannot be).
#[napi]
pub fn announce_profile(dir: String, quiet: bool, report_file: Option<String>) {
    exit_export::Announce { quiet, report_file }.written(&dir);
}

fn signal_numbers(names: &[String]) -> Vec<i32> {
    names
        .iter()
        .filter_map(|n| match n.as_str() {
            "SIGINT" => Some(libc::SIGINT),
            "SIGTERM" => Some(libc::SIGTERM),
            _ => None,
        })
        .collect()
}

/// The sampler's version, for the profile metadata.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// `perfprobe diff`: reads two `profile.pb.gz` files, writes their differential flame graph to
/// `outPath` and returns both profiles' CPU by label and by leaf function (`DiffReport` as JSON).
/// For the CLI, not part of the public API. A damaged profile throws; an unwritable `outPath`
/// comes back as `svgError` so the tables still print.
#[napi(catch_unwind)]
pub fn diff_profiles(base_pprof: String, new_pprof: String, out_path: String, title: String) -> Result<serde_json::Value> {
    use std::path::Path;
    let report = perfprobe_core::export::diff::diff_files(Path::new(&base_pprof), Path::new(&new_pprof), Path::new(&out_path), &title)
        .map_err(Error::from_reason)?;
    serde_json::to_value(report).map_err(|e| Error::from_reason(e.to_string()))
}

extern "C" {
    /// libuv's, exported by node. Bound by hand: napi-sys binds Node-API only.
    fn uv_loop_configure(uv_loop: *mut napi::sys::uv_loop_s, option: std::os::raw::c_int, ...) -> std::os::raw::c_int;
}
/// `UV_LOOP_BLOCK_SIGNAL` of libuv's `uv_loop_option`.
const UV_LOOP_BLOCK_SIGNAL: std::os::raw::c_int = 0;

/// Keeps SIGPROF blocked while the event loop waits for events (libuv's option for sampling
/// profilers, which node sets only for `--prof`). V8's profiler signals the JS thread every interval
/// of wall time, running or not; in a build the JS thread mostly waits on Rust, so at 1 ms nine V8
/// samples in ten woke an idle thread for nothing (react N=3000: 7000 V8 samples against ~450 native
/// ones of the JS thread, and the JS thread's CPU +30%). A blocked SIGPROF waits, merged into one,
/// until the poll returns. Returns false if libuv refused. Stays set for the process's loop: without
/// a SIGPROF sender it changes nothing.
#[napi]
pub fn block_sigprof_while_polling(env: Env) -> Result<bool> {
    let uv_loop = env.get_uv_event_loop()?;
    // SAFETY: the loop of this env's thread, configured from that thread.
    Ok(unsafe { uv_loop_configure(uv_loop, UV_LOOP_BLOCK_SIGNAL, libc::SIGPROF) } == 0)
}

/// Creates the FIFO Rspack's spans are written into (in `dir`) and starts draining it; returns its
/// path for the binding's `registerGlobalTrace(filter, 'logger', path)`. Once per process.
#[napi]
pub fn open_rspack_trace(dir: String) -> Result<String> {
    perfprobe_core::rspack_spans::reader::open(std::path::Path::new(&dir))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| Error::from_reason(e.to_string()))
}

/// Removes the FIFO's name once Rspack has opened it, or refused the registration (`accepted` false).
#[napi]
pub fn rspack_trace_registered(path: String, accepted: bool) {
    let _ = perfprobe_core::rspack_spans::reader::registered(std::path::Path::new(&path), accepted);
}

/// Removes the perf map `perfprobe --mixed` made V8 write, before the process dies of a signal
/// (no `atexit` handler runs then).
#[napi]
pub fn remove_perf_map_if_ours() {
    perfprobe_core::symbolize::perfmap::remove_if_ours();
}

/// SIGRTMIN..SIGRTMAX of this C library: the values option `signal` accepts (Linux).
#[napi]
pub fn realtime_signals() -> Option<Vec<i32>> {
    #[cfg(target_os = "linux")]
    return Some(vec![libc::SIGRTMIN(), libc::SIGRTMAX()]);
    #[cfg(not(target_os = "linux"))]
    return None;
}
