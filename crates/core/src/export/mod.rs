//! What leaves the process: the four files of a profile folder, each written atomically.

pub mod chrome;
pub mod crates;
pub mod diff;
pub mod flamegraph;
pub mod interop;
mod names;
pub mod pprof;
pub mod proto;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::js::{self, GraftStats, V8Profile};
use crate::meta::{ExportMeta, TraceEvent};
use crate::profile::{RawProfile, ThreadRole};
use crate::symbolize::{symbolize, Symbolized};
use crate::util::{monotonic_ns, write_atomic};

/// Paths of the files written.
#[derive(Clone, Debug, Default, serde::Serialize)]
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
}

/// Symbolizes `raw` and writes `profile.pb.gz`, `trace.json`, `flamegraph.svg` and `summary.json`
/// into `dir` (which must exist).
pub fn write_profile(dir: &Path, mut raw: RawProfile, meta: &ExportMeta) -> Written {
    let started = monotonic_ns();
    let spans = meta.rspack_spans.then(|| crate::rspack_spans::reader::take(raw.start_ns, raw.end_ns)).flatten();
    let (span_events, spans_summary) = match spans {
        Some((spans, dropped)) => {
            let (events, summary) = crate::rspack_spans::attach(&mut raw, &spans, dropped);
            (events, Some(summary))
        }
        None => (Vec::new(), None),
    };
    let mut timings = summary::PostProcessing::default();
    let mut sym = symbolize(&raw);
    let js_stacks = graft_js_stacks(&mut raw, meta.js_profile.as_deref(), &mut sym);
    timings.symbolize_ms = since_ms(started);
    let written = write_files(dir, &raw, &sym, meta, (&span_events, spans_summary), js_stacks, timings, started);
    discard((raw, sym), meta);
    if !meta.during_teardown {
        release_freed_memory();
    }
    written
}

/// Drops what the export built, except at exit: the process ends right after, and freeing the
/// session's many small allocations one by one (then trimming the heap) would take CPU from
/// node's teardown for nothing, since the kernel unmaps the heap at once. Measured at 999 Hz in a
/// react N=10000 build: the symbols 8 ms, the pprof message 12 ms, the trim 7 ms.
fn discard<T>(value: T, meta: &ExportMeta) {
    if meta.during_teardown {
        std::mem::forget(value);
    }
}

fn write_files(
    dir: &Path,
    raw: &RawProfile,
    sym: &Symbolized,
    meta: &ExportMeta,
    (span_events, spans_summary): (&[TraceEvent], Option<crate::rspack_spans::RspackSpansSummary>),
    js_stacks: Option<Result<GraftStats, String>>,
    mut timings: summary::PostProcessing,
    started: u64,
) -> Written {
    let trace_events = || meta.trace_events.iter().chain(span_events);
    let label_sets = crate::labels::snapshot();
    let kind = raw.primary_kind();
    let what = kind.what();
    let name = if meta.name.is_empty() { "perfprobe" } else { &meta.name };
    let title = format!("{name} — {what}, all threads");
    // The three encodings are independent: build them side by side (post-processing time is what a
    // user waits for after the build).
    let ((pprof, pprof_ms), (trace, trace_ms), ((flame, flame_ms), per_role)) = std::thread::scope(|s| {
        let pprof = s.spawn(|| {
            timed(|| {
                let profile = pprof::build(raw, sym, &label_sets, meta);
                let bytes = pprof::encode(&profile);
                discard(profile, meta);
                Ok(bytes)
            })
        });
        let trace = s.spawn(|| timed(|| chrome::build(raw, sym, trace_events()).map_err(|e| e.to_string())));
        let flame = timed(|| flamegraph::render(&title, kind, &flamegraph::folded(raw, sym, &label_sets, None)));
        let per_role: Vec<(ThreadRole, Result<Vec<u8>, String>)> = if meta.flamegraph_per_role {
            let mut roles: Vec<ThreadRole> = raw.samples.iter().map(|s| sym.roles[s.thread as usize]).collect();
            roles.sort_by_key(|r| r.as_str());
            roles.dedup();
            roles
                .into_iter()
                .map(|role| {
                    let folded = flamegraph::folded(raw, sym, &label_sets, Some(role));
                    (role, flamegraph::render(&format!("{name} — {what}, {} threads", role.as_str()), kind, &folded))
                })
                .collect()
        } else {
            Vec::new()
        };
        let join = |h: std::thread::ScopedJoinHandle<'_, (Result<Vec<u8>, String>, f64)>| {
            h.join().unwrap_or_else(|_| (Err("the exporter panicked".to_string()), 0.0))
        };
        (join(pprof), join(trace), (flame, per_role))
    });
    (timings.pprof_ms, timings.trace_ms, timings.flamegraph_ms) = (pprof_ms, trace_ms, flame_ms);

    let mut written = Written::default();
    let mut put = |name: &str, bytes: Result<Vec<u8>, String>| -> Option<PathBuf> {
        let path = dir.join(name);
        match bytes.and_then(|b| write_atomic(&path, &b).map_err(|e| format!("{}: {e}", path.display()))) {
            Ok(()) => Some(path),
            Err(e) => {
                written.errors.push(e);
                None
            }
        }
    };
    written.pprof = put("profile.pb.gz", pprof);
    written.trace = put("trace.json", trace);
    written.flamegraph = put("flamegraph.svg", flame);
    let role_flamegraphs: Vec<PathBuf> = per_role.into_iter().filter_map(|(role, svg)| put(&format!("flamegraph-{}.svg", role.as_str()), svg)).collect();
    written.role_flamegraphs = role_flamegraphs;
    timings.total_ms = since_ms(started);
    let summary = summary::build(raw, sym, &label_sets, meta, (trace_events(), spans_summary), js_stacks, timings, started);
    let summary_json = serde_json::to_value(&summary).unwrap_or_default();
    written.summary = put("summary.json", serde_json::to_vec_pretty(&summary_json).map_err(|e| e.to_string()));
    written.summary_json = summary_json;
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

/// Names the JS part of the JS thread's samples with V8's stacks: those the handler took, or V8's
/// CPU profile. None when neither ran; an unreadable V8 profile only costs the JS names.
fn graft_js_stacks(raw: &mut RawProfile, v8_profile: Option<&str>, sym: &mut Symbolized) -> Option<Result<GraftStats, String>> {
    let roles = sym.roles.clone();
    let is_js_thread = |t: u32| roles.get(t as usize) == Some(&ThreadRole::JsMain);
    if let Some(events) = &raw.code_events {
        return Some(Ok(js::graft::graft_code_events(&mut raw.samples, is_js_thread, sym, &raw.js_stacks, events)));
    }
    let v8 = V8Profile::parse(v8_profile?);
    Some(v8.map(|v8| js::graft(&mut raw.samples, is_js_thread, sym, &v8)))
}

fn since_ms(start_ns: u64) -> f64 {
    summary::round_ms((monotonic_ns() - start_ns) as f64 / 1e6)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = monotonic_ns();
    let out = f();
    (out, since_ms(start))
}

