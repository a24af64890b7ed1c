//! Rspack's spans joined to samples by time. The spans kept by the registration's filter (phases,
//! passes, plugin hooks: see `lib/attribution/rspack-spans.js`) run one at a time on the
//! compilation path, and the records carry no thread, so time alone decides: every sample of every
//! thread taken while a span was open carries the innermost open span's name as `rspack_span`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use serde_json::json;

use super::SpanRecord;
use crate::labels;
use crate::meta::{TraceArgs, TraceEvent};
use crate::profile::{PrimaryKind, RawProfile};

/// The label key the samples carry.
pub const LABEL: &str = "rspack_span";

/// The Chrome trace row the spans are drawn on: a tid no thread has (Linux tids stay below 2^22);
/// the trace names such a row after its events' category, `Rspack`.
pub const TRACE_TID: i64 = 1 << 30;

/// How the spans joined the session's samples, for `summary.json` (`rspackSpans`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RspackSpansSummary {
    /// Spans that closed during the session.
    pub spans: usize,
    /// Distinct span names.
    pub names: usize,
    /// What the samples that carry `rspack_span` weigh, in the profile's primary kind as every
    /// table of the summary: CPU (`labelledCpuMs`), or wall time in a wall-only profile
    /// (`labelledWallMs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labelled_cpu_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labelled_wall_ms: Option<f64>,
    /// Their share of all the samples of that kind (percent).
    pub percent: f64,
    /// Records the reader dropped because no session took them in time (counted, never hidden).
    pub dropped: u64,
}

/// Labels `raw`'s samples with the spans; returns the spans as Chrome trace events, and the join's figures.
pub fn attach(raw: &mut RawProfile, spans: &[SpanRecord], dropped: u64) -> (Vec<TraceEvent>, RspackSpansSummary) {
    let innermost = innermost_at_samples(raw, spans);
    let sets = labels::snapshot();
    let mut relabelled: HashMap<(u32, usize), u32> = HashMap::default();
    let kind = raw.primary_kind();
    let (mut labelled_ns, mut all_ns) = (0u64, 0u64);
    for (sample, span) in raw.samples.iter_mut().zip(innermost) {
        let counted = kind.includes(sample.kind);
        if counted {
            all_ns += sample.weight_ns;
        }
        let Some(span) = span else { continue };
        if counted {
            labelled_ns += sample.weight_ns;
        }
        let name = &spans[span].name;
        sample.process_labels = *relabelled.entry((sample.process_labels, span)).or_insert_with(|| {
            let mut set = sets.get(sample.process_labels as usize).cloned().unwrap_or_default();
            set.retain(|(k, _)| k != LABEL);
            set.push((LABEL.to_string(), name.clone()));
            labels::intern(set)
        });
    }
    let pid = std::process::id();
    let events = spans.iter().map(|s| trace_event(s, pid)).collect();
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let labelled_ms = (labelled_ns as f64 / 1e4).round() / 100.0;
    let summary = RspackSpansSummary {
        spans: spans.len(),
        names: names.len(),
        labelled_cpu_ms: (kind == PrimaryKind::Cpu).then_some(labelled_ms),
        labelled_wall_ms: (kind == PrimaryKind::Wall).then_some(labelled_ms),
        percent: if all_ns == 0 { 0.0 } else { (labelled_ns as f64 * 10000.0 / all_ns as f64).round() / 100.0 },
        dropped,
    };
    (events, summary)
}

fn trace_event(s: &SpanRecord, pid: u32) -> TraceEvent {
    let us = |ns: u64| ns as f64 / 1000.0;
    let args = [("target".to_string(), json!(s.target)), ("parents".to_string(), json!(s.parents.join(" > ")))];
    TraceEvent {
        args: Some(TraceArgs { kind: None, other: args.into_iter().collect() }),
        cat: "Rspack".into(),
        dur: Some(us(s.end_ns - s.start_ns)),
        id: None,
        name: s.name.clone(),
        ph: "X".into(),
        pid,
        tid: TRACE_TID,
        ts: us(s.start_ns),
    }
}

/// For each sample (in `raw.samples` order), the index of the innermost span open at its time: of
/// the spans that contain it, the deepest in Rspack's span tree (its record lists its parents), then
/// the one that started last, then the shorter. Depth first because starts are derived from rounded
/// lengths: `Compiler:build` (2.72 s, ±5 ms) read as starting 3 ms after its child
/// `Compilation:build_module_graph` in a 2.3.2 build, and would have hidden it.
pub fn innermost_at_samples(raw: &RawProfile, spans: &[SpanRecord]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..raw.samples.len()).collect();
    order.sort_unstable_by_key(|&i| raw.samples[i].time_ns);
    let mut by_start: Vec<usize> = (0..spans.len()).collect();
    by_start.sort_unstable_by_key(|&i| spans[i].start_ns);
    let mut out = vec![None; raw.samples.len()];
    // Started spans, innermost on top; spans that ended are dropped when they reach the top: sample
    // times only grow, so an ended span is never wanted again.
    let mut open: BinaryHeap<(usize, u64, Reverse<u64>, usize)> = BinaryHeap::new();
    let mut next = 0;
    for i in order {
        let t = raw.samples[i].time_ns;
        while next < by_start.len() && spans[by_start[next]].start_ns <= t {
            let s = &spans[by_start[next]];
            open.push((s.parents.len(), s.start_ns, Reverse(s.end_ns), by_start[next]));
            next += 1;
        }
        while open.peek().is_some_and(|&(_, _, Reverse(end), _)| end < t) {
            open.pop();
        }
        out[i] = open.peek().map(|&(_, _, _, s)| s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Sample, SampleKind};

    fn span(name: &str, start_ns: u64, end_ns: u64) -> SpanRecord {
        SpanRecord { name: name.into(), target: "t".into(), start_ns, end_ns, parents: Vec::new() }
    }

    fn raw_at(times: &[u64]) -> RawProfile {
        let mut raw = RawProfile::default();
        for &time_ns in times {
            raw.samples.push(Sample { thread: 0, time_ns, weight_ns: 10, kind: SampleKind::Cpu, thread_labels: 0, process_labels: 0, stack: 0, js_stack: crate::profile::NO_JS_STACK });
        }
        raw
    }

    #[test]
    fn each_sample_gets_the_innermost_open_span() {
        // build [0,100] > make [10,60] > finish_modules [40,50]; seal [70,90]; samples out of order.
        let spans = vec![span("Compiler:build", 0, 100), span("Compilation:seal", 70, 90), span("Compilation:make", 10, 60), span("finish_modules", 40, 50)];
        let raw = raw_at(&[45, 5, 55, 80, 95, 200, 50, 60]);
        let names: Vec<Option<&str>> = innermost_at_samples(&raw, &spans).into_iter().map(|s| s.map(|i| spans[i].name.as_str())).collect();
        assert_eq!(
            names,
            [Some("finish_modules"), Some("Compiler:build"), Some("Compilation:make"), Some("Compilation:seal"), Some("Compiler:build"), None, Some("finish_modules"), Some("Compilation:make")]
        );
    }

    #[test]
    fn the_deepest_span_wins_over_a_parent_whose_rounded_start_came_later() {
        let mut build = span("Compiler:build", 3_000, 100_000);
        let mut graph = span("Compilation:build_module_graph", 0, 50_000);
        graph.parents = vec!["Compiler:build".into()];
        let mut flag = span("FlagDependencyExportsPlugin:finish_modules", 60_000, 70_000);
        flag.parents = vec!["Compiler:build".into(), "Compilation:finish_modules_inner".into()];
        build.parents = Vec::new();
        let spans = vec![build, graph, flag];
        let raw = raw_at(&[10_000, 55_000, 65_000, 1_000]);
        let names: Vec<Option<&str>> = innermost_at_samples(&raw, &spans).into_iter().map(|s| s.map(|i| spans[i].name.as_str())).collect();
        assert_eq!(names, [Some("Compilation:build_module_graph"), Some("Compiler:build"), Some("FlagDependencyExportsPlugin:finish_modules"), Some("Compilation:build_module_graph")]);
    }

    #[test]
    fn attach_adds_the_label_to_the_process_set_and_counts_labelled_cpu() {
        let phase = labels::intern(vec![("phase".into(), "seal".into()), (LABEL.into(), "stale".into())]);
        let mut raw = raw_at(&[5, 15, 25]);
        raw.samples[1].process_labels = phase;
        let (events, summary) = attach(&mut raw, &[span("SplitChunksPlugin:optimize_chunks", 10, 20), span("Compilation:seal", 0, 12)], 3);
        let sets = labels::snapshot();
        let merged = |i: usize| labels::merged(&sets, raw.samples[i].process_labels, 0).into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        assert_eq!(merged(0), ["rspack_span=Compilation:seal"]);
        assert_eq!(merged(1), ["phase=seal", "rspack_span=SplitChunksPlugin:optimize_chunks"]);
        assert_eq!(merged(2), Vec::<String>::new());
        assert_eq!((summary.spans, summary.names, summary.percent, summary.dropped), (2, 2, 66.67, 3));
        assert_eq!((summary.labelled_cpu_ms, summary.labelled_wall_ms), (Some(0.0), None));
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.cat == "Rspack" && e.tid == TRACE_TID));
        assert!(events.iter().any(|e| e.ph == "X" && e.name == "SplitChunksPlugin:optimize_chunks" && e.dur == Some(0.01)));
    }

    #[test]
    fn the_share_is_of_the_profiles_primary_kind_wall_time_in_a_wall_only_profile() {
        // Weights in ms: a wall sample stands for its interval, running or waiting.
        let summary_of = |kinds: &[(u64, SampleKind, u64)], wall_frequency: u32| {
            let mut raw = raw_at(&kinds.iter().map(|&(t, _, _)| t).collect::<Vec<_>>());
            raw.wall_frequency = wall_frequency;
            for (sample, &(_, kind, ms)) in raw.samples.iter_mut().zip(kinds) {
                (sample.kind, sample.weight_ns) = (kind, ms * 1_000_000);
            }
            attach(&mut raw, &[span("Compilation:seal", 10, 20)], 0).1
        };
        // Mode `wall`: 10 ms of 100 inside the span; there is no CPU to take a share of.
        let wall = summary_of(&[(5, SampleKind::WallWaiting, 30), (15, SampleKind::WallRunning, 10), (25, SampleKind::WallWaiting, 60)], 99);
        assert_eq!((wall.percent, wall.labelled_wall_ms, wall.labelled_cpu_ms), (10.0, Some(10.0), None));
        let json = serde_json::to_value(&wall).unwrap();
        assert_eq!((json["labelledWallMs"].as_f64(), json.get("labelledCpuMs")), (Some(10.0), None));
        // Mode `both`: CPU is primary, and the wall samples inside the span do not count.
        let both = summary_of(&[(12, SampleKind::Cpu, 5), (15, SampleKind::WallWaiting, 50), (25, SampleKind::Cpu, 15)], 99);
        assert_eq!((both.percent, both.labelled_cpu_ms, both.labelled_wall_ms), (25.0, Some(5.0), None));
    }
}
