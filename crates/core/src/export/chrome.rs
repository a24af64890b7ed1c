//! `trace.json` in Chrome's JSON object format: thread names with their roles, each thread's
//! samples as a V8-style `Profile` + `ProfileChunk` pair (a flame chart per thread in DevTools,
//! Perfetto and speedscope), per-thread CPU counters, and the spans the JS side recorded.
//! Timestamps are monotonic microseconds, the clock of `process.hrtime` and V8's profiler.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::profile::RawProfile;
use crate::symbolize::Symbolized;

/// Width of the CPU counter buckets.
const COUNTER_BUCKET_NS: u64 = 100_000_000;

pub fn build(raw: &RawProfile, sym: &Symbolized, extra_events: &[Value]) -> Value {
    let pid = std::process::id();
    let mut events: Vec<Value> = vec![json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "rspack (perfprobe)"}})];
    let mut by_thread: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, s) in raw.samples.iter().enumerate() {
        by_thread.entry(s.thread).or_default().push(i);
    }
    for (t, info) in raw.threads.iter().enumerate() {
        let role = sym.roles[t];
        events.push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": info.tid,
            "args": {"name": format!("{} ({})", info.name, role.as_str())}}));
        events.push(json!({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": info.tid,
            "args": {"sort_index": role as u32 * 100_000 + t as u32}}));
    }
    let mut threads: Vec<_> = by_thread.into_iter().collect();
    threads.sort_by_key(|(t, _)| *t);
    for (profile_id, (t, mut samples)) in threads.into_iter().enumerate() {
        samples.sort_by_key(|&i| raw.samples[i].time_ns);
        events.extend(profile_events(raw, sym, t, &samples, profile_id as u64 + 1, pid));
    }
    events.extend(cpu_counters(raw, pid));
    events.extend(extra_events.iter().cloned());
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"producer": "rspack-perfprobe", "frequency": raw.frequency},
    })
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// A V8 CPU profile for one thread: a call tree of the sampled stacks plus the sample sequence.
fn profile_events(raw: &RawProfile, sym: &Symbolized, thread: u32, samples: &[usize], id: u64, pid: u32) -> Vec<Value> {
    let tid = raw.threads[thread as usize].tid;
    let mut nodes = vec![json!({"id": 1, "callFrame": {"functionName": "(root)", "url": "", "scriptId": 0, "lineNumber": -1, "columnNumber": -1}})];
    let mut children: HashMap<(u32, String, Option<String>, Option<u32>), u32> = HashMap::new();
    let mut sample_nodes = Vec::with_capacity(samples.len());
    let mut deltas = Vec::with_capacity(samples.len());
    let start_ns = raw.start_ns;
    let mut last_ns = start_ns;
    for &i in samples {
        let s = &raw.samples[i];
        let mut node = 1u32;
        for f in sym.frames_root_first(s.stack) {
            let key = (node, f.function.clone(), f.file.clone(), f.line);
            node = *children.entry(key).or_insert_with(|| {
                let id = nodes.len() as u32 + 1;
                nodes.push(json!({"id": id, "parent": node, "callFrame": {
                    "functionName": f.function, "url": f.file.clone().unwrap_or_default(), "scriptId": 0,
                    "lineNumber": f.line.map_or(-1, |l| i64::from(l) - 1), "columnNumber": -1}}));
                id
            });
        }
        sample_nodes.push(node);
        deltas.push(((s.time_ns.saturating_sub(last_ns)) / 1000) as i64);
        last_ns = s.time_ns;
    }
    let cat = "disabled-by-default-v8.cpu_profiler";
    let id = format!("{id:#x}");
    vec![
        json!({"ph": "P", "name": "Profile", "cat": cat, "id": id, "pid": pid, "tid": tid, "ts": us(start_ns),
            "args": {"data": {"startTime": us(start_ns)}}}),
        json!({"ph": "P", "name": "ProfileChunk", "cat": cat, "id": id, "pid": pid, "tid": tid, "ts": us(last_ns),
            "args": {"data": {"cpuProfile": {"nodes": nodes, "samples": sample_nodes}, "timeDeltas": deltas}}}),
    ]
}

/// CPU use per thread in 100 ms buckets, from sample weights, as one stacked counter.
fn cpu_counters(raw: &RawProfile, pid: u32) -> Vec<Value> {
    let mut buckets: std::collections::BTreeMap<u64, HashMap<String, u64>> = Default::default();
    for s in &raw.samples {
        let b = s.time_ns.saturating_sub(raw.start_ns) / COUNTER_BUCKET_NS;
        let info = &raw.threads[s.thread as usize];
        *buckets.entry(b).or_default().entry(format!("{} {}", info.name, info.tid)).or_default() += s.weight_ns;
    }
    buckets
        .into_iter()
        .map(|(b, per_thread)| {
            let args: serde_json::Map<String, Value> = per_thread
                .into_iter()
                .map(|(k, ns)| (k, json!((ns as f64 * 100.0 / COUNTER_BUCKET_NS as f64 * 10.0).round() / 10.0)))
                .collect();
            json!({"ph": "C", "name": "thread CPU %", "pid": pid, "tid": 0, "ts": us(raw.start_ns + b * COUNTER_BUCKET_NS), "args": args})
        })
        .collect()
}
