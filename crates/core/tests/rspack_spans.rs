//! Rspack's spans joined to samples, on saved input: the logger records a react N=300 build with the
//! 2.3.2 release binding wrote under perfprobe's filter (`lib/attribution/rspack-spans.js`), two
//! event lines (Rspack's options, split-chunks settings) left out.

use perfprobe_core::profile::{RawProfile, Sample, SampleKind, NO_JS_STACK};
use perfprobe_core::rspack_spans::join::innermost_at_samples;
use perfprobe_core::rspack_spans::record::{parse_line, parse_rfc3339_utc, SpanRecord};

const SAVED: &str = include_str!("data/rspack-2.3.2-logger.jsonl");

fn spans() -> Vec<SpanRecord> {
    // Monotonic = realtime - offset; an offset of the first timestamp less 1 s puts the build at ~1 s.
    let first = SAVED.lines().next().and_then(|l| l.split('"').nth(3)).and_then(parse_rfc3339_utc).unwrap();
    let offset = first as i128 - 1_000_000_000;
    SAVED.lines().filter_map(|l| parse_line(l.as_bytes(), offset)).collect()
}

#[test]
fn every_close_record_is_a_span_and_events_are_not() {
    let spans = spans();
    assert_eq!(spans.len(), SAVED.lines().filter(|l| l.contains(r#""message":"close""#)).count());
    assert_eq!(spans.len(), 345);
    for s in &spans {
        assert!(s.start_ns <= s.end_ns && s.start_ns > 900_000_000, "{s:?}");
    }
    let names: std::collections::BTreeSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for pass in ["Compiler:build", "Compilation:build_module_graph", "Compilation:code_generation", "FlagDependencyExportsPlugin:finish_modules", "SplitChunksPlugin:optimize_chunks"] {
        assert!(names.contains(pass), "{pass} missing from {names:?}");
    }
    // The filter kept no per-module span.
    assert!(!names.iter().any(|n| n.starts_with("NormalModule:") || n.starts_with("JavaScriptParser:") || n.starts_with("run_loader")));
}

#[test]
fn samples_through_the_build_carry_the_innermost_pass() {
    let spans = spans();
    let build = spans.iter().find(|s| s.name == "Compiler:build").unwrap();
    let graph = spans.iter().find(|s| s.name == "Compilation:build_module_graph").unwrap();
    // A sample every 100 µs of the build, on two threads.
    let mut raw = RawProfile::default();
    let mut t = build.start_ns;
    while t <= build.end_ns {
        for thread in 0..2 {
            raw.samples.push(Sample { thread, time_ns: t, weight_ns: 100_000, kind: SampleKind::Cpu, thread_labels: 0, process_labels: 0, stack: 0, js_stack: NO_JS_STACK });
        }
        t += 100_000;
    }
    let innermost = innermost_at_samples(&raw, &spans);
    let labelled = innermost.iter().filter(|s| s.is_some()).count();
    assert!(labelled * 100 >= innermost.len() * 99, "{labelled} of {}", innermost.len());
    // Inside the module graph's span (its rounded length aside), nothing outer wins.
    let margin = (graph.end_ns - graph.start_ns) / 100;
    for (s, span) in raw.samples.iter().zip(&innermost) {
        if s.time_ns > graph.start_ns + margin && s.time_ns + margin < graph.end_ns {
            let name = &spans[span.unwrap()].name;
            assert!(!["Compiler:build", "Compiler:compile"].contains(&name.as_str()), "{name} at {}", s.time_ns);
        }
    }
}
