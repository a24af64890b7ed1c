//! What leaves the process: the four files of a profile folder, each a function of the
//! [`ResolvedProfile`] and written atomically.

pub mod chrome;
pub mod crates;
pub mod diff;
pub mod flamegraph;
pub mod interop;
mod names;
pub mod pprof;
pub mod proto;
pub mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::meta::ExportMeta;
use crate::profile::RawProfile;
use crate::resolve::{resolve, ResolvedProfile};
use crate::util::{monotonic_ns, write_atomic_with};

/// The files of a profile folder. JS reads the names from the addon (`constants()`).
pub const PPROF_FILE: &str = "profile.pb.gz";
pub const TRACE_FILE: &str = "trace.json";
pub const FLAMEGRAPH_FILE: &str = "flamegraph.svg";
pub const SUMMARY_FILE: &str = "summary.json";

/// Paths of the files written, as the addon hands them to JS.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub pprof: Option<PathBuf>,
    pub trace: Option<PathBuf>,
    pub flamegraph: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    /// `flamegraph-<role>.svg` files, when asked for.
    pub role_flamegraphs: Vec<PathBuf>,
    /// Each file that could not be written, with the reason: one failure never stops the others.
    pub errors: Vec<String>,
    pub summary_json: serde_json::Value,
    /// What the profile's owner is told, whoever writes it (JS's `Session._result`, the export at
    /// exit): files not written, JS stacks missing, Rspack's spans that did not come, modules too
    /// damaged to read.
    pub warnings: Vec<String>,
}

/// [`Written::warnings`], in the order they are told.
fn warnings(errors: &[String], summary: &summary::Summary, unread: Option<&String>) -> Vec<String> {
    let mut out: Vec<String> = errors.iter().map(|e| format!("could not write {e}")).collect();
    out.extend(unread.cloned());
    if let Some(error) = summary.js_profiler.as_ref().and_then(|j| j.error.as_ref()) {
        out.push(format!("JS stacks are missing: {error}"));
    }
    out.extend(crate::rspack_spans::reader::none_came_warning(summary.rspack_spans.as_ref(), summary.samples));
    out.extend(summary.modules.iter().filter_map(|m| m.warning.clone()));
    out
}

/// Resolves `raw` and writes `profile.pb.gz`, `trace.json`, `flamegraph.svg` and `summary.json`
/// into `dir` (which must exist).
pub fn write_profile(dir: &Path, raw: RawProfile, meta: ExportMeta) -> Written {
    let profile = resolve(raw, meta);
    let written = write_files(dir, &profile);
    let during_teardown = profile.meta.during_teardown;
    release(profile, during_teardown, true);
    written
}

/// Lets go of what the export built without its caller waiting: measured at 999 Hz in a react
/// N=10000 build, freeing the symbols took 8 ms, the pprof message 12 ms and trimming the heap 7 ms.
/// At exit the memory is left to the kernel, which unmaps the heap at once: the process ends right
/// after, and freeing the session's many small allocations one by one would take CPU from node's
/// teardown for nothing. Otherwise it is freed (then the heap trimmed, with `trim`) on a thread of
/// its own, once the files are written: the plugin's `done` waits for the export, not for this.
/// The next session waits for it ([`wait_for_released`]), so it never samples beside it.
fn release<T: Send + 'static>(value: T, during_teardown: bool, trim: bool) {
    if during_teardown {
        std::mem::forget(value);
        return;
    }
    let free = move || {
        drop(value);
        if trim {
            release_freed_memory();
        }
    };
    // A thread that cannot start drops the closure, and the value with it, here.
    if let Ok(thread) = std::thread::Builder::new().name(FREE_THREAD_NAME.into()).spawn(free) {
        releasing().lock().unwrap_or_else(|e| e.into_inner()).push(thread);
    }
}

/// The threads freeing earlier exports' memory.
fn releasing() -> &'static std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> {
    static RELEASING: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());
    &RELEASING
}

/// Waits until the memory of earlier exports is freed (long since, unless one just ended): a
/// session starting beside that work would sample it, and the process's memory would still move.
pub fn wait_for_released() {
    let threads = std::mem::take(&mut *releasing().lock().unwrap_or_else(|e| e.into_inner()));
    for thread in threads {
        let _ = thread.join();
    }
}

/// `perfprobe-` marks the probe's own threads (their role is `perfprobe`).
const FREE_THREAD_NAME: &str = "perfprobe-free";

/// Writes the profile folder's files from `profile` into `dir` (which must exist).
pub fn write_files(dir: &Path, profile: &ResolvedProfile) -> Written {
    // Each encoder streams into its file: the bytes are never all in memory at once.
    let write = |name: &str, encode: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| -> (Result<PathBuf, String>, f64) {
        let path = dir.join(name);
        let (result, ms) = timed(|| write_atomic_with(&path, encode));
        (result.map(|()| path.clone()).map_err(|e| format!("{}: {e}", path.display())), ms)
    };
    // The three encodings and the summary are independent: each is built on a thread of its own,
    // since post-processing time is what a user waits for after the build (the plugin's `done`).
    let ((pprof, pprof_ms), (trace, trace_ms), ((flame, flamegraph_ms), per_role), summary) = std::thread::scope(|s| {
        let pprof = s.spawn(|| {
            // Timed with building the message, as the other two are.
            let ((written, _), ms) = timed(|| {
                let message = pprof::build(profile);
                let written = write(PPROF_FILE, &|out| pprof::write(&message, out));
                release(message, profile.meta.during_teardown, false);
                written
            });
            (written, ms)
        });
        let trace = s.spawn(|| write(TRACE_FILE, &|out| chrome::write(profile, out).map_err(std::io::Error::from)));
        // Its encodings' times are set once they are done.
        let summary = s.spawn(|| summary::build(profile, summary::Encodings::default()));
        let flame = write(FLAMEGRAPH_FILE, &|out| flamegraph::svg(profile, None, out));
        let per_role: Vec<Result<PathBuf, String>> = if profile.meta.flamegraph_per_role {
            let roles = profile.sampled_roles().into_iter();
            roles.map(|role| write(&format!("flamegraph-{}.svg", role.as_str()), &|out| flamegraph::svg(profile, Some(role), out)).0).collect()
        } else {
            Vec::new()
        };
        let join = |h: std::thread::ScopedJoinHandle<'_, (Result<PathBuf, String>, f64)>| {
            h.join().unwrap_or_else(|_| (Err("the exporter panicked".to_string()), 0.0))
        };
        // A panic building the summary is the export's, as it was on this thread.
        let summary = summary.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (join(pprof), join(trace), (flame, per_role), summary)
    });

    let mut written = Written::default();
    let mut kept = |result: Result<PathBuf, String>| -> Option<PathBuf> { result.map_err(|e| written.errors.push(e)).ok() };
    let (pprof, trace, flame) = (kept(pprof), kept(trace), kept(flame));
    let role_flamegraphs: Vec<PathBuf> = per_role.into_iter().filter_map(&mut kept).collect();
    let summary = summary::Summary { post_processing: summary.post_processing.timed(profile, summary::Encodings { pprof_ms, trace_ms, flamegraph_ms }), ..summary };
    let summary_json = serde_json::to_value(&summary).unwrap_or_default();
    let summary_file = kept(write(SUMMARY_FILE, &|out| serde_json::to_writer_pretty(out, &summary_json).map_err(std::io::Error::from)).0);
    (written.pprof, written.trace, written.flamegraph, written.role_flamegraphs, written.summary) = (pprof, trace, flame, role_flamegraphs, summary_file);
    written.summary_json = summary_json;
    written.warnings = warnings(&written.errors, &summary, profile.meta.unread.as_ref());
    written
}

/// Hands the export's freed memory back to the system: glibc keeps freed heap in its arenas, and a
/// dev server that writes a profile per rebuild would otherwise keep its largest export resident.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = monotonic_ns();
    let out = f();
    (out, summary::round_ms((monotonic_ns() - start) as f64 / 1e6))
}
