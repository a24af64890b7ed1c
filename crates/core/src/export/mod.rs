//! What leaves the process: the four files of a profile folder, each written atomically.

pub mod chrome;
pub mod flamegraph;
pub mod pprof;
pub mod proto;
pub mod summary;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::profile::RawProfile;
use crate::symbolize::symbolize;
use crate::util::{monotonic_ns, write_atomic};

/// What the caller knows that the sampler does not: names, versions, spans.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportMeta {
    pub name: String,
    pub probe_version: String,
    /// e.g. node, rspack, v8.
    pub versions: HashMap<String, String>,
    /// Extra pprof comments.
    pub comments: Vec<String>,
    /// Why the profiled work ended early (signal, exit, failed build), if it did.
    pub partial_reason: Option<String>,
    /// Chrome trace events recorded outside the sampler (JS spans), appended as they are.
    pub trace_events: Vec<serde_json::Value>,
}

/// Paths of the files written.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Written {
    pub pprof: Option<PathBuf>,
    pub trace: Option<PathBuf>,
    pub flamegraph: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    /// Each file that could not be written, with the reason: one failure never stops the others.
    pub errors: Vec<String>,
    pub summary_json: serde_json::Value,
}

/// Symbolizes `raw` and writes `profile.pb.gz`, `trace.json`, `flamegraph.svg` and `summary.json`
/// into `dir` (which must exist).
pub fn write_profile(dir: &Path, raw: &RawProfile, meta: &ExportMeta) -> Written {
    let mut timings = summary::PostProcessing::default();
    let mut lap = Lap::new();
    let sym = symbolize(raw);
    timings.symbolize_ms = lap.ms();
    let label_sets = crate::labels::snapshot();
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
    let pprof = pprof::build(raw, &sym, &label_sets, meta);
    let pprof_path = put("profile.pb.gz", Ok(pprof::encode(&pprof)));
    timings.pprof_ms = lap.ms();
    let trace = chrome::build(raw, &sym, &meta.trace_events);
    let trace_path = put("trace.json", serde_json::to_vec(&trace).map_err(|e| e.to_string()));
    timings.trace_ms = lap.ms();
    let lines = flamegraph::folded(raw, &sym, &label_sets, None);
    let title = format!("{} — CPU, all threads", if meta.name.is_empty() { "perfprobe" } else { &meta.name });
    let flame_path = put("flamegraph.svg", flamegraph::render(&title, &lines));
    timings.flamegraph_ms = lap.ms();
    let summary = summary::build(raw, &sym, &label_sets, meta, timings);
    let summary_json = serde_json::to_value(&summary).unwrap_or_default();
    let summary_path = put("summary.json", serde_json::to_vec_pretty(&summary_json).map_err(|e| e.to_string()));
    written.pprof = pprof_path;
    written.trace = trace_path;
    written.flamegraph = flame_path;
    written.summary = summary_path;
    written.summary_json = summary_json;
    written
}

/// Milliseconds between successive calls.
struct Lap(u64);

impl Lap {
    fn new() -> Lap {
        Lap(monotonic_ns())
    }

    fn ms(&mut self) -> f64 {
        let now = monotonic_ns();
        let ms = (now - self.0) as f64 / 1e6;
        self.0 = now;
        (ms * 10.0).round() / 10.0
    }
}
