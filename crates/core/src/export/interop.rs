//! Interop stalls for the summary: how much Rust<->JS calls cost, measured rather than guessed.
//!
//! Rust->JS calls (JS taps, loaders, the fs bridge, option callbacks) are counted and timed on the
//! JS thread by the attribution layer; wall samples show what Rspack's worker threads did
//! meanwhile. Worker wall time spent waiting while the JS thread served a kind of call is the
//! overlap of the workers' waiting samples with that kind's spans. How long a call sat in the JS
//! thread's queue before it started is not observable from either side; the event-loop lag the JS
//! side samples at the probe's rate is its floor, reported beside.

use serde::Serialize;

use crate::meta::{BoundaryKind, EventLoopLag, TraceEvent};
use crate::profile::{RawProfile, SampleKind, ThreadRole};
use crate::resolve::ResolvedProfile;

#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CallKind {
    /// `tap`, `loader`, `fs` (Rspack's fs bridge) or `option` (a function in the config).
    pub kind: &'static str,
    pub calls: u64,
    /// Wall time the JS thread spent running them.
    pub run_ms: f64,
    /// Sampled CPU of the JS thread inside them (samples labelled `binding=callback:<kind>`, plus
    /// `callback:tap` for taps); null in a profile without CPU samples. Sampled rather than read
    /// from the thread's CPU clock around each call: a clock read is a syscall (2-5 µs on a
    /// virtual machine), twice per loader call.
    pub run_cpu_ms: Option<f64>,
    /// Wall time Rspack's worker threads (tokio, rayon) spent waiting, summed over workers, while
    /// the JS thread ran these calls; null without wall samples (mode `cpu`). Only calls written
    /// as trace spans count (those shorter than `minSpanUs` are not).
    pub worker_waiting_ms: Option<f64>,
}

#[derive(Serialize, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JsToRust {
    /// Synchronous binding calls: the JS thread was blocked in Rust for `blocked_ms`.
    pub sync_calls: u64,
    pub blocked_ms: f64,
    /// Asynchronous ones (callback or promise), timed to completion; the JS thread was free meanwhile.
    pub async_calls: u64,
    pub async_ms: f64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Interop {
    pub rust_to_js: Vec<CallKind>,
    pub js_to_rust: JsToRust,
    /// Event-loop lag of the JS thread as the JS side measured it: the floor of how long a
    /// Rust->JS call waits before it starts.
    pub event_loop_lag: Option<EventLoopLag>,
}

const KINDS: [&str; 4] = ["tap", "loader", "fs", "option"];

/// The Rust->JS kind of a boundary or span: (attribution kind, category, name).
fn rust_to_js_kind(kind: Option<BoundaryKind>, category: &str, name: &str) -> Option<&'static str> {
    match (kind, category) {
        (Some(BoundaryKind::Tap), _) | (_, "tap") => Some("tap"),
        (Some(BoundaryKind::RustToJs), _) if name.starts_with("callback:fs.") => Some("fs"),
        (Some(BoundaryKind::RustToJs), _) if name.starts_with("callback:options.") => Some("option"),
        (Some(BoundaryKind::RustToJs), _) | (_, "loader") => Some("loader"),
        _ => None,
    }
}

/// The Rust->JS kind a `binding` label names: what the attribution layer labels the JS thread with
/// while it serves that kind of call.
fn kind_of_binding_label(label: &str) -> Option<&'static str> {
    match label {
        "callback:tap" => Some("tap"),
        "callback:loader" => Some("loader"),
        _ if label.starts_with("callback:fs.") => Some("fs"),
        _ if label.starts_with("callback:options.") => Some("option"),
        _ => None,
    }
}

fn ms(ns: f64) -> f64 {
    (ns / 1e4).round() / 100.0
}

/// `None` when the JS side sent no attribution (no plugin, no labels): nothing to say then.
pub fn build(p: &ResolvedProfile) -> Option<Interop> {
    let attribution = p.meta.attribution.as_ref()?;
    let boundaries = attribution.boundaries.as_ref()?;
    let mut rust_to_js: Vec<CallKind> = KINDS.iter().map(|&kind| CallKind { kind, calls: 0, run_ms: 0.0, run_cpu_ms: None, worker_waiting_ms: None }).collect();
    let mut js_to_rust = JsToRust::default();
    for b in boundaries {
        if b.kind == BoundaryKind::JsToRust {
            if b.is_async == Some(true) {
                js_to_rust.async_calls += b.calls;
                js_to_rust.async_ms += b.wall_ms;
            } else {
                js_to_rust.sync_calls += b.calls;
                js_to_rust.blocked_ms += b.wall_ms;
            }
        } else if let Some(kind) = rust_to_js_kind(Some(b.kind), "", b.name.as_deref().unwrap_or("")) {
            let entry = rust_to_js.iter_mut().find(|k| k.kind == kind).expect("every kind listed");
            entry.calls += b.calls;
            entry.run_ms += b.wall_ms;
        }
    }
    let has_cpu = p.raw.samples.iter().any(|s| !s.kind.is_wall());
    if has_cpu {
        let mut cpu_ns = [0u64; KINDS.len()];
        for s in p.raw.samples.iter().filter(|s| !s.kind.is_wall() && p.roles.get(s.thread as usize) == Some(&ThreadRole::JsMain)) {
            let binding = p.labels(0, s.thread_labels).into_iter().find(|(k, _)| *k == "binding").map(|(_, v)| v);
            if let Some(i) = binding.and_then(kind_of_binding_label).and_then(|k| KINDS.iter().position(|&x| x == k)) {
                cpu_ns[i] += s.weight_ns;
            }
        }
        for (entry, ns) in rust_to_js.iter_mut().zip(cpu_ns) {
            entry.run_cpu_ms = Some(ms(ns as f64));
        }
    }
    js_to_rust.blocked_ms = (js_to_rust.blocked_ms * 100.0).round() / 100.0;
    js_to_rust.async_ms = (js_to_rust.async_ms * 100.0).round() / 100.0;
    let has_wall = p.raw.samples.iter().any(|s| s.kind.is_wall());
    for entry in &mut rust_to_js {
        entry.run_ms = (entry.run_ms * 100.0).round() / 100.0;
        if has_wall {
            let spans = merged_spans(p.trace_events(), entry.kind);
            entry.worker_waiting_ms = Some(ms(worker_waiting_overlap_ns(&p.raw, &p.roles, &spans) as f64));
        }
    }
    Some(Interop { rust_to_js, js_to_rust, event_loop_lag: attribution.event_loop_lag.clone() })
}

/// The JS side's spans of one Rust->JS kind as sorted, disjoint [start, end) ns intervals: `X`
/// slices, and `b`/`e` pairs for asynchronous calls (an fs bridge call awaited by a worker).
fn merged_spans<'a>(events: impl Iterator<Item = &'a TraceEvent>, kind: &str) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = Vec::new();
    let mut open: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for e in events {
        if rust_to_js_kind(e.args.as_ref().and_then(|a| a.kind), &e.cat, &e.name) != Some(kind) {
            continue;
        }
        let (start, end) = e.span_ns();
        match (e.ph.as_str(), e.id) {
            ("X", _) => spans.push((start, end)),
            ("b", Some(id)) => {
                open.insert(id, start);
            }
            ("e", Some(id)) => {
                if let Some(begun) = open.remove(&id) {
                    spans.push((begun, start));
                }
            }
            _ => {}
        }
    }
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Waiting wall time of worker threads inside `spans`.
fn worker_waiting_overlap_ns(raw: &RawProfile, roles: &[ThreadRole], spans: &[(u64, u64)]) -> u64 {
    raw.samples
        .iter()
        .filter(|s| s.kind == SampleKind::WallWaiting)
        .filter(|s| matches!(roles.get(s.thread as usize), Some(ThreadRole::Tokio | ThreadRole::Rayon)))
        .map(|s| overlap(spans, s.time_ns.saturating_sub(s.weight_ns), s.time_ns))
        .sum()
}

fn overlap(spans: &[(u64, u64)], start: u64, end: u64) -> u64 {
    let first = spans.partition_point(|&(_, e)| e <= start);
    spans[first..].iter().take_while(|&&(s, _)| s < end).map(|&(s, e)| e.min(end).saturating_sub(s.max(start))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Attribution, ExportMeta};
    use crate::profile::{Sample, ThreadInfo};
    use crate::symbolize::Symbolized;
    use serde_json::json;

    fn thread(tid: i32) -> ThreadInfo {
        ThreadInfo { tid, name: format!("t{tid}"), role: ThreadRole::Tokio, role_is_guess: false, cpu_ns: 0, first_seen_ns: 0, last_seen_ns: 0, exited: false, leaf_only_samples: 0 }
    }

    #[test]
    fn overlap_counts_only_the_covered_part() {
        let spans = [(10, 20), (30, 40)];
        assert_eq!(overlap(&spans, 0, 100), 20);
        assert_eq!(overlap(&spans, 15, 35), 10);
        assert_eq!(overlap(&spans, 20, 30), 0);
    }

    #[test]
    fn calls_by_kind_and_worker_waiting_during_loader_spans() {
        let attribution: Attribution = serde_json::from_value(json!({
            "boundaries": [
                {"kind": "tap", "hook": "compilation.processAssets", "plugin": "P", "calls": 2, "wallMs": 5.0},
                {"kind": "rust->js", "name": "/app/loader.js (normal)", "calls": 10, "wallMs": 30.0 },
                {"kind": "rust->js", "name": "callback:fs.writeFile", "calls": 3, "wallMs": 1.5},
                {"kind": "rust->js", "name": "callback:options.output.filename", "calls": 1, "wallMs": 0.5},
                {"kind": "js->rust", "name": "JsCompilation.getAssets", "calls": 50, "wallMs": 2.0},
                {"kind": "js->rust", "name": "JsCompiler.build", "calls": 1, "wallMs": 900.0, "async": true},
            ],
            "eventLoopLag": {"samples": 3, "resolutionMs": 50, "meanMs": 1.2, "p50Ms": 1.0, "p99Ms": 2.0, "maxMs": 2.5}
        }))
        .unwrap();
        // One loader span from 1 ms to 31 ms; a worker waits from 0 to 20 ms, then from 25 to 40 ms.
        let events: Vec<TraceEvent> = serde_json::from_value(json!([
            {"ph": "X", "cat": "loader", "name": "/app/loader.js (normal)", "ts": 1000.0, "dur": 30000.0, "pid": 1, "tid": 1, "args": {"kind": "rust->js"}},
            {"ph": "b", "cat": "binding", "name": "callback:fs.writeFile", "id": 1, "ts": 35000.0, "pid": 1, "tid": 1, "args": {"kind": "rust->js"}},
            {"ph": "e", "cat": "binding", "name": "callback:fs.writeFile", "id": 1, "ts": 38000.0, "pid": 1, "tid": 1, "args": {"kind": "rust->js"}},
        ]))
        .unwrap();
        let wait = |end_ms: u64, len_ms: u64| Sample {
            thread: 0,
            time_ns: end_ms * 1_000_000,
            weight_ns: len_ms * 1_000_000,
            kind: SampleKind::WallWaiting,
            thread_labels: 0,
            process_labels: 0,
            stack: 0,
            js_stack: crate::profile::NO_JS_STACK,
        };
        // The JS thread's CPU samples: 7 ms inside loaders, 2 ms in taps, 1 ms serving the fs bridge, 4 ms elsewhere.
        let label = |binding: &str| crate::labels::intern(vec![("binding".to_string(), binding.to_string())]);
        let cpu = |ms: u64, thread_labels: u32| Sample { thread: 1, weight_ns: ms * 1_000_000, kind: SampleKind::Cpu, thread_labels, ..wait(50, 0) };
        let js = ThreadInfo { role: ThreadRole::JsMain, ..thread(2) };
        let samples = vec![wait(20, 20), wait(40, 15), cpu(7, label("callback:loader")), cpu(2, label("callback:tap")), cpu(1, label("callback:fs.writeFile")), cpu(4, 0)];
        let raw = RawProfile { threads: vec![thread(1), js], samples, ..Default::default() };
        let meta = ExportMeta { attribution: Some(attribution), trace_events: events, ..Default::default() };
        let interop = build(&ResolvedProfile::from_parts(raw, Symbolized { locations: vec![], stacks: vec![], modules: vec![] }, meta)).unwrap();
        let loader = interop.rust_to_js.iter().find(|k| k.kind == "loader").unwrap();
        assert_eq!((loader.calls, loader.run_ms, loader.run_cpu_ms, loader.worker_waiting_ms), (10, 30.0, Some(7.0), Some(25.0)));
        let fs = interop.rust_to_js.iter().find(|k| k.kind == "fs").unwrap();
        assert_eq!((fs.calls, fs.run_cpu_ms, fs.worker_waiting_ms), (3, Some(1.0), Some(3.0)), "an async call's b/e pair counts");
        assert_eq!(interop.rust_to_js.iter().find(|k| k.kind == "tap").unwrap().run_cpu_ms, Some(2.0));
        assert_eq!(interop.rust_to_js.iter().find(|k| k.kind == "option").unwrap().calls, 1);
        assert_eq!(interop.rust_to_js.iter().find(|k| k.kind == "tap").unwrap().calls, 2);
        assert_eq!(interop.js_to_rust, JsToRust { sync_calls: 50, blocked_ms: 2.0, async_calls: 1, async_ms: 900.0 });
        assert_eq!(interop.event_loop_lag.map(|l| l.mean_ms), Some(1.2));
    }
}
