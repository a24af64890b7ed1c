//! Naming addresses while the session runs, so the export only names the few it has not seen.
//!
//! The sampler thread offers each address its new stacks hold, as the export will look it up
//! ([`Feed`]); a thread at the lowest priority the OS has names them in batches with the tables
//! [`super::prepared`] read ahead, reads the status of every loaded module's file, and hands all of
//! it to the export ([`finish`]), which looks up only the rest.
//!
//! Why: the export runs on the build's critical path (the plugin's `done` hook, or node's exit),
//! and naming was its largest part when the session saw much of node's own code: the CLI's session,
//! which starts before Rspack loads, sampled 260 of node's addresses, and naming them took 13-23 ms
//! of its export at exit (libs build, 2 cores). At idle priority the same work runs on a core the
//! build leaves idle; what the namer has not reached by the end is named by the export as before.
//!
//! Names are the export's own: the same [`ModuleSymbolizer`] calls on the same module files, with
//! and without lines, so a profile reads the same whichever of the two named an address.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, TryLockError};
use std::thread::Thread;
use std::time::Duration;

use super::elf::{status_of, DiskStatus, ModuleSymbolizer};
use super::{lookup_address, module_containing, Frame};
use crate::profile::{ModuleInfo, RawProfile};

/// Thread name: `perfprobe-` marks the probe's own threads (their role is `perfprobe`).
const THREAD_NAME: &str = "perfprobe-names";
/// How often the sampler thread offers new addresses, and the namer wakes for them: each batch
/// opens every module it touches once, so a batch should hold more than a tick's few addresses.
const BATCH_INTERVAL: Duration = Duration::from_millis(200);

/// An address named ahead: in which module (its path and start, which the export checks against
/// the module it finds there), with its frames as the export would give them with lines and without.
struct Named {
    path: String,
    start: u64,
    frames: Vec<Frame>,
    symbol_frames: Vec<Frame>,
}

/// What the namer named during a session, by lookup address.
#[derive(Default)]
pub struct NamedAhead {
    /// The namer that names into it ([`RUNNING`]).
    namer: u64,
    locations: HashMap<u64, Named>,
    /// What each module's file said (when opened for naming, or read for its status alone).
    modules: HashMap<String, DiskStatus>,
}

impl NamedAhead {
    /// The frames of `address` in `module`, with lines or from the symbol tables alone, if named
    /// (taken out: an export looks each address up once).
    pub(super) fn take(&mut self, module: &ModuleInfo, address: u64, lines: bool) -> Option<Vec<Frame>> {
        let named = self.locations.get(&address)?;
        if named.start != module.start || named.path != module.path {
            return None;
        }
        let named = self.locations.remove(&address)?;
        Some(if lines { named.frames } else { named.symbol_frames })
    }

    /// What `module`'s file said, if the namer read it.
    pub(super) fn module(&self, module: &ModuleInfo) -> Option<&DiskStatus> {
        self.modules.get(&module.path)
    }

    fn told_to_stop(&self) -> bool {
        RUNNING.load(Ordering::Acquire) != self.namer
    }

    /// Whether nothing was named (the namer did not run, or the session sampled nothing).
    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// Reads the status of the files of `modules` not read yet, as the export does for the modules
    /// nobody sampled (a user sees which ones are stripped).
    fn read_statuses(&mut self, modules: &[ModuleInfo]) {
        for module in modules {
            if self.told_to_stop() {
                return;
            }
            if module.path.starts_with('/') && !self.modules.contains_key(&module.path) {
                self.modules.insert(module.path.clone(), status_of(&module.path));
            }
        }
    }

    /// Names `addresses` (runtime lookup addresses) in `modules` as the export would, stopping early
    /// once [`finish`] was called.
    fn name(&mut self, modules: &[ModuleInfo], addresses: &[u64]) {
        let mut modules: Vec<&ModuleInfo> = modules.iter().collect();
        modules.sort_by_key(|m| m.start);
        let ranges: Vec<(u64, u64)> = modules.iter().map(|m| (m.start, m.limit)).collect();
        // Per file, as the export reads them: a file with several executable segments is opened
        // once. Each address with the index of its module.
        let mut by_file: HashMap<&str, Vec<(u64, usize)>> = HashMap::new();
        for &address in addresses {
            if self.locations.contains_key(&address) {
                continue;
            }
            if let Some(m) = module_containing(&ranges, address) {
                by_file.entry(modules[m].path.as_str()).or_default().push((address, m));
            }
        }
        for (path, wanted) in by_file {
            if self.told_to_stop() {
                return;
            }
            let lookups: Vec<u64> = wanted.iter().map(|&(address, _)| address).collect();
            let symbols = ModuleSymbolizer::open(modules[wanted[0].1], &lookups);
            self.modules.insert(path.to_string(), DiskStatus { status: symbols.status(), fallback_id: symbols.fallback_id.clone(), warning: symbols.warning() });
            for (address, m) in wanted {
                if self.told_to_stop() {
                    return;
                }
                let frames = with_short_names(symbols.frames(address));
                let symbol_frames = with_short_names(symbols.symbol_frames(address));
                self.locations.insert(address, Named { path: path.to_string(), start: modules[m].start, frames, symbol_frames });
            }
        }
    }
}

/// Frames with their short names (`display::short_name`), which the export would compute.
fn with_short_names(mut frames: Vec<Frame>) -> Vec<Frame> {
    for f in &mut frames {
        f.short = super::display::short_name(&f.function);
    }
    frames
}

/// The namer that may name now, by number; 0 when none may (none started, or [`finish`] /
/// [`close`] called). A namer that has not seen its stop when the next session starts one stops
/// all the same: its number is no longer this.
static RUNNING: AtomicU64 = AtomicU64::new(0);
static LAST_NAMER: AtomicU64 = AtomicU64::new(0);

/// What the sampler thread hands the namer: addresses not taken yet, and the modules loaded when
/// it last handed some. The namer takes no lock the sampler thread waits for: at idle priority it
/// can be preempted for long while holding one, and the sampler would stall behind it (each
/// `unwind::known_modules` call from the namer did, at 999 Hz with both cores busy). The sampler
/// thread only ever tries this lock ([`Feed::offer_new`]). For the same reason the namer copies
/// what it takes and frees none of the sampler's memory: glibc frees a large block under the lock
/// of the malloc arena it came from, the sampler thread's own.
struct Offered {
    addresses: Vec<u64>,
    modules: Vec<ModuleInfo>,
}
static OFFERED: Mutex<Offered> = Mutex::new(Offered { addresses: Vec::new(), modules: Vec::new() });

/// The running namer: its thread, to wake it, and where it leaves what it named.
struct Namer {
    thread: Thread,
    named: Receiver<NamedAhead>,
}
static NAMER: Mutex<Option<Namer>> = Mutex::new(None);

/// How long [`finish`] waits for the namer to stop. It stops within one address of being told,
/// once it has a core; at idle priority on a machine that other work keeps busy it may get none
/// for long (with four busy threads on its CPU: 0.76-0.95 s, Linux 6.18 on the 2-core VM), and the
/// export then names everything itself rather than wait.
const STOP_WAIT: Duration = Duration::from_millis(20);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a namer for the session that starts now (an earlier one that was never finished is
/// stopped first). Without a thread, the export names everything, as without this module.
pub fn start() {
    drop(finish());
    let namer = LAST_NAMER.fetch_add(1, Ordering::AcqRel) + 1;
    RUNNING.store(namer, Ordering::Release);
    let (give, named) = mpsc::channel();
    // The channel's block is freed by whichever end goes last: the export's, unless the export
    // stopped waiting for this namer.
    match crate::platform::spawn_at_idle_priority(THREAD_NAME, (give, namer), |(give, namer)| {
        // Nobody waits any more when the export stopped waiting: what was named is dropped.
        let _ = give.send(run(namer));
    }) {
        Ok(handle) => *lock(&NAMER) = Some(Namer { thread: handle.thread().clone(), named }),
        Err(_) => RUNNING.store(0, Ordering::Release),
    }
}

/// The namer's loop: a batch every [`BATCH_INTERVAL`], once the tables read ahead are in place
/// (naming before would parse each file a second time), until [`close`].
fn run(namer: u64) -> NamedAhead {
    let mut named = NamedAhead { namer, ..NamedAhead::default() };
    while !named.told_to_stop() {
        std::thread::park_timeout(BATCH_INTERVAL);
        if super::prepared::reading() {
            continue;
        }
        let (batch, modules) = {
            let mut offered = lock(&OFFERED);
            let batch = offered.addresses.clone();
            offered.addresses.clear();
            (batch, offered.modules.clone())
        };
        if !batch.is_empty() {
            named.name(&modules, &batch);
        }
        named.read_statuses(&modules);
    }
    named
}

/// Stops the namer after the address it is naming: the session stopped.
pub fn close() {
    RUNNING.store(0, Ordering::Release);
    if let Some(namer) = lock(&NAMER).as_ref() {
        namer.thread.unpark();
    }
}

/// Stops the namer and returns what it named: empty if none ran, or if it did not stop within
/// [`STOP_WAIT`] (it is left to end by itself). The namer holds a module's tables for one address
/// at most after this, so the export that calls it usually waits that long.
pub fn finish() -> NamedAhead {
    close();
    let namer = lock(&NAMER).take();
    // Only tried: a namer left behind may hold it while it waits for a core. What it leaves here is
    // offered to the next session's namer, whose names are checked against their modules as all are.
    if let Ok(mut offered) = OFFERED.try_lock() {
        offered.addresses.clear();
        offered.modules.clear();
    }
    namer.and_then(|namer| namer.named.recv_timeout(STOP_WAIT).ok()).unwrap_or_default()
}

/// What the sampler thread has offered so far: its profile's stacks up to `nodes` and samples up
/// to `samples`, the lookup addresses found (each once), and those not handed over yet.
#[derive(Default)]
pub struct Feed {
    nodes: usize,
    samples: usize,
    offered: HashSet<u64>,
    pending: Vec<u64>,
    last_ns: u64,
}

impl Feed {
    /// Offers the lookup addresses of `profile`'s stacks added since the last offer, at most every
    /// [`BATCH_INTERVAL`]: a caller frame's return address - 1, a sample's leaf address as it is.
    /// Sampler thread (a few hash lookups per new stack node and per sample). Never waits: when the
    /// namer holds the hand-over, the addresses wait for the next offer.
    pub fn offer_new(&mut self, profile: &RawProfile, now_ns: u64) {
        if RUNNING.load(Ordering::Acquire) == 0 || now_ns.saturating_sub(self.last_ns) < BATCH_INTERVAL.as_nanos() as u64 {
            return;
        }
        self.last_ns = now_ns;
        let batch = &mut self.pending;
        let stacks = &profile.stacks;
        for node in self.nodes..stacks.node_count() {
            // A node with a caller makes its caller's frame a return address.
            if let Some(caller) = stacks.caller(node as u32) {
                let address = lookup_address(1, stacks.address(caller));
                if self.offered.insert(address) {
                    batch.push(address);
                }
            }
        }
        self.nodes = stacks.node_count();
        for sample in profile.samples.get(self.samples..).unwrap_or_default() {
            let address = lookup_address(0, stacks.address(sample.stack));
            if self.offered.insert(address) {
                batch.push(address);
            }
        }
        self.samples = profile.samples.len();
        if self.pending.is_empty() {
            return;
        }
        let mut offered = match OFFERED.try_lock() {
            Ok(offered) => offered,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        offered.addresses.append(&mut self.pending);
        offered.modules = crate::unwind::known_modules();
    }
}
