//! How V8's JS stacks and the native samples of the JS thread combine, without double counting.
//!
//! The native samples are the only weights: each stands for CPU time the JS thread's CPU clock
//! measured, like every other thread's. V8's samples are never counted; they only lend names.
//! For a native sample of the JS thread, its own JS stack taken in the handler ([`super::jit`]), or
//! the V8 sample nearest in time (within two V8 sampling intervals: V8's sampler thread runs late
//! when the cores are busy), gives the JS stack, and it replaces the part of the native stack that is JS: from the
//! innermost to the outermost frame in unnamed JIT code or in V8's builtins (`Builtins_*`: the
//! interpreter, entry and exit trampolines). What lies above that part (a Rust binding function,
//! V8's parser or GC, libc) and below it (node's event loop, `main`) stays as unwound, so a sample
//! reads `main <- uv_run <- ... <- JS frames from V8 <- napi <- rspack`.
//! V8's `(garbage collector)` and `(program)` replace the JS part the same way, so garbage
//! collection stays explicit; `(idle)` means the two samplers disagree on the moment: the native
//! stack is kept as it is. Stacks already named by a perf map (the CLI's `--mixed`) are kept too.

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

use super::jit::{js_function, Resolver};
use super::v8::{Pseudo, V8Profile};
use crate::profile::{CodeEvent, Sample, StackTable, NO_JS_STACK};
use crate::symbolize::{Frame, Location, Origin, Symbolized};

/// What happened to the JS thread's native samples, for the summary.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraftStats {
    /// `code-events`: JS stacks taken in perfprobe's handler, named from V8's code events;
    /// `cpu-profiler`: V8's CPU profiler's samples, the nearest in time.
    pub source: &'static str,
    /// Code events V8 reported (`code-events`).
    pub code_events: u64,
    /// V8 samples (`cpu-profiler`); JS stacks taken (`code-events`).
    pub v8_samples: u64,
    pub v8_interval_us: u64,
    /// Native samples of the JS thread.
    pub js_thread_samples: u64,
    /// ... whose JS part V8 named.
    pub grafted: u64,
    /// ... that ran no JS (event loop, node C++, a Rust callback's own frames only).
    pub native_only: u64,
    /// ... with no V8 sample within two intervals, or with V8 saying `(idle)`.
    pub unmatched: u64,
    /// ... whose JIT frames a perf map already named.
    pub perf_map_named: u64,
}

fn in_js_part(loc: &Location) -> bool {
    loc.origin == Origin::Unknown || loc.frames.first().is_some_and(|f| f.function.starts_with("Builtins_"))
}

/// Rewrites the stacks of `samples` taken on threads for which `is_js_thread` holds, adding the
/// locations and stacks it needs to `sym`. `key_of(index, sample)` says which JS stack a sample
/// has (None: V8 says `(idle)` or has nothing for this moment); `frames_of(key)` gives that stack's
/// frames, innermost first, once per key.
fn graft_with(
    samples: &mut [Sample],
    is_js_thread: impl Fn(u32) -> bool,
    sym: &mut Symbolized,
    stats: &mut GraftStats,
    key_of: impl Fn(usize, &Sample) -> Option<u64>,
    frames_of: impl Fn(u64) -> Vec<Frame>,
) {
    let mut location_of_frame: HashMap<Frame, u32> = HashMap::default();
    let mut js_locations: HashMap<u64, Vec<u32>> = HashMap::default();
    let mut grafted_stacks: HashMap<(u32, u64), u32> = HashMap::default();
    for (index, sample) in samples.iter_mut().enumerate().filter(|(_, s)| is_js_thread(s.thread)) {
        stats.js_thread_samples += 1;
        let native = &sym.stacks[sample.stack as usize];
        if native.iter().any(|&l| sym.locations[l as usize].origin == Origin::PerfMap) {
            stats.perf_map_named += 1;
            continue;
        }
        let Some(inner) = native.iter().position(|&l| in_js_part(&sym.locations[l as usize])) else {
            stats.native_only += 1;
            continue;
        };
        let outer = native.iter().rposition(|&l| in_js_part(&sym.locations[l as usize])).unwrap_or(inner);
        let Some(key) = key_of(index, sample) else {
            stats.unmatched += 1;
            continue;
        };
        js_locations.entry(key).or_insert_with(|| {
            frames_of(key)
                .into_iter()
                .map(|frame| {
                    *location_of_frame.entry(frame.clone()).or_insert_with(|| {
                        sym.locations.push(Location { address: 0, module: None, origin: Origin::V8, frames: vec![frame] });
                        sym.locations.len() as u32 - 1
                    })
                })
                .collect()
        });
        stats.grafted += 1;
        if let Some(&stack) = grafted_stacks.get(&(sample.stack, key)) {
            sample.stack = stack;
            continue;
        }
        let native = &sym.stacks[sample.stack as usize];
        let stack: Vec<u32> = native[..inner].iter().chain(&js_locations[&key]).chain(&native[outer + 1..]).copied().collect();
        sym.stacks.push(stack);
        let id = sym.stacks.len() as u32 - 1;
        grafted_stacks.insert((sample.stack, key), id);
        sample.stack = id;
    }
}

/// Grafts with V8's CPU profile: for each native sample, the V8 sample nearest in time.
pub fn graft(samples: &mut [Sample], is_js_thread: impl Fn(u32) -> bool, sym: &mut Symbolized, v8: &V8Profile) -> GraftStats {
    let mut stats = GraftStats { source: "cpu-profiler", v8_samples: v8.timeline.len() as u64, v8_interval_us: v8.interval_ns / 1000, ..Default::default() };
    graft_with(
        samples,
        is_js_thread,
        sym,
        &mut stats,
        |_, sample| v8.nearest(sample.time_ns, 2 * v8.interval_ns).filter(|&n| v8.pseudo(n) != Some(Pseudo::Idle)).map(u64::from),
        |node| v8.stack(node as u32).into_iter().map(|n| js_frame(v8, n)).collect(),
    );
    stats
}

/// Grafts with the JS stacks taken in perfprobe's own handler ([`super::jit`]): each sample's own,
/// named by the code events in force at its moment.
pub fn graft_code_events(samples: &mut [Sample], is_js_thread: impl Fn(u32) -> bool, sym: &mut Symbolized, js_stacks: &StackTable, events: &[CodeEvent]) -> GraftStats {
    let mut stats = GraftStats { source: "code-events", code_events: events.len() as u64, ..Default::default() };
    // Names resolve in time order (code moves); the samples' own order is kept.
    let mut order: Vec<usize> = (0..samples.len()).filter(|&i| is_js_thread(samples[i].thread)).collect();
    order.sort_by_key(|&i| samples[i].time_ns);
    let mut resolver = Resolver::new(events);
    let unnamable_before = events.iter().filter_map(|e| matches!(e, CodeEvent::MovedUnseen { .. }).then(|| e.time_ns())).max().unwrap_or(0);
    // Each distinct list of names is one key.
    let mut keys: HashMap<Vec<&str>, u64> = HashMap::default();
    let mut key_of: Vec<Option<u64>> = vec![None; samples.len()];
    for &i in &order {
        let sample = &samples[i];
        if sample.js_stack == NO_JS_STACK {
            continue;
        }
        stats.v8_samples += 1;
        if sample.time_ns < unnamable_before {
            // Unnamed (`unmatched`) rather than named after what lay there at the listing.
            continue;
        }
        let names = resolver.names(sample.time_ns, &js_stacks.frames(sample.js_stack));
        if !names.is_empty() {
            let next = keys.len() as u64;
            key_of[i] = Some(*keys.entry(names).or_insert(next));
        }
    }
    let mut names_of_key: Vec<&[&str]> = vec![&[]; keys.len()];
    for (names, &key) in &keys {
        names_of_key[key as usize] = names;
    }
    graft_with(samples, is_js_thread, sym, &mut stats, |index, _| key_of[index], |key| names_of_key[key as usize].iter().map(|name| code_event_frame(name)).collect());
    stats
}

/// A frame from a code event's name (`JS:~name file:line:column`), as V8 also writes it in a perf map.
pub(crate) fn code_event_frame(name: &str) -> Frame {
    let (function, file, line) = js_function(name).unwrap_or((name, None, None));
    named_frame(function, file, line)
}

fn named_frame(function: &str, file: Option<&str>, line: Option<u32>) -> Frame {
    let function = if function.is_empty() { "(anonymous)".to_string() } else { function.to_string() };
    let file = file.map(|f| f.strip_prefix("file://").unwrap_or(f).to_string());
    // Pictures (flame graph, trace) show where a JS function lives: names like `run` or
    // `(anonymous)` repeat across every package.
    let short = match (&file, line) {
        (Some(file), Some(line)) => format!("{function} {}:{line}", file.rsplit('/').next().unwrap_or(file)),
        _ => function.clone(),
    };
    Frame { function, short, file, line }
}

fn js_frame(v8: &V8Profile, node: u32) -> Frame {
    let f = &v8.frames[node as usize];
    let line = u32::try_from(f.line_number + 1).ok().filter(|&l| l > 0);
    named_frame(&f.function_name, (!f.url.is_empty()).then_some(f.url.as_str()), line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::v8::tests::small_profile;

    fn loc(name: &str, origin: Origin) -> Location {
        Location {
            address: 1,
            module: (origin == Origin::Module).then_some(0),
            origin,
            frames: vec![Frame { function: name.into(), short: name.into(), file: None, line: None }],
        }
    }

    fn names(sym: &Symbolized, stack: u32) -> Vec<String> {
        sym.stacks[stack as usize].iter().map(|&l| sym.locations[l as usize].frames[0].short.clone()).collect()
    }

    #[test]
    fn the_js_part_is_replaced_and_nothing_is_counted_twice() {
        let locations = vec![
            loc("rspack_fn", Origin::Module),
            loc("Builtins_CallApiCallback", Origin::Module),
            loc("[unknown] 0x7f00", Origin::Unknown),
            loc("Builtins_JSEntry", Origin::Module),
            loc("uv_run", Origin::Module),
            loc("main", Origin::Module),
        ];
        let mut sym = Symbolized { locations, stacks: vec![vec![0, 1, 2, 3, 4, 5], vec![4, 5]], modules: vec![] };
        let sample = |time_us: u64, stack: u32, thread: u32| Sample { thread, time_ns: time_us * 1000, weight_ns: 10, kind: Default::default(), thread_labels: 0, process_labels: 0, stack, js_stack: NO_JS_STACK };
        let mut samples = vec![
            sample(1_100, 0, 0), // near `work`
            sample(3_000, 0, 0), // garbage collection
            sample(2_000, 1, 0), // no JS on the native stack
            sample(4_000, 0, 0), // V8 says idle
            sample(9_000, 0, 0), // no V8 sample near
            sample(1_000, 0, 1), // another thread
            sample(1_050, 0, 0), // same native stack, same V8 node: same merged stack
        ];
        let stats = graft(&mut samples, |t| t == 0, &mut sym, &small_profile());
        assert_eq!(names(&sym, samples[0].stack), ["rspack_fn", "work main.js:10", "main main.js:1", "uv_run", "main"]);
        assert_eq!(names(&sym, samples[1].stack), ["rspack_fn", "(garbage collector)", "uv_run", "main"]);
        for i in [2, 3, 4, 5] {
            assert!(samples[i].stack <= 1, "sample {i} keeps its native stack");
        }
        assert_eq!(samples[6].stack, samples[0].stack);
        assert_eq!((stats.js_thread_samples, stats.grafted, stats.native_only, stats.unmatched), (6, 3, 1, 2));
        assert_eq!(samples.iter().map(|s| s.weight_ns).sum::<u64>(), 70, "weights are the native ones");
        let js_locations = sym.locations.iter().filter(|l| l.origin == Origin::V8).count();
        assert_eq!(js_locations, 3, "one location per JS frame");
        let work = sym.locations.iter().find(|l| l.frames[0].function == "work").unwrap();
        assert_eq!((work.frames[0].file.as_deref(), work.frames[0].line), (Some("/app/main.js"), Some(10)));
    }

    #[test]
    fn code_event_stacks_are_named_at_their_moment_with_the_interrupted_frame() {
        let locations = vec![loc("rspack_fn", Origin::Module), loc("[unknown] 0x7f00", Origin::Unknown), loc("uv_run", Origin::Module)];
        let mut sym = Symbolized { locations, stacks: vec![vec![0, 1, 2], vec![2]], modules: vec![] };
        let events = vec![
            CodeEvent::Added { time_ns: 0, start: 0x1000, len: 0x100, name: "JS:*hot /app/a.js:3:1".into() },
            CodeEvent::Added { time_ns: 0, start: 0x2000, len: 0x100, name: "JS:~caller /app/a.js:9:1".into() },
            CodeEvent::Added { time_ns: 0, start: 0x3000, len: 0x10, name: "Builtin:CallApiCallback".into() },
            CodeEvent::Moved { time_ns: 5_000, from: 0x1000, to: 0x5000 },
        ];
        let mut js = StackTable::default();
        // Each JS stack: the interrupted pc, then V8's frames innermost first.
        let in_hot = js.intern(&[0x1010, 0x2010]); // pc in `hot`, V8's frames from its caller
        let in_native = js.intern(&[0x7777, 0x1020, 0x2010]); // pc in Rust, V8's first frame is `hot`
        let moved = js.intern(&[0x5010, 0x2010]); // `hot` after its code moved
        let stale = js.intern(&[0x1010, 0x2010]); // the old address after the move: only `caller`
        let sample = |time_ns: u64, stack: u32, js_stack: u32| Sample { thread: 0, time_ns, weight_ns: 10, kind: Default::default(), thread_labels: 0, process_labels: 0, stack, js_stack };
        let mut samples = vec![
            sample(1_000, 0, in_hot),
            sample(2_000, 0, in_native),
            sample(6_000, 0, moved),
            sample(7_000, 0, stale),
            sample(8_000, 0, NO_JS_STACK),
            sample(9_000, 1, NO_JS_STACK),
        ];
        let stats = graft_code_events(&mut samples, |t| t == 0, &mut sym, &js, &events);
        let hot_under_caller = ["rspack_fn", "hot a.js:3", "caller a.js:9", "uv_run"];
        for i in [0, 1, 2] {
            assert_eq!(names(&sym, samples[i].stack), hot_under_caller, "sample {i}");
        }
        assert_eq!(names(&sym, samples[3].stack), ["rspack_fn", "caller a.js:9", "uv_run"]);
        assert_eq!(samples[4].stack, 0, "no JS stack: the native one stays");
        assert_eq!(samples[5].stack, 1);
        assert_eq!((stats.source, stats.code_events, stats.v8_samples), ("code-events", 4, 4));
        assert_eq!((stats.js_thread_samples, stats.grafted, stats.native_only, stats.unmatched), (6, 4, 1, 1));
        let hot = sym.locations.iter().find(|l| l.frames[0].function == "hot").unwrap();
        assert_eq!((hot.frames[0].file.as_deref(), hot.frames[0].line), (Some("/app/a.js"), Some(3)));
    }

    #[test]
    fn stacks_taken_before_code_moved_unseen_stay_unnamed() {
        // V8 listed `hot` at 0x1000, but a collection before the listing (at 3_000) may have moved
        // what lay there when the first two samples were taken: they keep their native stacks.
        let locations = vec![loc("rspack_fn", Origin::Module), loc("[unknown] 0x7f00", Origin::Unknown), loc("uv_run", Origin::Module)];
        let mut sym = Symbolized { locations, stacks: vec![vec![0, 1, 2]], modules: vec![] };
        let events = vec![
            CodeEvent::Added { time_ns: 0, start: 0x1000, len: 0x100, name: "JS:*hot /app/a.js:3:1".into() },
            CodeEvent::MovedUnseen { time_ns: 3_000 },
        ];
        let mut js = StackTable::default();
        let in_hot = js.intern(&[0x1010]);
        let sample = |time_ns: u64| Sample { thread: 0, time_ns, weight_ns: 10, kind: Default::default(), thread_labels: 0, process_labels: 0, stack: 0, js_stack: in_hot };
        let mut samples = vec![sample(1_000), sample(2_999), sample(3_000), sample(4_000)];
        let stats = graft_code_events(&mut samples, |t| t == 0, &mut sym, &js, &events);
        assert_eq!((samples[0].stack, samples[1].stack), (0, 0));
        for i in [2, 3] {
            assert_eq!(names(&sym, samples[i].stack), ["rspack_fn", "hot a.js:3", "uv_run"], "sample {i}");
        }
        assert_eq!((stats.js_thread_samples, stats.grafted, stats.unmatched), (4, 2, 2));
    }

    #[test]
    fn perf_map_named_stacks_are_left_alone() {
        let mut sym = Symbolized {
            locations: vec![loc("JS:*work", Origin::PerfMap), loc("main", Origin::Module)],
            stacks: vec![vec![0, 1]],
            modules: vec![],
        };
        let mut samples = vec![Sample { thread: 0, time_ns: 1_000_000, weight_ns: 1, kind: Default::default(), thread_labels: 0, process_labels: 0, stack: 0, js_stack: NO_JS_STACK }];
        let stats = graft(&mut samples, |_| true, &mut sym, &small_profile());
        assert_eq!((stats.perf_map_named, samples[0].stack), (1, 0));
    }
}
