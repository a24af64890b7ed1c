//! `trace.json` in Chrome's JSON object format: thread names with their roles, each thread's
//! samples as a V8-style `Profile` + `ProfileChunk` pair (a flame chart per thread in DevTools,
//! Perfetto and speedscope), per-thread CPU counters, and the spans the JS side recorded.
//! Timestamps are monotonic microseconds, the clock of `process.hrtime` and V8's profiler.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};

use crate::profile::RawProfile;
use crate::symbolize::Symbolized;

/// Width of the CPU counter buckets.
const COUNTER_BUCKET_NS: u64 = 100_000_000;

/// The trace as JSON bytes. Events are serialized one by one from typed values (a profile chunk
/// of 100k nodes as a `serde_json::Value` tree costs more than the rest of the export together).
pub fn build(raw: &RawProfile, sym: &Symbolized, extra_events: &[Value]) -> serde_json::Result<Vec<u8>> {
    let pid = std::process::id();
    let mut events: Vec<Box<RawValue>> = Vec::new();
    events.push(to_raw_value(&json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "rspack (perfprobe)"}}))?);
    let mut by_thread: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, s) in raw.samples.iter().enumerate() {
        by_thread.entry(s.thread).or_default().push(i);
    }
    for (t, info) in raw.threads.iter().enumerate() {
        let role = sym.roles[t];
        events.push(to_raw_value(&json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": info.tid,
            "args": {"name": format!("{} ({})", info.name, role.as_str())}}))?);
        events.push(to_raw_value(&json!({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": info.tid,
            "args": {"sort_index": role as u32 * 100_000 + t as u32}}))?);
    }
    let mut threads: Vec<_> = by_thread.into_iter().collect();
    threads.sort_by_key(|(t, _)| *t);
    for (profile_id, (t, mut samples)) in threads.into_iter().enumerate() {
        samples.sort_by_key(|&i| raw.samples[i].time_ns);
        let (profile, chunk) = profile_events(raw, sym, t, &samples, profile_id as u64 + 1, pid)?;
        events.push(to_raw_value(&profile)?);
        events.push(chunk);
    }
    for counter in cpu_counters(raw, pid) {
        events.push(to_raw_value(&counter)?);
    }
    for e in extra_events {
        events.push(to_raw_value(e)?);
    }
    serde_json::to_vec(&json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"producer": "rspack-perfprobe", "frequency": raw.frequency},
    }))
}

#[derive(Serialize)]
struct Node<'a> {
    id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<u32>,
    #[serde(rename = "callFrame")]
    call_frame: CallFrame<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallFrame<'a> {
    function_name: &'a str,
    url: &'a str,
    script_id: u32,
    line_number: i64,
    column_number: i64,
}

impl<'a> CallFrame<'a> {
    fn named(function_name: &'a str, url: &'a str) -> CallFrame<'a> {
        CallFrame { function_name, url, script_id: 0, line_number: -1, column_number: -1 }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// A V8 CPU profile for one thread: a call tree of the sampled stacks plus the sample sequence.
fn profile_events(raw: &RawProfile, sym: &Symbolized, thread: u32, samples: &[usize], id: u64, pid: u32) -> serde_json::Result<(Value, Box<RawValue>)> {
    let tid = raw.threads[thread as usize].tid;
    let mut nodes = vec![Node { id: 1, parent: None, call_frame: CallFrame::named("(root)", "") }];
    // A node is a (parent, function) pair, as in V8's own profiles: samples at different addresses
    // of one function share its node, which keeps deep recursive stacks from multiplying nodes.
    let mut children: HashMap<(u32, &str), u32> = HashMap::new();
    let mut sample_nodes = Vec::with_capacity(samples.len());
    let mut deltas = Vec::with_capacity(samples.len());
    let start_ns = raw.start_ns;
    let mut last_ns = start_ns;
    for &i in samples {
        let s = &raw.samples[i];
        let mut node = 1u32;
        for &loc in sym.stacks[s.stack as usize].iter().rev() {
            for f in sym.locations[loc as usize].frames.iter().rev() {
                node = *children.entry((node, f.short.as_str())).or_insert_with(|| {
                    let id = nodes.len() as u32 + 1;
                    nodes.push(Node { id, parent: Some(node), call_frame: CallFrame::named(&f.short, f.file.as_deref().unwrap_or("")) });
                    id
                });
            }
        }
        sample_nodes.push(node);
        deltas.push(((s.time_ns.saturating_sub(last_ns)) / 1000) as i64);
        last_ns = s.time_ns;
    }
    let cat = "disabled-by-default-v8.cpu_profiler";
    let id = format!("{id:#x}");
    let profile = json!({"ph": "P", "name": "Profile", "cat": cat, "id": id, "pid": pid, "tid": tid, "ts": us(start_ns),
        "args": {"data": {"startTime": us(start_ns)}}});
    // Typed all the way down: json! would turn the node list back into a Value tree.
    #[derive(Serialize)]
    struct Chunk<'a> {
        ph: &'static str,
        name: &'static str,
        cat: &'static str,
        id: &'a str,
        pid: u32,
        tid: i32,
        ts: f64,
        args: ChunkArgs<'a>,
    }
    #[derive(Serialize)]
    struct ChunkArgs<'a> {
        data: ChunkData<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ChunkData<'a> {
        cpu_profile: CpuProfile<'a>,
        time_deltas: Vec<i64>,
    }
    #[derive(Serialize)]
    struct CpuProfile<'a> {
        nodes: Vec<Node<'a>>,
        samples: Vec<u32>,
    }
    let chunk = Chunk {
        ph: "P",
        name: "ProfileChunk",
        cat,
        id: &id,
        pid,
        tid,
        ts: us(last_ns),
        args: ChunkArgs { data: ChunkData { cpu_profile: CpuProfile { nodes, samples: sample_nodes }, time_deltas: deltas } },
    };
    Ok((profile, to_raw_value(&chunk)?))
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
