//! `summary.json`: the numbers a person reads first (schema documented in `index.d.ts`).

use std::borrow::Cow;
use std::collections::HashMap;

use rustc_hash::FxHashMap;

use serde::ser::SerializeStruct;
use serde::Serialize;

use crate::js::GraftStats;
use crate::js::graft::code_event_frame;
use crate::js::jit::js_function;
use crate::meta::Attribution;
use crate::profile::{PrimaryKind, SampleKind, SamplerStats};
use crate::resolve::ResolvedProfile;
use crate::symbolize::{Location, ModuleSymbols, Origin};

/// Entries kept in each "top" list.
const TOP: usize = 30;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub schema_version: u32,
    pub name: String,
    pub partial: bool,
    pub partial_reason: Option<String>,
    pub versions: HashMap<String, String>,
    pub frequency: u32,
    /// Wall-clock samples per second per thread; 0 when the session took none (mode `cpu`).
    pub wall_frequency: u32,
    pub signal: i32,
    /// What timed the CPU samples: `perf-event` or `sampler-thread` (empty in mode `wall`).
    pub timer: &'static str,
    /// Why option `timer: 'perf-event'` fell back to the sampler thread (the kernel's refusal).
    pub timer_fallback: Option<String>,
    pub start_unix_ms: f64,
    pub duration_ms: f64,
    pub process_cpu_ms: f64,
    pub sampled_cpu_ms: f64,
    /// Sampled CPU / CPU of the sampled threads (process CPU less the sampler thread's own).
    pub fidelity: f64,
    /// What the tables (functions, JS functions, labels) and threads' `samples` weigh: `cpu`, or
    /// `wall` in a wall-only session (mode `wall`), whose entries carry `wallMs` for `cpuMs`.
    pub sample_type: &'static str,
    pub samples: u64,
    pub stats: SamplerStats,
    pub threads: Vec<ThreadSummary>,
    pub top_functions_self: Vec<Entry>,
    pub top_functions_cumulative: Vec<Entry>,
    /// JS functions (from V8's profile) by the CPU of samples whose innermost JS frame they are
    /// (their own code and the native code they called), and by the CPU of samples they are on.
    pub top_js_functions_self: Vec<Entry>,
    pub top_js_functions_cumulative: Vec<Entry>,
    /// How V8's JS stacks joined the JS thread's native samples, or why they could not.
    pub js_profiler: Option<JsProfilerSummary>,
    /// For each label key (phase, hook, plugin, loader, binding, ...), its values by sampled CPU.
    pub labels: HashMap<String, Vec<Entry>>,
    /// What the JS side measured at each boundary it instruments (calls, wall time), as it sent it.
    pub attribution: Option<Attribution>,
    /// Rust<->JS calls by kind with what they cost the JS thread and the workers (see
    /// [`super::interop`]); null without attribution.
    pub interop: Option<super::interop::Interop>,
    pub modules: Vec<ModuleSymbols>,
    /// Self and total CPU by Rust crate (non-Rust frames by module, JS as `(JS)`): see
    /// [`super::crates`].
    pub crates: Vec<super::crates::CrateEntry>,
    /// How Rspack's own spans joined the samples (`labels.rspack_span`); null when not asked for.
    pub rspack_spans: Option<crate::rspack_spans::RspackSpansSummary>,
    /// Time spent after the session stopped, by stage (the probe's own cost beside sampling).
    pub post_processing: PostProcessing,
    /// What starting the session cost, on the JS thread, before the first sample.
    pub start_ms: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsProfilerSummary {
    #[serde(flatten)]
    pub stats: GraftStats,
    /// Why this source ran, as the JS side chose it (the V8 version, `PERFPROBE_JS_SOURCE`).
    pub reason: Option<String>,
    pub error: Option<String>,
}

/// How long each encoding took, building and writing its file (they run side by side).
#[derive(Default, Clone, Copy)]
pub struct Encodings {
    pub pprof_ms: f64,
    pub trace_ms: f64,
    pub flamegraph_ms: f64,
}

impl PostProcessing {
    /// With the encodings' times, and the total up to now: the summary may be built while the
    /// encodings still run, and these set once they are done.
    pub fn timed(self, p: &ResolvedProfile, encodings: Encodings) -> PostProcessing {
        PostProcessing {
            pprof_ms: encodings.pprof_ms,
            trace_ms: encodings.trace_ms,
            flamegraph_ms: encodings.flamegraph_ms,
            // Everything since the session stopped, this summary included.
            total_ms: round_ms((crate::util::monotonic_ns() - p.started_ns) as f64 / 1e6 + p.meta.js_stop_ms),
            ..self
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostProcessing {
    pub symbolize_ms: f64,
    pub pprof_ms: f64,
    pub trace_ms: f64,
    pub flamegraph_ms: f64,
    /// The JS side's part, before the export: V8's profile taken and serialized, spans collected.
    pub js_ms: f64,
    /// Wall time from the stop to the last file, the JS part and the summary included (the three
    /// encodings run in parallel).
    pub total_ms: f64,
    /// Written at process exit while node tore down (register, the CLI): the process waited for
    /// less than `total_ms`.
    pub during_teardown: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadSummary {
    pub tid: i32,
    pub name: String,
    pub role: &'static str,
    /// CPU the thread used during the session (its CPU clock).
    pub cpu_ms: f64,
    /// CPU its samples stand for (0 without CPU samples, mode `wall`).
    pub sampled_cpu_ms: f64,
    /// Its samples of the summary's `sampleType`.
    pub samples: u64,
    /// cpu_ms / time the session watched it.
    pub utilization: f64,
    pub exited: bool,
    /// Samples kept with their leaf frame only (stack outside every known stack region).
    pub leaf_only_samples: u64,
    /// Wall time its wall samples found it on CPU / waiting (null without wall samples).
    pub wall_running_ms: Option<f64>,
    pub wall_waiting_ms: Option<f64>,
}

/// One row of a table: `{ name, cpuMs | wallMs, samples, percent }` as JSON, the key naming what
/// `ms` is (the summary's `sampleType`).
#[derive(Clone)]
pub struct Entry {
    pub name: String,
    pub ms: f64,
    pub samples: u64,
    /// Share of all sampled CPU (or wall time), in percent.
    pub percent: f64,
    pub kind: PrimaryKind,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entry = serializer.serialize_struct("Entry", 4)?;
        entry.serialize_field("name", &self.name)?;
        entry.serialize_field(if self.kind == PrimaryKind::Wall { "wallMs" } else { "cpuMs" }, &self.ms)?;
        entry.serialize_field("samples", &self.samples)?;
        entry.serialize_field("percent", &self.percent)?;
        entry.end()
    }
}

/// The JS function a location is, named as the JS tables name it: a frame from V8 (grafted), or a
/// perf map's `JS:~name file:line:column` (`perfprobe --mixed`), whose builtins and stubs are not JS.
fn js_name(location: &Location) -> Option<Cow<'_, str>> {
    let frame = location.frames.first()?;
    match location.origin {
        Origin::V8 => Some(Cow::Borrowed(frame.short.as_str())),
        Origin::PerfMap => js_function(&frame.function).map(|_| Cow::Owned(code_event_frame(&frame.function).short)),
        Origin::Module | Origin::Unknown => None,
    }
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

fn top(map: FxHashMap<String, (u64, u64)>, total_ns: u64, kind: PrimaryKind) -> Vec<Entry> {
    let mut v: Vec<Entry> = map
        .into_iter()
        .map(|(name, (ns, n))| Entry { name, ms: ms(ns), samples: n, percent: pct(ns, total_ns), kind })
        .collect();
    v.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.name.cmp(&b.name)));
    v.truncate(TOP);
    v
}

/// Milliseconds to one decimal, as every timing in the summary is given.
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { (part as f64 * 10000.0 / total as f64).round() / 100.0 }
}

/// Whether `location` is JS of the probe itself, named by V8 or by V8's perf map.
fn probe_location(location: &Location, own: &[String]) -> bool {
    let Some(frame) = location.frames.first() else { return false };
    match location.origin {
        Origin::V8 => probe_js(frame, own),
        // A perf-map name carries its file: `JS:~callThrough /…/lib/attribution/frames.js:12:3`.
        Origin::PerfMap => js_function(&frame.function).is_some() && probe_js(&code_event_frame(&frame.function), own),
        Origin::Module | Origin::Unknown => false,
    }
}

/// Whether `frame` is JS of the probe itself: its file (a path, or an ESM URL) is one of `own`, or
/// lies in one of them.
fn probe_js(frame: &crate::symbolize::Frame, own: &[String]) -> bool {
    let Some(file) = frame.file.as_deref() else { return false };
    let file = file.strip_prefix("file://").unwrap_or(file);
    own.iter().any(|o| !o.is_empty() && file.strip_prefix(o.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

pub fn build(p: &ResolvedProfile, encodings: Encodings) -> Summary {
    let (raw, sym, meta) = (&p.raw, &p.symbols, &p.meta);
    let sampled = raw.sampled_cpu_ns();
    let watched_cpu = raw.process_cpu_ns.saturating_sub(raw.stats.sampler_cpu_ns);
    let mut per_thread: Vec<(u64, u64)> = vec![(0, 0); raw.threads.len()];
    let mut self_fn: FxHashMap<String, (u64, u64)> = FxHashMap::default();
    let mut cum_fn: FxHashMap<String, (u64, u64)> = FxHashMap::default();
    let mut js_self: FxHashMap<String, (u64, u64)> = FxHashMap::default();
    let mut js_cum: FxHashMap<String, (u64, u64)> = FxHashMap::default();
    let mut labels: FxHashMap<String, FxHashMap<String, (u64, u64)>> = FxHashMap::default();
    // (CPU ns, samples) per key; the key is copied only the first time it is seen.
    let add = |map: &mut FxHashMap<String, (u64, u64)>, key: &str, (weight, count): (u64, u64)| match map.get_mut(key) {
        Some(e) => {
            e.0 += weight;
            e.1 += count;
        }
        None => {
            map.insert(key.to_string(), (weight, count));
        }
    };
    let mut wall: Vec<(u64, u64)> = vec![(0, 0); raw.threads.len()];
    // Samples are summed per stack and per label set first: a 999 Hz build has tens of thousands of
    // samples but far fewer distinct stacks, and walking a stack's frames is the cost.
    let mut by_stack: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
    let mut by_labels: FxHashMap<(u32, u32), (u64, u64)> = FxHashMap::default();
    // The tables weigh the samples the pictures show: CPU when there are any, else wall time.
    let kind = raw.primary_kind();
    let mut weighed = 0;
    for s in &raw.samples {
        if s.kind.is_wall() {
            let w = &mut wall[s.thread as usize];
            if s.kind == SampleKind::WallRunning {
                w.0 += s.weight_ns;
            } else {
                w.1 += s.weight_ns;
            }
        }
        if !kind.includes(s.kind) {
            continue;
        }
        weighed += s.weight_ns;
        for e in [&mut per_thread[s.thread as usize], by_stack.entry(s.stack).or_default(), by_labels.entry((s.process_labels, s.thread_labels)).or_default()] {
            e.0 += s.weight_ns;
            e.1 += 1;
        }
    }
    for (&stack, &figures) in &by_stack {
        let frames: Vec<&str> = sym.frames_root_first(stack).map(|f| f.function.as_str()).collect();
        if let Some(leaf) = frames.last() {
            add(&mut self_fn, leaf, figures);
        }
        let mut seen: Vec<&str> = frames.clone();
        seen.sort_unstable();
        seen.dedup();
        for f in seen {
            add(&mut cum_fn, f, figures);
        }
        let mut js: Vec<Cow<str>> = sym.stacks[stack as usize]
            .iter()
            .map(|&l| &sym.locations[l as usize])
            // The probe's wrappers (callThrough, withPair, the binding wrapper): their time is their callers'.
            .filter(|l| !probe_location(l, &meta.probe_js))
            .filter_map(js_name)
            .collect();
        if let Some(innermost) = js.first() {
            add(&mut js_self, innermost, figures);
        }
        js.sort_unstable();
        js.dedup();
        for f in js {
            add(&mut js_cum, &f, figures);
        }
    }
    for (&(process_labels, thread_labels), &figures) in &by_labels {
        for (k, v) in p.labels(process_labels, thread_labels) {
            add(labels.entry(k.to_string()).or_default(), v, figures);
        }
    }
    let has_wall = raw.wall_frequency > 0;
    let threads = raw
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let watched = if t.exited { t.last_seen_ns.saturating_sub(t.first_seen_ns) } else { raw.end_ns.saturating_sub(t.first_seen_ns) };
            ThreadSummary {
                tid: t.tid,
                name: t.name.clone(),
                role: p.roles[i].as_str(),
                cpu_ms: ms(t.cpu_ns),
                sampled_cpu_ms: if kind == PrimaryKind::Cpu { ms(per_thread[i].0) } else { 0.0 },
                samples: per_thread[i].1,
                utilization: if watched == 0 { 0.0 } else { ((t.cpu_ns as f64 / watched as f64) * 1000.0).round() / 1000.0 },
                exited: t.exited,
                leaf_only_samples: t.leaf_only_samples,
                wall_running_ms: has_wall.then(|| ms(wall[i].0)),
                wall_waiting_ms: has_wall.then(|| ms(wall[i].1)),
            }
        })
        .collect();
    Summary {
        schema_version: 1,
        name: meta.name.clone(),
        partial: raw.partial_reason.is_some() || meta.partial_reason.is_some(),
        partial_reason: meta.partial_reason.clone().or_else(|| raw.partial_reason.clone()),
        versions: meta.versions.clone(),
        frequency: raw.frequency,
        wall_frequency: raw.wall_frequency,
        signal: raw.signal,
        timer: raw.timer,
        timer_fallback: raw.timer_fallback.clone(),
        start_unix_ms: raw.start_unix_ns as f64 / 1e6,
        duration_ms: ms(raw.duration_ns()),
        process_cpu_ms: ms(raw.process_cpu_ns),
        sampled_cpu_ms: ms(sampled),
        fidelity: if watched_cpu == 0 { 0.0 } else { (sampled as f64 / watched_cpu as f64 * 1000.0).round() / 1000.0 },
        sample_type: kind.name(),
        samples: raw.samples.len() as u64,
        stats: raw.stats.clone(),
        threads,
        top_functions_self: top(self_fn, weighed, kind),
        top_functions_cumulative: top(cum_fn, weighed, kind),
        top_js_functions_self: top(js_self, weighed, kind),
        top_js_functions_cumulative: top(js_cum, weighed, kind),
        js_profiler: p.js_stacks.as_ref().map(|r| match r {
            Ok(stats) => JsProfilerSummary { stats: stats.clone(), reason: meta.js_source_reason.clone(), error: None },
            // Only V8's profile is read from text, so only the CPU profiler fails this way.
            Err(e) => JsProfilerSummary { stats: GraftStats { source: "cpu-profiler", ..Default::default() }, reason: meta.js_source_reason.clone(), error: Some(e.clone()) },
        }),
        labels: labels.into_iter().map(|(k, v)| (k, top(v, weighed, kind))).collect(),
        attribution: meta.attribution.clone(),
        interop: super::interop::build(p),
        modules: sym.modules.clone(),
        crates: super::crates::tally(sym, &by_stack, weighed),
        rspack_spans: p.rspack_spans.clone(),
        post_processing: PostProcessing {
            symbolize_ms: round_ms((p.resolved_ns - p.started_ns) as f64 / 1e6),
            pprof_ms: 0.0,
            trace_ms: 0.0,
            flamegraph_ms: 0.0,
            js_ms: round_ms(meta.js_stop_ms),
            total_ms: 0.0,
            during_teardown: meta.during_teardown,
        }
        .timed(p, encodings),
        start_ms: round_ms(meta.start_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::names::testing;

    #[test]
    fn functions_count_once_per_stack_however_often_they_recur() {
        let ms = 1_000_000;
        let p = testing::profile(&[
            // `parse` recurses, and one location holds `visit` inlined into `walk`.
            (vec![vec!["main"], vec!["parse"], vec!["parse"], vec!["walk", "visit"]], 60 * ms),
            (vec![vec!["main"], vec!["parse"]], 30 * ms),
            (vec![vec!["main"], vec!["emit"]], 10 * ms),
        ]);
        let s = build(&p, Encodings::default());
        let figures = |entries: &[Entry]| -> Vec<(String, f64, u64)> { entries.iter().map(|e| (e.name.clone(), e.ms, e.samples)).collect() };
        assert_eq!(
            figures(&s.top_functions_self),
            vec![("visit".to_string(), 60.0, 1), ("parse".to_string(), 30.0, 1), ("emit".to_string(), 10.0, 1)]
        );
        assert_eq!(
            figures(&s.top_functions_cumulative),
            vec![
                ("main".to_string(), 100.0, 3),
                ("parse".to_string(), 90.0, 2),
                ("visit".to_string(), 60.0, 1),
                ("walk".to_string(), 60.0, 1),
                ("emit".to_string(), 10.0, 1)
            ]
        );
        assert_eq!(s.top_functions_cumulative[1].percent, 90.0);
    }

    #[test]
    fn js_functions_named_by_a_perf_map_fill_the_js_tables() {
        let ms = 1_000_000;
        // `perfprobe --mixed`: V8's perf map names JIT code; a builtin in it is no JS function.
        let mut p = testing::profile(&[
            (vec![vec!["main"], vec!["JS:~run /app/node_modules/@rspack/core/dist/index.js:10:5"], vec!["JS:*parse /app/a.js:2:1"]], 30 * ms),
            (vec![vec!["main"], vec!["JS:~run /app/node_modules/@rspack/core/dist/index.js:10:5"], vec!["Builtin:ArrayMap"]], 10 * ms),
        ]);
        for l in &mut p.symbols.locations {
            if l.frames[0].function.contains(':') {
                l.origin = Origin::PerfMap;
            }
        }
        let s = build(&p, Encodings::default());
        let figures = |entries: &[Entry]| -> Vec<(String, f64)> { entries.iter().map(|e| (e.name.clone(), e.ms)).collect() };
        assert_eq!(figures(&s.top_js_functions_self), vec![("parse a.js:2".to_string(), 30.0), ("run index.js:10".to_string(), 10.0)]);
        assert_eq!(figures(&s.top_js_functions_cumulative), vec![("run index.js:10".to_string(), 40.0), ("parse a.js:2".to_string(), 30.0)]);
    }

    #[test]
    fn a_wall_only_profile_fills_every_table_with_wall_time_and_says_so() {
        let ms = 1_000_000;
        let mut p = testing::profile(&[(vec![vec!["main"], vec!["wait"]], 70 * ms), (vec![vec!["main"], vec!["work"]], 30 * ms)]);
        (p.raw.frequency, p.raw.wall_frequency) = (0, 99);
        p.raw.samples[0].kind = SampleKind::WallWaiting;
        p.raw.samples[1].kind = SampleKind::WallRunning;
        let s = build(&p, Encodings::default());
        assert_eq!(s.sample_type, "wall");
        let figures = |entries: &[Entry]| -> Vec<(String, f64, f64)> { entries.iter().map(|e| (e.name.clone(), e.ms, e.percent)).collect() };
        assert_eq!(figures(&s.top_functions_self), vec![("wait".to_string(), 70.0, 70.0), ("work".to_string(), 30.0, 30.0)]);
        assert_eq!(figures(&s.top_functions_cumulative)[0], ("main".to_string(), 100.0, 100.0));
        assert_eq!((s.threads[0].samples, s.threads[0].sampled_cpu_ms, s.threads[0].wall_running_ms, s.threads[0].wall_waiting_ms), (2, 0.0, Some(30.0), Some(70.0)));
        let json = serde_json::to_value(&s.top_functions_self[0]).unwrap();
        assert_eq!(json, serde_json::json!({ "name": "wait", "wallMs": 70.0, "samples": 1, "percent": 70.0 }));
        // A CPU profile's entries keep `cpuMs`.
        let p = testing::profile(&[(vec![vec!["main"]], 10 * ms)]);
        let cpu = build(&p, Encodings::default());
        assert_eq!((cpu.sample_type, serde_json::to_value(&cpu.top_functions_self[0]).unwrap()["cpuMs"].as_f64()), ("cpu", Some(10.0)));
    }

    /// A profile of `main -> userTap -> callThrough -> userWork` (60 ms) and `main -> userTap ->
    /// withPair` (40 ms), V8's frames, the probe's two in `frames.js` and `labels.js` of `own`, or in
    /// the one file `own` when `bundled`.
    fn wrapped_user_work(own: &str, bundled: bool) -> ResolvedProfile {
        let ms = 1_000_000;
        let mut p = testing::profile(&[
            (vec![vec!["main"], vec!["userTap"], vec!["callThrough"], vec!["userWork"]], 60 * ms),
            (vec![vec!["main"], vec!["userTap"], vec!["withPair"]], 40 * ms),
        ]);
        for l in &mut p.symbols.locations {
            l.origin = Origin::V8;
            let f = &mut l.frames[0];
            let file = |name: &str| if bundled { own.to_string() } else { format!("{own}/{name}") };
            f.file = Some(match f.function.as_str() {
                "callThrough" => file("attribution/frames.js"),
                "withPair" => format!("file://{}", file("attribution/labels.js")),
                // Beside the probe's, with names that start like its own.
                _ if bundled => format!("{own}x"),
                _ => format!("{own}-user/tap.js"),
            });
        }
        p.meta.probe_js = vec![own.to_string()];
        p
    }

    #[test]
    fn the_probes_own_js_wrappers_are_folded_into_their_callers() {
        for (own, bundled) in [("/app/node_modules/rspack-perfprobe/lib", false), ("/app/node_modules/rspack-perfprobe/dist/perfprobe.js", true)] {
            let s = build(&wrapped_user_work(own, bundled), Encodings::default());
            let names = |entries: &[Entry]| -> Vec<(String, f64)> { entries.iter().map(|e| (e.name.clone(), e.ms)).collect() };
            assert_eq!(names(&s.top_js_functions_self), vec![("userWork".to_string(), 60.0), ("userTap".to_string(), 40.0)], "{own}");
            assert_eq!(names(&s.top_js_functions_cumulative), vec![("main".to_string(), 100.0), ("userTap".to_string(), 100.0), ("userWork".to_string(), 60.0)], "{own}");
        }
    }

    #[test]
    fn the_probes_own_js_wrappers_named_by_a_perf_map_are_folded_too() {
        let ms = 1_000_000;
        // `perfprobe --mixed`: the perf map's names carry their files.
        let probe = "/app/node_modules/rspack-perfprobe/lib/attribution";
        let tap = "JS:~userTap /app/plugins/tap.js:3:1".to_string();
        let wrapper = format!("JS:~callThrough {probe}/frames.js:12:3");
        let work = "JS:*userWork /app/plugins/work.js:7:1".to_string();
        let mut p = testing::profile(&[(vec![vec!["main"], vec![tap.as_str()], vec![wrapper.as_str()], vec![work.as_str()]], 50 * ms), (vec![vec!["main"], vec![tap.as_str()], vec![wrapper.as_str()]], 10 * ms)]);
        for l in &mut p.symbols.locations {
            if l.frames[0].function.starts_with("JS:") {
                l.origin = Origin::PerfMap;
            }
        }
        p.meta.probe_js = vec![probe.to_string()];
        let s = build(&p, Encodings::default());
        let names = |entries: &[Entry]| -> Vec<(String, f64)> { entries.iter().map(|e| (e.name.clone(), e.ms)).collect() };
        assert_eq!(names(&s.top_js_functions_self), vec![("userWork work.js:7".to_string(), 50.0), ("userTap tap.js:3".to_string(), 10.0)]);
    }
}
