//! What the JS side hands the export: [`ExportMeta`] from `Session._meta` in lib/session.js, whose
//! `attribution` and `traceEvents` are what lib/attribution/spans.js `take()`, lib/process-counters.js
//! and lib/attach/compilers.js produce. Typed, and closed to fields it does not know: a field renamed
//! on one side fails the export with an error that names it, instead of reading as zero.
//!
//! ```
//! let sent = serde_json::json!({
//!     "name": "web",
//!     "attribution": { "boundaries": [{ "kind": "tap", "hook": "compiler.done", "plugin": "P", "calls": 1, "wallTime": 2.5 }] },
//! });
//! let error = serde_json::from_value::<perfprobe_core::meta::ExportMeta>(sent).unwrap_err().to_string();
//! assert!(error.contains("`wallTime`"), "{error}");
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the caller knows that the sampler does not: names, versions, spans. Every field may be
/// left out (the addon's signal export hands over only the names and versions).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExportMeta {
    pub name: String,
    pub probe_version: String,
    /// e.g. node, rspack, v8.
    pub versions: HashMap<String, String>,
    /// Extra pprof comments.
    pub comments: Vec<String>,
    /// Why the profiled work ended early (signal, exit, failed build), if it did.
    pub partial_reason: Option<String>,
    /// Chrome trace events recorded outside the sampler (JS spans, counters), appended as they are.
    pub trace_events: Vec<TraceEvent>,
    /// Figures the JS side measured (per-boundary calls and wall time), passed into the summary;
    /// None when it sent none (a profile the addon wrote without JS).
    pub attribution: Option<Attribution>,
    /// V8's CPU profile of the JS thread as JSON (`{ intervalUs, profile }`), if it ran: its stacks
    /// name the JS part of the JS thread's native samples (see `js/graft.rs`). JS stacks the
    /// handler took come in the raw profile instead.
    pub js_profile: Option<String>,
    /// Why the JS side named JS frames the way it did (the V8 version, `PERFPROBE_JS_SOURCE`),
    /// for the summary's `jsProfiler.reason`.
    pub js_source_reason: Option<String>,
    /// Also write `flamegraph-<role>.svg` for each thread role that has samples.
    pub flamegraph_per_role: bool,
    /// The probe's own JS, of each copy of the package loaded: its `lib/` folder, or the one file
    /// `dist/perfprobe.js` built from it (`lib/own-code.js`). The user's top JS functions fold its
    /// frames (the wrappers around taps, loaders and binding calls) into their callers.
    pub probe_js: Vec<String>,
    /// What starting the session cost the JS thread (loading the probe, the sampler, V8's profiler).
    pub start_ms: f64,
    /// What stopping cost the JS thread before the export (V8's profile, spans, counters).
    pub js_stop_ms: f64,
    /// Rspack's spans were registered for this session: label its samples with them
    /// (`rspack_spans`).
    pub rspack_spans: bool,
    /// The export runs at process exit beside node's teardown (not set by JS: see the addon's
    /// `stopAtExit`), so the process waited for less than its duration.
    #[serde(skip)]
    pub during_teardown: bool,
    /// Why part of what JS sent was left out ([`ExportMeta::from_js`]): told as a warning.
    #[serde(skip)]
    pub unread: Option<String>,
}

/// The parts of the metadata that JS measures, left out when they cannot be read.
const MEASURED_BY_JS: [&str; 2] = ["attribution", "traceEvents"];

impl ExportMeta {
    /// What JS sent, read strictly. A part that does not read (a field renamed on one side) costs
    /// that part, never the profile: the samples are written without the JS side's figures and
    /// spans, and [`ExportMeta::unread`] says why, naming the field.
    pub fn from_js(sent: Value) -> Result<ExportMeta, String> {
        // Read from a borrow: the whole trace is not copied for the rare second attempt.
        match ExportMeta::deserialize(&sent) {
            Ok(meta) => Ok(meta),
            Err(strict) => {
                let mut rest = sent;
                if let Value::Object(map) = &mut rest {
                    for key in MEASURED_BY_JS {
                        map.remove(key);
                    }
                }
                let mut meta = serde_json::from_value::<ExportMeta>(rest).map_err(|e| format!("profile metadata: {e}"))?;
                meta.unread = Some(format!("the JS side's attribution figures and spans are left out: the export could not read them ({strict})"));
                Ok(meta)
            }
        }
    }

    /// [`ExportMeta::from_js`] of the JSON text JS sent (`JSON.stringify`): how every stop hands
    /// its metadata over, because walking the JS object through Node-API property by property cost
    /// the JS thread 14 ms for a js-loaders build's 2000 spans, `JSON.stringify` 1-2 ms.
    pub fn from_json_text(text: &str) -> Result<ExportMeta, String> {
        ExportMeta::from_js(serde_json::from_str(text).map_err(|e| format!("profile metadata: {e}"))?)
    }
}

/// `summary.json`'s `attribution`: what each contributor of the session sent, merged by
/// `Session._meta` (lists joined, counts added). Written back into the summary as it came.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attribution {
    /// Calls and wall time per tap, binding call, callback, loader run and phase (the plugin's
    /// span recorder), most wall time first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundaries: Option<Vec<Boundary>>,
    /// Spans beyond what the recorder keeps per session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_spans: Option<u64>,
    /// The JS thread's event-loop lag over the session (process-counters.js).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_loop_lag: Option<EventLoopLag>,
    /// Hooks that could not be instrumented, each with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_hooks: Option<Vec<String>>,
    /// Rspack compilers that ran without labels, and why (lib/attach/compilers.js).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unattached_compilers: Option<Vec<UnattachedCompiler>>,
}

/// What crossed one boundary: a tap (`hook` + `plugin`), a binding call or callback (`name`), a
/// loader run or a phase.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Boundary {
    /// Callback- or promise-based JS->Rust call: timed to completion, did not block the JS thread.
    #[serde(default, rename = "async", skip_serializing_if = "Option::is_none")]
    pub is_async: Option<bool>,
    pub calls: u64,
    /// Calls shorter than `minSpanUs`: counted, left out of the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    pub kind: BoundaryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    pub wall_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum BoundaryKind {
    #[serde(rename = "tap")]
    Tap,
    #[serde(rename = "js->rust")]
    JsToRust,
    #[serde(rename = "rust->js")]
    RustToJs,
    #[serde(rename = "phase")]
    Phase,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventLoopLag {
    pub max_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub resolution_ms: f64,
    pub samples: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnattachedCompiler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler: Option<String>,
    pub reason: String,
}

/// One Chrome trace event, as the JS side writes them (`X` spans, `b`/`e` pairs of async calls,
/// `C` counters) and as Rspack's spans become. Fields in alphabetical order: `trace.json` lists an
/// event's keys sorted, as every other JSON map of the export.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraceEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<TraceArgs>,
    pub cat: String,
    /// Microseconds, for `X` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dur: Option<f64>,
    /// Pairs a `b` event with its `e`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub name: String,
    pub ph: String,
    pub pid: u32,
    pub tid: i64,
    /// Monotonic microseconds, the samples' clock.
    pub ts: f64,
}

impl TraceEvent {
    /// The start and end of the time it covers in ns (an `X` span's), or its moment twice.
    pub fn span_ns(&self) -> (u64, u64) {
        let start = (self.ts * 1000.0) as u64;
        (start, start + (self.dur.unwrap_or(0.0) * 1000.0) as u64)
    }
}

/// A trace event's `args`: free-form for Chrome's viewers (counter values, a span's hook), except
/// the `kind` of a boundary's span, which the summary's interop figures read.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct TraceArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BoundaryKind>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The meta `Session._meta` sends for a build under the plugin, with what spans.js `take()`,
    /// process-counters.js and compilers.js contribute.
    fn from_js() -> Value {
        json!({
            "name": "web",
            "probeVersion": "0.1.0",
            "versions": { "node": "20.20.0", "v8": "11.3.244.8", "probe": "0.1.0", "rspack": "2.3.2" },
            "comments": [],
            "traceEvents": [
                { "name": "P", "cat": "tap", "ph": "X", "ts": 1500.5, "dur": 0.5, "pid": 41, "tid": 41, "args": { "hook": "compiler.done" } },
                { "name": "JsCompiler.build", "cat": "binding", "pid": 41, "tid": 41, "args": { "kind": "js->rust" }, "ph": "b", "id": 1, "ts": 1000.25 },
                { "name": "JsCompiler.build", "cat": "binding", "pid": 41, "tid": 41, "args": { "kind": "js->rust" }, "ph": "e", "id": 1, "ts": 2000.75 },
                { "name": "make", "cat": "phase", "ph": "X", "ts": 1.0, "dur": 2.0, "pid": 41, "tid": 0 },
                { "cat": "counters", "ph": "C", "pid": 41, "tid": 0, "ts": 3000.0, "name": "memory MB", "args": { "rss": 120.5, "jsHeapUsed": 30.25, "jsHeapTotal": 40.0, "external": 2.5 } },
            ],
            "attribution": {
                "boundaries": [
                    { "kind": "js->rust", "name": "JsCompiler.build", "folded": 0, "async": true, "calls": 1, "wallMs": 128.446694 },
                    { "kind": "tap", "hook": "compiler.done", "plugin": "P", "calls": 2, "wallMs": 0.5 },
                    { "kind": "rust->js", "name": "/app/loader.js (normal)", "folded": 3, "calls": 10, "wallMs": 30.0 },
                    { "kind": "phase", "name": "make", "calls": 1, "wallMs": 80.326905 },
                ],
                "droppedSpans": 0,
                "skippedHooks": ["compilation.fooHook: not a hook"],
                "unattachedCompilers": [{ "reason": "no Compiler class" }, { "reason": "frozen", "compiler": "web" }],
                "eventLoopLag": { "samples": 2, "resolutionMs": 50, "meanMs": 49.86, "p50Ms": 49.61, "p99Ms": 50.14, "maxMs": 50.14 },
            },
            "jsProfile": null,
            "jsSourceReason": "V8 11.3: code events",
            "flamegraphPerRole": false,
            "rspackSpans": false,
            "probeJs": ["/app/node_modules/rspack-perfprobe/dist/perfprobe.js"],
            "startMs": 12.5,
            "jsStopMs": 3.25,
        })
    }

    /// Numbers compared as numbers: `50` and `50.0` are the same figure to every JSON reader.
    fn normalized(v: Value) -> Value {
        match v {
            Value::Number(n) => json!(n.as_f64()),
            Value::Array(a) => Value::Array(a.into_iter().map(normalized).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalized(v))).collect()),
            other => other,
        }
    }

    #[test]
    fn what_js_sends_round_trips_into_the_summary_and_the_trace() {
        let sent = from_js();
        let meta: ExportMeta = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(normalized(serde_json::to_value(&meta.attribution).unwrap()), normalized(sent["attribution"].clone()));
        assert_eq!(normalized(serde_json::to_value(&meta.trace_events).unwrap()), normalized(sent["traceEvents"].clone()));
        let boundaries = meta.attribution.as_ref().and_then(|a| a.boundaries.as_ref()).unwrap();
        assert_eq!((boundaries[0].kind, boundaries[0].is_async, boundaries[0].wall_ms), (BoundaryKind::JsToRust, Some(true), 128.446694));
        assert_eq!(meta.trace_events[1].args.as_ref().and_then(|a| a.kind), Some(BoundaryKind::JsToRust));
        assert_eq!((meta.start_ms, meta.js_stop_ms, meta.js_source_reason.as_deref()), (12.5, 3.25, Some("V8 11.3: code events")));
    }

    #[test]
    fn a_field_renamed_in_js_is_rejected_with_its_name() {
        let rejected = |edit: &dyn Fn(&mut Value)| -> String {
            let mut sent = from_js();
            edit(&mut sent);
            serde_json::from_value::<ExportMeta>(sent).map(drop).unwrap_err().to_string()
        };
        let renamed = |object: &mut Value, from: &str, to: &str| {
            let value = object.as_object_mut().unwrap().remove(from).unwrap();
            object[to] = value;
        };
        // A required field: named as missing, and the stranger as unknown.
        let e = rejected(&|m| renamed(&mut m["attribution"]["boundaries"][1], "wallMs", "wallTime"));
        assert!(e.contains("`wallTime`") && e.contains("`wallMs`"), "{e}");
        let e = rejected(&|m| {
            m["attribution"]["boundaries"][1].as_object_mut().unwrap().remove("calls");
        });
        assert!(e.contains("missing field `calls`"), "{e}");
        // Optional ones would read as absent: named as unknown instead.
        let e = rejected(&|m| renamed(&mut m["attribution"], "eventLoopLag", "loopLag"));
        assert!(e.contains("unknown field `loopLag`"), "{e}");
        let e = rejected(&|m| renamed(&mut m["attribution"]["eventLoopLag"], "p99Ms", "p99"));
        assert!(e.contains("`p99`"), "{e}");
        let e = rejected(&|m| renamed(m, "traceEvents", "events"));
        assert!(e.contains("unknown field `events`"), "{e}");
        let e = rejected(&|m| renamed(&mut m["traceEvents"][0], "dur", "duration"));
        assert!(e.contains("unknown field `duration`"), "{e}");
        let e = rejected(&|m| renamed(&mut m["traceEvents"][3], "ts", "time"));
        assert!(e.contains("`time`") || e.contains("`ts`"), "{e}");
        // A kind the Rust side does not know is no boundary it can count.
        let e = rejected(&|m| m["attribution"]["boundaries"][1]["kind"] = json!("hook"));
        assert!(e.contains("unknown variant `hook`"), "{e}");
    }

    #[test]
    fn a_part_that_does_not_read_costs_that_part_and_says_why_never_the_profile() {
        let mut sent = from_js();
        let value = sent["attribution"]["boundaries"][1].as_object_mut().unwrap().remove("wallMs").unwrap();
        sent["attribution"]["boundaries"][1]["wallTime"] = value;
        let meta = ExportMeta::from_js(sent).unwrap();
        assert_eq!((meta.attribution.is_none(), meta.trace_events.len(), meta.name.as_str()), (true, 0, "web"));
        let why = meta.unread.unwrap();
        assert!(why.contains("`wallTime`") && why.contains("left out"), "{why}");
        // What reads is read as it is, with nothing to say.
        assert_eq!(ExportMeta::from_js(from_js()).unwrap().unread, None);
        // The rest must still read: a wrong name there is the caller's error.
        assert!(ExportMeta::from_js(json!({ "nmae": "web" })).unwrap_err().contains("`nmae`"));
    }

    #[test]
    fn the_addons_own_meta_and_an_empty_attribution_are_accepted() {
        // What `armSignalExport` hands over: no spans, no attribution.
        let signal: ExportMeta = serde_json::from_value(json!({ "name": "p", "probeVersion": "0.1.0", "versions": {}, "flamegraphPerRole": true, "startMs": 3.0, "probeJs": [] })).unwrap();
        assert_eq!((signal.attribution, signal.trace_events.len(), signal.flamegraph_per_role), (None, 0, true));
        // A session without the plugin's recorder: only the lag, or nothing.
        let bare: ExportMeta = serde_json::from_value(json!({ "attribution": {} })).unwrap();
        assert_eq!(serde_json::to_value(bare.attribution).unwrap(), json!({}));
    }
}
