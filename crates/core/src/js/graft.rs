//! How V8's JS stacks and the native samples of the JS thread combine, without double counting.
//!
//! The native samples are the only weights: each stands for CPU time the JS thread's CPU clock
//! measured, like every other thread's. V8's samples are never counted; they only lend names.
//! For a native sample of the JS thread, the V8 sample nearest in time (within two V8 sampling
//! intervals: V8's sampler thread runs late when the cores are busy) gives the JS stack, and it replaces the part of the native stack that is JS: from the
//! innermost to the outermost frame in unnamed JIT code or in V8's builtins (`Builtins_*`: the
//! interpreter, entry and exit trampolines). What lies above that part (a Rust binding function,
//! V8's parser or GC, libc) and below it (node's event loop, `main`) stays as unwound, so a sample
//! reads `main <- uv_run <- ... <- JS frames from V8 <- napi <- rspack`.
//! V8's `(garbage collector)` and `(program)` replace the JS part the same way, so garbage
//! collection stays explicit; `(idle)` means the two samplers disagree on the moment: the native
//! stack is kept as it is. Stacks already named by a perf map (the CLI's `--mixed`) are kept too.

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

use super::v8::{Pseudo, V8Profile};
use crate::profile::Sample;
use crate::symbolize::{Frame, Location, Origin, Symbolized};

/// What happened to the JS thread's native samples, for the summary.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraftStats {
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
/// locations and stacks it needs to `sym`.
pub fn graft(samples: &mut [Sample], is_js_thread: impl Fn(u32) -> bool, sym: &mut Symbolized, v8: &V8Profile) -> GraftStats {
    let mut stats = GraftStats { v8_samples: v8.timeline.len() as u64, v8_interval_us: v8.interval_ns / 1000, ..Default::default() };
    let mut location_of_node: HashMap<u32, u32> = HashMap::default();
    let mut location_of_frame: HashMap<Frame, u32> = HashMap::default();
    let mut grafted_stacks: HashMap<(u32, u32), u32> = HashMap::default();
    for sample in samples.iter_mut().filter(|s| is_js_thread(s.thread)) {
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
        let Some(node) = v8.nearest(sample.time_ns, 2 * v8.interval_ns).filter(|&n| v8.pseudo(n) != Some(Pseudo::Idle)) else {
            stats.unmatched += 1;
            continue;
        };
        stats.grafted += 1;
        let key = (sample.stack, node);
        if let Some(&stack) = grafted_stacks.get(&key) {
            sample.stack = stack;
            continue;
        }
        let js: Vec<u32> = v8
            .stack(node)
            .into_iter()
            .map(|n| {
                *location_of_node.entry(n).or_insert_with(|| {
                    let frame = js_frame(v8, n);
                    *location_of_frame.entry(frame.clone()).or_insert_with(|| {
                        sym.locations.push(Location { address: 0, module: None, origin: Origin::V8, frames: vec![frame] });
                        sym.locations.len() as u32 - 1
                    })
                })
            })
            .collect();
        let native = &sym.stacks[sample.stack as usize];
        let stack: Vec<u32> = native[..inner].iter().chain(&js).chain(&native[outer + 1..]).copied().collect();
        sym.stacks.push(stack);
        let id = sym.stacks.len() as u32 - 1;
        grafted_stacks.insert(key, id);
        sample.stack = id;
    }
    stats
}

fn js_frame(v8: &V8Profile, node: u32) -> Frame {
    let f = &v8.frames[node as usize];
    let function = if f.function_name.is_empty() { "(anonymous)".to_string() } else { f.function_name.clone() };
    let file = (!f.url.is_empty()).then(|| f.url.strip_prefix("file://").unwrap_or(&f.url).to_string());
    let line = u32::try_from(f.line_number + 1).ok().filter(|&l| l > 0);
    // Pictures (flame graph, trace) show where a JS function lives: names like `run` or
    // `(anonymous)` repeat across every package.
    let short = match (&file, line) {
        (Some(file), Some(line)) => format!("{function} {}:{line}", file.rsplit('/').next().unwrap_or(file)),
        _ => function.clone(),
    };
    Frame { function, short, file, line }
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
        let mut sym = Symbolized { locations, stacks: vec![vec![0, 1, 2, 3, 4, 5], vec![4, 5]], modules: vec![], roles: vec![] };
        let sample = |time_us: u64, stack: u32, thread: u32| Sample { thread, time_ns: time_us * 1000, weight_ns: 10, kind: Default::default(), thread_labels: 0, process_labels: 0, stack };
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
    fn perf_map_named_stacks_are_left_alone() {
        let mut sym = Symbolized {
            locations: vec![loc("JS:*work", Origin::PerfMap), loc("main", Origin::Module)],
            stacks: vec![vec![0, 1]],
            modules: vec![],
            roles: vec![],
        };
        let mut samples = vec![Sample { thread: 0, time_ns: 1_000_000, weight_ns: 1, kind: Default::default(), thread_labels: 0, process_labels: 0, stack: 0 }];
        let stats = graft(&mut samples, |_| true, &mut sym, &small_profile());
        assert_eq!((stats.perf_map_named, samples[0].stack), (1, 0));
    }
}
