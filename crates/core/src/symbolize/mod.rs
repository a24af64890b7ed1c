//! Naming addresses, after the session and off the JS thread: ELF symbols and DWARF lines with
//! inline frames (addr2line + object), Rust (v0 and legacy) and C++ demangling, V8 JIT names from
//! `/tmp/perf-<pid>.map`. An address nothing names becomes `module+0xoffset`, never dropped.

pub mod demangle;
pub mod display;
pub mod elf;
pub mod perfmap;

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

/// The address to look up for frame `index` of a stack: return addresses point after the call,
/// and the call instruction is what belongs to the caller's line.
pub fn lookup_address(index: usize, address: u64) -> u64 {
    if index == 0 { address } else { address.saturating_sub(1) }
}

pub fn symbolize(raw: &RawProfile) -> Symbolized {
    let mut modules: Vec<ModuleInfo> = raw.modules.clone();
    modules.sort_by_key(|m| m.start);
    let starts: Vec<(u64, u64)> = modules.iter().map(|m| (m.start, m.limit)).collect();
    let module_of = |addr: u64| -> Option<usize> {
        let i = starts.partition_point(|m| m.0 <= addr);
        (i > 0 && addr < starts[i - 1].1).then(|| i - 1)
    };

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
    let mut by_module: HashMap<Option<usize>, Vec<usize>> = HashMap::default();
    for (i, &a) in addresses.iter().enumerate() {
        by_module.entry(module_of(a)).or_default().push(i);
    }
    let mut locations: Vec<Location> =
        addresses.iter().map(|&address| Location { address, module: None, origin: Origin::Module, frames: Vec::new() }).collect();
    let mut statuses = vec![SymbolStatus::Unreadable; modules.len()];
    let perf_map = perfmap::PerfMap::load_for_pid(std::process::id());
    // A file with several executable segments (node has three) is opened once, and closed once its
    // last segment is done: only one file's tables are in memory at a time (the build's RSS peak).
    let mut by_module: Vec<(Option<usize>, Vec<usize>)> = by_module.into_iter().collect();
    by_module.sort_by(|a, b| a.0.map(|m| &modules[m].path).cmp(&b.0.map(|m| &modules[m].path)));
    // A file's symbols are read for the addresses of all its segments at once.
    let mut addresses_of_file: HashMap<String, Vec<u64>> = HashMap::default();
    for (module, members) in &by_module {
        if let Some(m) = module {
            addresses_of_file.entry(modules[*m].path.clone()).or_default().extend(members.iter().map(|&i| addresses[i]));
        }
    }
    let mut warnings: Vec<Option<String>> = vec![None; modules.len()];
    let mut open: Option<(String, elf::ModuleSymbolizer)> = None;
    for (module, members) in by_module {
        match module {
            Some(m) => {
                if open.as_ref().is_none_or(|(path, _)| *path != modules[m].path) {
                    let wanted = addresses_of_file.get(modules[m].path.as_str()).map_or(&[][..], Vec::as_slice);
                    open = Some((modules[m].path.clone(), elf::ModuleSymbolizer::open(&modules[m], wanted)));
                }
                let symbols = &open.as_ref().expect("opened above").1;
                statuses[m] = symbols.status();
                if modules[m].build_id.is_none() {
                    modules[m].build_id = symbols.fallback_id.clone();
                }
                for i in members {
                    locations[i].module = Some(m);
                    locations[i].frames = symbols.frames(addresses[i]);
                }
                warnings[m] = symbols.warning();
            }
            None => {
                for i in members {
                    let named = perf_map.as_ref().and_then(|p| p.lookup(addresses[i]));
                    locations[i].origin = if named.is_some() { Origin::PerfMap } else { Origin::Unknown };
                    let function = named.map_or_else(|| format!("[unknown] {:#x}", addresses[i]), str::to_string);
                    locations[i].frames = vec![Frame { function, short: String::new(), file: None, line: None }];
                }
            }
        }
    }
    drop(open);
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
        for f in &mut loc.frames {
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
