//! `trace.json` in Chrome's JSON object format: thread names with their roles, each thread's
//! samples as a V8-style `Profile` + `ProfileChunk` pair (a flame chart per thread in DevTools,
//! Perfetto and speedscope), per-thread CPU counters, and the spans the JS side recorded.
//! Timestamps are monotonic microseconds, the clock of `process.hrtime` and V8's profiler.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};

use crate::meta::TraceEvent;
use crate::profile::{RawProfile, SampleKind};
use crate::resolve::ResolvedProfile;
use crate::symbolize::Symbolized;

/// Width of the CPU counter buckets.
const COUNTER_BUCKET_NS: u64 = 100_000_000;

/// Writes the trace's JSON to `out`. Events are serialized one by one from typed values (a profile
/// chunk of 100k nodes as a `serde_json::Value` tree costs more than the rest of the export together).
pub fn write(p: &ResolvedProfile, out: &mut dyn std::io::Write) -> serde_json::Result<()> {
    let (raw, sym, extra_events) = (&p.raw, &p.symbols, p.trace_events());
    let pid = std::process::id();
    let mut events: Vec<Box<RawValue>> = Vec::new();
    events.push(to_raw_value(&metadata(pid, 0, "process_name", json!({"name": "rspack (perfprobe)"})))?);
    let mut by_thread: HashMap<u32, Vec<usize>> = HashMap::default();
    let kind = raw.primary_kind();
    for (i, s) in raw.samples.iter().enumerate().filter(|(_, s)| kind.includes(s.kind)) {
        by_thread.entry(s.thread).or_default().push(i);
    }
    for (t, info) in raw.threads.iter().enumerate() {
        let role = p.roles[t];
        events.push(to_raw_value(&metadata(pid, info.tid, "thread_name", json!({"name": format!("{} ({})", info.name, role.as_str())})))?);
        events.push(to_raw_value(&metadata(pid, info.tid, "thread_sort_index", json!({"sort_index": role as u32 * 100_000 + t as u32})))?);
    }
    for (tid, name) in span_rows(raw, extra_events.clone()) {
        events.push(to_raw_value(&metadata(pid, tid, "thread_name", json!({"name": name})))?);
        // Above every sampled thread: the phases row is the build's outline.
        events.push(to_raw_value(&metadata(pid, tid, "thread_sort_index", json!({"sort_index": -1})))?);
    }
    let mut threads: Vec<_> = by_thread.into_iter().collect();
    threads.sort_by_key(|(t, _)| *t);
    for (profile_id, (t, mut samples)) in threads.into_iter().enumerate() {
        samples.sort_by_key(|&i| raw.samples[i].time_ns);
        let (profile, chunk) = profile_events(raw, sym, t, &samples, profile_id as u64 + 1, pid)?;
        events.push(to_raw_value(&profile)?);
        events.push(chunk);
    }
    for counter in cpu_counters(raw, pid).into_iter().chain(state_counters(raw, pid)).chain(memory_counter(raw, pid)) {
        events.push(to_raw_value(&counter)?);
    }
    for e in extra_events {
        events.push(to_raw_value(e)?);
    }
    // Typed, not json!: json! would parse every serialized event back into a Value tree (for a
    // 999 Hz build, 80 MB to write an 8 MB file).
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Trace<'a> {
        trace_events: &'a [Box<RawValue>],
        display_time_unit: &'static str,
        other_data: Value,
    }
    serde_json::to_writer(
        out,
        &Trace {
            trace_events: &events,
            display_time_unit: "ms",
            other_data: json!({"producer": "rspack-perfprobe", "frequency": raw.frequency, "wallFrequency": raw.wall_frequency}),
        },
    )
}

/// A metadata event. `cat` and `ts` are what Chrome itself writes: speedscope recognizes a trace
/// as Chrome's by the first event having `cat`, and sorts all events by `ts` before reading them.
fn metadata(pid: u32, tid: i32, name: &str, args: Value) -> Value {
    json!({"ph": "M", "cat": "__metadata", "name": name, "pid": pid, "tid": tid, "ts": 0, "args": args})
}

/// Rows that only spans use (the phases on tid 0): a viewer shows an unnamed row as a bare number.
/// Named after the categories of their spans.
fn span_rows<'a>(raw: &RawProfile, extra_events: impl Iterator<Item = &'a TraceEvent>) -> BTreeMap<i32, String> {
    let mut rows: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for e in extra_events {
        let Ok(tid) = i32::try_from(e.tid) else { continue };
        if raw.threads.iter().any(|t| t.tid == tid) {
            continue;
        }
        let cats = rows.entry(tid).or_default();
        if !cats.contains(&e.cat.as_str()) {
            cats.push(&e.cat);
        }
    }
    rows.into_iter().map(|(tid, cats)| (tid, cats.join(", "))).collect()
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
    // A node is a (parent, function) pair, as in V8's own profiles: samples at different addresses
    // of one function share its node, which keeps deep recursive stacks from multiplying nodes.
    // Kept as two integers per node until serialized: a 999 Hz build's worker threads have ~1M
    // nodes, and full node structs in a string-keyed map were the export's largest allocation.
    let mut functions: Vec<(&str, &str)> = vec![("(root)", "")];
    let mut function_ids: HashMap<&str, u32> = HashMap::default();
    let mut nodes: Vec<(u32, u32)> = vec![(0, 0)];
    let mut children: HashMap<(u32, u32), u32> = HashMap::default();
    let mut sample_nodes = Vec::with_capacity(samples.len());
    let mut deltas = Vec::with_capacity(samples.len());
    let start_ns = raw.start_ns;
    let mut last_ns = start_ns;
    for &i in samples {
        let s = &raw.samples[i];
        let mut node = 1u32;
        for &loc in sym.stacks[s.stack as usize].iter().rev() {
            for f in sym.locations[loc as usize].frames.iter().rev() {
                let function = *function_ids.entry(f.short.as_str()).or_insert_with(|| {
                    functions.push((f.short.as_str(), f.file.as_deref().unwrap_or("")));
                    functions.len() as u32 - 1
                });
                node = *children.entry((node, function)).or_insert_with(|| {
                    nodes.push((node, function));
                    nodes.len() as u32
                });
            }
        }
        sample_nodes.push(node);
        // Differences of whole microseconds since the start, not whole microseconds of each
        // difference: viewers place samples by the running sum, which would otherwise fall behind
        // by up to 1 µs per sample (0.2 ms on a 2 s build's JS thread) and drift off the spans.
        deltas.push((s.time_ns.max(last_ns) / 1000 - last_ns / 1000) as i64);
        last_ns = s.time_ns.max(last_ns);
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
        /// As V8 writes in its last chunk; without it speedscope takes the profile to end at 0.
        end_time: f64,
    }
    #[derive(Serialize)]
    struct CpuProfile<'a> {
        nodes: Nodes<'a>,
        samples: Vec<u32>,
    }
    /// Node ids are 1-based positions; node 1 is the root.
    struct Nodes<'a> {
        nodes: Vec<(u32, u32)>,
        functions: Vec<(&'a str, &'a str)>,
    }
    impl Serialize for Nodes<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(self.nodes.iter().enumerate().map(|(i, &(parent, function))| {
                let (name, url) = self.functions[function as usize];
                Node { id: i as u32 + 1, parent: (i > 0).then_some(parent), call_frame: CallFrame::named(name, url) }
            }))
        }
    }
    let chunk = Chunk {
        ph: "P",
        name: "ProfileChunk",
        cat,
        id: &id,
        pid,
        tid,
        ts: us(last_ns),
        args: ChunkArgs { data: ChunkData { cpu_profile: CpuProfile { nodes: Nodes { nodes, functions }, samples: sample_nodes }, time_deltas: deltas, end_time: us(last_ns) } },
    };
    Ok((profile, to_raw_value(&chunk)?))
}

/// CPU use per thread in 100 ms buckets, from sample weights, as one stacked counter.
fn cpu_counters(raw: &RawProfile, pid: u32) -> Vec<Value> {
    let mut buckets: std::collections::BTreeMap<u64, HashMap<String, u64>> = Default::default();
    for s in raw.samples.iter().filter(|s| s.kind == SampleKind::Cpu) {
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

/// The process's resident memory as the sampler thread read it, in MB (the JS heap is JS's own
/// `JS heap MB` counter, among the events JS sends).
fn memory_counter(raw: &RawProfile, pid: u32) -> impl Iterator<Item = Value> + '_ {
    raw.memory.iter().map(move |m| {
        let mb = (m.rss_bytes as f64 / (1024.0 * 1024.0) * 100.0).round() / 100.0;
        json!({"ph": "C", "name": "memory MB", "cat": "counters", "pid": pid, "tid": 0, "ts": us(m.time_ns), "args": {"rss": mb}})
    })
}

/// Running vs waiting per thread, from wall samples: one counter track per thread (1 while its
/// wall samples found it on CPU, 0 while waiting), changes only.
fn state_counters(raw: &RawProfile, pid: u32) -> Vec<Value> {
    let mut by_thread: BTreeMap<u32, Vec<(u64, bool)>> = BTreeMap::new();
    for s in raw.samples.iter().filter(|s| s.kind.is_wall()) {
        // A wall sample stands for the time before it.
        let start = s.time_ns.saturating_sub(s.weight_ns);
        by_thread.entry(s.thread).or_default().push((start.max(raw.start_ns), s.kind == SampleKind::WallRunning));
    }
    let mut out = Vec::new();
    for (t, mut points) in by_thread {
        points.sort_unstable();
        let info = &raw.threads[t as usize];
        let name = format!("on CPU: {} {}", info.name, info.tid);
        let mut last = None;
        for (ts, running) in points {
            if last != Some(running) {
                out.push(json!({"ph": "C", "name": name, "cat": "state", "pid": pid, "tid": 0, "ts": us(ts), "args": {"running": u8::from(running)}}));
                last = Some(running);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ExportMeta;
    use crate::profile::{Sample, ThreadInfo, ThreadRole};
    use crate::resolve::resolve;

    fn thread(tid: i32, name: &str, role: ThreadRole) -> ThreadInfo {
        ThreadInfo { tid, name: name.into(), role, role_is_guess: false, cpu_ns: 0, first_seen_ns: 0, last_seen_ns: 0, exited: false, leaf_only_samples: 0 }
    }

    /// Two threads; samples 1.000999 ms apart, so every gap has a sub-microsecond remainder.
    fn profile(samples_per_thread: u64) -> RawProfile {
        let mut raw = RawProfile { frequency: 999, start_ns: 5_000_000_500, ..Default::default() };
        raw.threads = vec![thread(7, "node", ThreadRole::JsMain), thread(8, "tokio-0", ThreadRole::Tokio)];
        let stack = raw.stacks.intern(&[0x1234, 0x5678]);
        for thread in 0..2 {
            for k in 1..=samples_per_thread {
                raw.samples.push(Sample { thread, time_ns: raw.start_ns + k * 1_000_999, weight_ns: 1_000_000, kind: Default::default(), thread_labels: 0, process_labels: 0, stack, js_stack: crate::profile::NO_JS_STACK });
            }
        }
        raw.end_ns = raw.start_ns + (samples_per_thread + 1) * 1_000_999;
        raw
    }

    fn events(raw: &RawProfile, extra: &[Value]) -> Vec<Value> {
        let trace_events = extra.iter().map(|e| serde_json::from_value(e.clone()).unwrap()).collect();
        let mut bytes = Vec::new();
        write(&resolve(raw.clone(), ExportMeta { trace_events, ..Default::default() }), &mut bytes).unwrap();
        let trace: Value = serde_json::from_slice(&bytes).unwrap();
        trace["traceEvents"].as_array().unwrap().clone()
    }

    #[test]
    fn time_deltas_add_up_to_each_sample_time() {
        let raw = profile(2000);
        let events = events(&raw, &[]);
        let chunks: Vec<&Value> = events.iter().filter(|e| e["name"] == "ProfileChunk").collect();
        assert_eq!(chunks.len(), 2);
        for chunk in chunks {
            let data = &chunk["args"]["data"];
            let sum: i64 = data["timeDeltas"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).sum();
            let last = us(raw.samples.last().unwrap().time_ns);
            // Truncating each 1000.999 µs gap would put the last sample 2000 * 0.999 µs early.
            assert!((us(raw.start_ns) + sum as f64 - last).abs() < 1.0, "sum of deltas {sum} drifts from {last}");
            assert_eq!(data["endTime"].as_f64(), Some(last));
        }
    }

    #[test]
    fn the_sampler_threads_memory_reads_are_the_memory_counter_in_mb() {
        let mut raw = profile(3);
        raw.memory = vec![
            crate::profile::MemoryPoint { time_ns: raw.start_ns, rss_bytes: 100 << 20 },
            crate::profile::MemoryPoint { time_ns: raw.start_ns + 100_000_000, rss_bytes: (150 << 20) + (1 << 19) },
        ];
        let memory: Vec<Value> = events(&raw, &[]).into_iter().filter(|e| e["name"] == "memory MB").collect();
        assert_eq!(memory.len(), 2);
        assert!(memory.iter().all(|e| e["ph"] == "C" && e["tid"] == 0));
        assert_eq!(memory[0]["args"]["rss"], 100.0);
        assert_eq!(memory[1]["args"]["rss"], 150.5);
        assert_eq!(memory[1]["ts"].as_f64(), Some(us(raw.start_ns + 100_000_000)));
    }

    #[test]
    fn speedscope_and_chrome_read_the_metadata() {
        let events = events(&profile(3), &[]);
        // speedscope's sniffing looks at the first event only.
        for key in ["pid", "tid", "ph", "cat"] {
            assert!(events[0].get(key).is_some(), "first event lacks {key}: {}", events[0]);
        }
        assert!(events.iter().filter(|e| e["ph"] == "M").all(|e| e["ts"] == 0 && e["cat"] == "__metadata"));
        let names: Vec<&str> = events.iter().filter(|e| e["name"] == "thread_name").map(|e| e["args"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["node (js-main)", "tokio-0 (tokio)"]);
    }

    #[test]
    fn rows_that_only_spans_use_are_named() {
        let pid = std::process::id();
        let extra = [
            json!({"ph": "X", "cat": "phase", "name": "make", "ts": 1.0, "dur": 2.0, "pid": pid, "tid": 0}),
            json!({"ph": "X", "cat": "tap", "name": "P", "ts": 1.5, "dur": 0.5, "pid": pid, "tid": 7}),
        ];
        let events = events(&profile(3), &extra);
        let named = |tid: i64| events.iter().filter(|e| e["name"] == "thread_name" && e["tid"] == tid).count();
        assert_eq!(named(0), 1, "the phases row needs a name");
        assert_eq!(named(7), 1, "a sampled thread is named once, not again for its spans");
        let phases = events.iter().find(|e| e["name"] == "thread_name" && e["tid"] == 0).unwrap();
        assert_eq!(phases["args"]["name"], "phase");
    }
}
