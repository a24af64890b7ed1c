//! Naming addresses, after the session and off the JS thread: ELF symbols and DWARF lines with
//! inline frames (addr2line + object), Rust (v0 and legacy) and C++ demangling, V8 JIT names from
//! `/tmp/perf-<pid>.map`. An address nothing names becomes `module+0xoffset`, never dropped.

pub mod ahead;
pub mod demangle;
pub mod display;
pub mod elf;
pub mod perfmap;
pub mod prepared;

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

use crate::profile::{ModuleInfo, RawProfile, ThreadRole};

/// One source-level frame of an address; an address has several when calls were inlined.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub function: String,
    /// The name without generic arguments, for pictures (see [`display::short_name`]).
    pub short: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// Where a location's name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A loaded module's symbols or DWARF (or `module+0x...` when it has none).
    Module,
    /// Code in no module that `/tmp/perf-<pid>.map` names (V8's JIT with `--perf-basic-prof*`).
    PerfMap,
    /// Code in no module that nothing names (JIT code without a perf map): `[unknown] 0x...`.
    Unknown,
    /// A JS frame V8 named (no address): grafted in by `js/graft.rs`.
    V8,
}

/// What an address resolved to: its frames (innermost first) and the module it belongs to.
#[derive(Clone, Debug)]
pub struct Location {
    /// The address looked up: the instruction pointer for a leaf, return address - 1 for callers.
    pub address: u64,
    /// Index into [`Symbolized::modules`], if the address lies in a module.
    pub module: Option<usize>,
    pub origin: Origin,
    pub frames: Vec<Frame>,
}

/// How much a module could tell about its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolStatus {
    /// Only exported symbols, if any: frames read `module+0x...`.
    Stripped,
    /// A symbol table: function names, no lines.
    Symbols,
    /// DWARF: function names, file:line, inline frames.
    Dwarf,
    /// The file could not be read (deleted, permission).
    Unreadable,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleSymbols {
    #[serde(flatten)]
    pub module: ModuleInfo,
    pub symbols: SymbolStatus,
    /// Why the file read as unreadable or lost its lines (a damaged file the readers choked on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A profile with names: `stacks[i]` lists indexes into `locations`, leaf first.
pub struct Symbolized {
    pub locations: Vec<Location>,
    pub stacks: Vec<Vec<u32>>,
    pub modules: Vec<ModuleSymbols>,
}

/// An address in the probe's own code, or 0 (see [`set_probe_code`]).
static PROBE_CODE: AtomicU64 = AtomicU64::new(0);

/// Names the module holding `address` (the addon calls it with one of its functions) from its
/// symbol tables alone: its DWARF is never read, its frames have function names without lines or
/// inlines. Who asks what the probe costs needs its functions, not its file:line; and the addon's
/// 1,229 DWARF units cost 7-9 ms of CPU read ahead during the build and 3.2 ms of the export for
/// its 2-11 addresses (libs build, 2026-12-07).
pub fn set_probe_code(address: u64) {
    PROBE_CODE.store(address, Ordering::Relaxed);
}

/// Whether `module`'s DWARF is read: every module's but the probe's own (see [`set_probe_code`]).
pub(crate) fn reads_dwarf(module: &ModuleInfo) -> bool {
    reads_dwarf_given(module, PROBE_CODE.load(Ordering::Relaxed))
}

fn reads_dwarf_given(module: &ModuleInfo, probe_code: u64) -> bool {
    !(probe_code != 0 && (module.start..module.limit).contains(&probe_code))
}

/// The address to look up for frame `index` of a stack: return addresses point after the call,
/// and the call instruction is what belongs to the caller's line.
pub fn lookup_address(index: usize, address: u64) -> u64 {
    if index == 0 { address } else { address.saturating_sub(1) }
}

/// Which of `ranges` (modules' `(start, limit)`, sorted by start) holds `address`.
fn module_containing(ranges: &[(u64, u64)], address: u64) -> Option<usize> {
    let i = ranges.partition_point(|m| m.0 <= address);
    (i > 0 && address < ranges[i - 1].1).then(|| i - 1)
}

/// Names `raw`'s addresses: those the namer named while the session ran ([`ahead::finish`]), the
/// rest here.
pub fn symbolize(raw: &RawProfile) -> Symbolized {
    symbolize_with(raw, ahead::finish())
}

/// The same, with `ahead` as the names found while the session ran.
pub fn symbolize_with(raw: &RawProfile, mut ahead: ahead::NamedAhead) -> Symbolized {
    let mut modules: Vec<ModuleInfo> = raw.modules.clone();
    modules.sort_by_key(|m| m.start);
    let ranges: Vec<(u64, u64)> = modules.iter().map(|m| (m.start, m.limit)).collect();
    let module_of = |addr: u64| module_containing(&ranges, addr);

    let mut index: HashMap<u64, u32> = HashMap::default();
    let mut addresses: Vec<u64> = Vec::new();
    // Location lists for the stacks samples end in (nodes that are only inner frames get none).
    let mut stacks: Vec<Vec<u32>> = vec![Vec::new(); raw.stacks.node_count()];
    for sample in &raw.samples {
        let slot = &mut stacks[sample.stack as usize];
        if !slot.is_empty() {
            continue;
        }
        *slot = raw
            .stacks
            .frames(sample.stack)
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let a = lookup_address(i, a);
                *index.entry(a).or_insert_with(|| {
                    addresses.push(a);
                    addresses.len() as u32 - 1
                })
            })
            .collect();
    }
    // The probe's own threads (reading symbol tables ahead, `prepared`) are named from symbol
    // tables only: their file:line is nobody's question, and DWARF lookups in the addon's large
    // units cost 15-28 ms of an export for a dozen of their addresses.
    let mut lines_wanted = vec![false; addresses.len()];
    let mut stack_marked = vec![false; stacks.len()];
    for sample in &raw.samples {
        let probe = raw.threads.get(sample.thread as usize).is_some_and(|t| t.role == ThreadRole::Probe);
        if probe || std::mem::replace(&mut stack_marked[sample.stack as usize], true) {
            continue;
        }
        for &l in &stacks[sample.stack as usize] {
            lines_wanted[l as usize] = true;
        }
    }
    let mut by_module: HashMap<Option<usize>, Vec<usize>> = HashMap::default();
    for (i, &a) in addresses.iter().enumerate() {
        by_module.entry(module_of(a)).or_default().push(i);
    }
    let by_module: Vec<(Option<usize>, Vec<usize>)> = by_module.into_iter().collect();
    let mut locations: Vec<Location> =
        addresses.iter().map(|&address| Location { address, module: None, origin: Origin::Module, frames: Vec::new() }).collect();
    let mut statuses = vec![SymbolStatus::Unreadable; modules.len()];
    let mut warnings: Vec<Option<String>> = vec![None; modules.len()];
    let mut unmapped: Vec<usize> = Vec::new();
    // A file with several executable segments (node has three) is read once, for the addresses of
    // all its segments.
    let mut files: HashMap<&str, Vec<(usize, Vec<usize>)>> = HashMap::default();
    for (module, members) in by_module {
        let Some(m) = module else {
            unmapped = members;
            continue;
        };
        let mut rest = Vec::new();
        for i in members {
            match ahead.take(&modules[m], addresses[i], lines_wanted[i]) {
                Some(frames) => {
                    locations[i].module = Some(m);
                    locations[i].frames = frames;
                }
                None => rest.push(i),
            }
        }
        if !rest.is_empty() {
            files.entry(modules[m].path.as_str()).or_default().push((m, rest));
        }
    }
    let files: Vec<Vec<(usize, Vec<usize>)>> = files.into_values().collect();
    // What the namer read of each module's file (opened to name addresses, or for its status
    // alone); a file read again below says it again.
    for m in 0..modules.len() {
        if let Some(file) = ahead.module(&modules[m]) {
            statuses[m] = file.status;
            if modules[m].build_id.is_none() {
                modules[m].build_id = file.fallback_id.clone();
            }
            warnings[m] = file.warning.clone();
        }
    }
    for read in read_files(&modules, &addresses, &lines_wanted, files) {
        for (m, module) in read {
            statuses[m] = module.status;
            if modules[m].build_id.is_none() {
                modules[m].build_id = module.fallback_id;
            }
            warnings[m] = module.warning;
            for (i, frames) in module.frames {
                locations[i].module = Some(m);
                locations[i].frames = frames;
            }
        }
    }
    if !unmapped.is_empty() {
        let perf_map = perfmap::PerfMap::load_for_pid(std::process::id());
        for i in unmapped {
            let named = perf_map.as_ref().and_then(|p| p.lookup(addresses[i]));
            locations[i].origin = if named.is_some() { Origin::PerfMap } else { Origin::Unknown };
            let function = named.map_or_else(|| format!("[unknown] {:#x}", addresses[i]), str::to_string);
            locations[i].frames = vec![Frame { function, short: String::new(), file: None, line: None }];
        }
    }
    // Modules nobody sampled still report their status, so a user sees which ones are stripped.
    for (m, status) in statuses.iter_mut().enumerate() {
        // A module already explained (changed on disk, damaged) keeps its status and reason.
        if *status == SymbolStatus::Unreadable && warnings[m].is_none() {
            let on_disk = elf::status_of(&modules[m].path);
            *status = on_disk.status;
            if modules[m].build_id.is_none() {
                modules[m].build_id = on_disk.fallback_id;
            }
            warnings[m] = warnings[m].take().or(on_disk.warning);
        }
    }
    for loc in &mut locations {
        // Frames named ahead have theirs.
        for f in loc.frames.iter_mut().filter(|f| f.short.is_empty()) {
            f.short = display::short_name(&f.function);
        }
    }
    Symbolized {
        locations,
        stacks,
        modules: modules
            .into_iter()
            .zip(statuses)
            .zip(warnings)
            .map(|((module, symbols), warning)| ModuleSymbols { module, symbols, warning })
            .collect(),
    }
}

/// What one module's file said: its status, identity, warning, and the frames of its locations.
struct ModuleRead {
    status: SymbolStatus,
    fallback_id: Option<String>,
    warning: Option<String>,
    frames: Vec<(usize, Vec<Frame>)>,
}

/// Reads each file's symbols for its locations (`files`: per file, its modules' indexes with their
/// locations' indexes), with DWARF lines where `lines_wanted`. Files are read side by side, largest
/// first, on up to as many threads as the machine has cores: the export runs after the build, when
/// Rspack's threads are idle, and a file not read ahead ([`prepared`]) takes milliseconds to parse
/// (node's symbol table alone 11 ms of a 28 ms symbolization, libs build, 2 cores). Each thread
/// holds one file's tables at a time, so the memory held at once grows with the threads, not the
/// files.
fn read_files(modules: &[ModuleInfo], addresses: &[u64], lines_wanted: &[bool], mut files: Vec<Vec<(usize, Vec<usize>)>>) -> Vec<Vec<(usize, ModuleRead)>> {
    let path_of = |file: &[(usize, Vec<usize>)]| modules[file[0].0].path.as_str();
    let size_of = |file: &[(usize, Vec<usize>)]| std::fs::metadata(path_of(file)).map_or(0, |m| m.len());
    files.sort_by_cached_key(|file| std::cmp::Reverse(size_of(file)));
    let read_one = |file: &[(usize, Vec<usize>)]| -> Vec<(usize, ModuleRead)> {
        let wanted: Vec<u64> = file.iter().flat_map(|(_, members)| members.iter().map(|&i| addresses[i])).collect();
        let symbols = elf::ModuleSymbolizer::open(&modules[file[0].0], &wanted);
        file.iter()
            .map(|(m, members)| {
                let frames = members.iter().map(|&i| (i, if lines_wanted[i] { symbols.frames(addresses[i]) } else { symbols.symbol_frames(addresses[i]) })).collect();
                (*m, ModuleRead { status: symbols.status(), fallback_id: symbols.fallback_id.clone(), warning: symbols.warning(), frames })
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len());
    if threads <= 1 {
        return files.iter().map(|file| read_one(file)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut read: Vec<Option<Vec<(usize, ModuleRead)>>> = Vec::new();
    read.resize_with(files.len(), || None);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(at) else { break };
                        mine.push((at, read_one(file)));
                    }
                    mine
                })
            })
            .collect();
        for worker in workers {
            // A reader's panic is caught inside `open`; one elsewhere leaves this worker's files unnamed.
            for (at, modules) in worker.join().unwrap_or_default() {
                read[at] = Some(modules);
            }
        }
    });
    read.into_iter().flatten().collect()
}

/// Each thread's role (same order as `raw.threads`), guessed roles replaced by what a thread's
/// symbolized stacks show (its outermost frames name the runtime that started it: rayon's registry,
/// tokio's runtime, libuv's worker loop, V8's platform workers). A `worker_threads` worker runs
/// libuv's loop and V8 like the others, so one stack through node's `Worker::StartThread` decides
/// for the whole thread, whatever an earlier (perhaps truncated) stack suggested.
pub fn settle_roles(raw: &RawProfile, sym: &Symbolized) -> Vec<ThreadRole> {
    let (stacks, locations) = (&sym.stacks, &sym.locations);
    let mut roles: Vec<ThreadRole> = raw.threads.iter().map(|t| t.role).collect();
    let mut from_stack = vec![false; roles.len()];
    for sample in &raw.samples {
        let t = sample.thread as usize;
        if !raw.threads[t].role_is_guess || roles[t] == ThreadRole::JsWorker {
            continue;
        }
        let stack = &stacks[sample.stack as usize];
        let functions = stack.iter().rev().flat_map(|&l| locations[l as usize].frames.iter()).map(|f| f.function.as_str());
        match role_of_stack(functions) {
            Some(ThreadRole::JsWorker) => roles[t] = ThreadRole::JsWorker,
            Some(role) if !from_stack[t] => (roles[t], from_stack[t]) = (role, true),
            _ => {}
        }
    }
    roles
}

/// The role the outermost telling function of a stack (root first) gives its thread; a node worker's
/// start anywhere in it wins.
fn role_of_stack<'a>(root_first: impl Iterator<Item = &'a str>) -> Option<ThreadRole> {
    let mut outermost = None;
    for function in root_first {
        if function.starts_with("node::worker::Worker::") {
            return Some(ThreadRole::JsWorker);
        }
        outermost = outermost.or_else(|| role_of_function(function));
    }
    outermost
}

fn role_of_function(name: &str) -> Option<ThreadRole> {
    if name.starts_with("rayon_core::registry") {
        Some(ThreadRole::Rayon)
    } else if name.starts_with("tokio::runtime") {
        Some(ThreadRole::Tokio)
    } else if name.starts_with("uv__") || name == "worker" {
        Some(ThreadRole::Libuv)
    } else if name.contains("PlatformWorker") || name.starts_with("v8::platform") {
        Some(ThreadRole::V8)
    } else {
        None
    }
}

impl Symbolized {
    /// The source-level frames of a stack from the root down to the leaf, inline frames expanded.
    pub fn frames_root_first(&self, stack: u32) -> impl Iterator<Item = &Frame> {
        self.stacks[stack as usize].iter().rev().flat_map(move |&l| self.locations[l as usize].frames.iter().rev())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::profile::{Sample, ThreadInfo};

    #[test]
    fn only_the_module_holding_the_probes_code_goes_without_dwarf() {
        let module = |start, limit| ModuleInfo { path: "/x.so".into(), base_avma: 0, start, limit, file_offset: 0, build_id: None };
        assert!(reads_dwarf_given(&module(0x1000, 0x2000), 0), "not known: every module's DWARF");
        assert!(!reads_dwarf_given(&module(0x1000, 0x2000), 0x1000));
        assert!(!reads_dwarf_given(&module(0x1000, 0x2000), 0x1fff));
        assert!(reads_dwarf_given(&module(0x1000, 0x2000), 0x2000));
        assert!(reads_dwarf_given(&module(0x1000, 0x2000), 0xfff));
    }

    #[inline(never)]
    fn sampled_on_the_js_thread() -> u64 {
        std::hint::black_box(11)
    }

    #[inline(never)]
    fn sampled_on_a_probe_thread() -> u64 {
        std::hint::black_box(13)
    }

    #[test]
    fn the_probes_own_threads_are_named_without_lines_and_the_builds_with_them() {
        assert_eq!(sampled_on_the_js_thread() + sampled_on_a_probe_thread(), 24);
        crate::unwind::prepare();
        let mut raw = RawProfile { modules: crate::unwind::known_modules(), ..Default::default() };
        let thread = |tid, role| ThreadInfo { tid, name: String::new(), role, role_is_guess: false, cpu_ns: 0, first_seen_ns: 0, last_seen_ns: 0, exited: false, leaf_only_samples: 0 };
        raw.threads = vec![thread(1, ThreadRole::JsMain), thread(2, ThreadRole::Probe)];
        let leaves = [sampled_on_the_js_thread as *const () as u64 + 1, sampled_on_a_probe_thread as *const () as u64 + 1];
        for (t, leaf) in leaves.into_iter().enumerate() {
            let stack = raw.stacks.intern(&[leaf]);
            raw.samples.push(Sample { thread: t as u32, time_ns: 1, weight_ns: 1, kind: Default::default(), thread_labels: 0, process_labels: 0, stack, js_stack: crate::profile::NO_JS_STACK });
        }
        let sym = symbolize(&raw);
        let leaf = |t: usize| &sym.locations[sym.stacks[raw.samples[t].stack as usize][0] as usize].frames;
        let (build, probe) = (leaf(0), leaf(1));
        assert!(build.last().unwrap().function.contains("sampled_on_the_js_thread"), "{build:?}");
        assert!(build.iter().any(|f| f.line.is_some()), "the build's threads keep their lines: {build:?}");
        assert_eq!(probe.len(), 1, "{probe:?}");
        assert!(probe[0].function.contains("sampled_on_a_probe_thread") && probe[0].line.is_none(), "{probe:?}");
    }

    #[test]
    fn a_worker_threads_stack_is_js_worker_though_it_runs_libuv_and_v8() {
        // Root-first functions of a worker's sample, as node 20.20 showed them.
        let worker = [
            "libc.so.6+0x1098eb",
            "node::worker::Worker::StartThread(v8::FunctionCallbackInfo<v8::Value> const&)::{lambda(void*)#1}::_FUN(void*)",
            "node::worker::Worker::Run()",
            "uv_run",
            "uv__io_poll",
        ];
        assert_eq!(role_of_stack(worker.into_iter()), Some(ThreadRole::JsWorker));
        // A truncated stack of the same thread says no more than its innermost runtime.
        assert_eq!(role_of_stack(["uv__io_poll", "v8::platform::DefaultPlatform::PostTask"].into_iter()), Some(ThreadRole::Libuv));
        assert_eq!(role_of_stack(["start_thread", "worker", "uv__work_done"].into_iter()), Some(ThreadRole::Libuv));
        assert_eq!(role_of_stack(["main"].into_iter()), None);
    }
}
