//! What a profile is, independent of how its samples were taken (samply's `shared/` idea): the
//! sampler produces a [`RawProfile`]; symbolization and export only read it. Data only: this module
//! uses nothing else of the crate, so the sampler, the unwinder, the JS stacks and the exporters
//! all depend on it and never, through it, on each other.

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

/// The role of a thread in an Rspack process, derived from how the thread was first seen
/// (its name, whether that name was inherited from an older thread) and refined from its stacks
/// after symbolization. Names alone mislead: rayon threads inherit their spawner's `tokio-N` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadRole {
    JsMain,
    Tokio,
    Rayon,
    Libuv,
    V8,
    /// A `worker_threads` worker: a JS thread of its own, with its own isolate.
    JsWorker,
    /// The probe's own threads (named `perfprobe*`): its cost, never the build's work.
    Probe,
    Other,
}

impl ThreadRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadRole::JsMain => "js-main",
            ThreadRole::Tokio => "tokio",
            ThreadRole::Rayon => "rayon",
            ThreadRole::Libuv => "libuv",
            ThreadRole::V8 => "v8",
            ThreadRole::JsWorker => "js-worker",
            ThreadRole::Probe => "perfprobe",
            ThreadRole::Other => "other",
        }
    }
}

/// One OS thread seen during a session.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadInfo {
    pub tid: i32,
    pub name: String,
    pub role: ThreadRole,
    /// The role was guessed because the thread's name equals an older thread's (clone inheritance);
    /// symbolization may replace it with what the stacks show.
    #[serde(skip)]
    pub role_is_guess: bool,
    /// CPU time the thread used while the session watched it (from its CPU clock).
    pub cpu_ns: u64,
    /// Monotonic time the thread was first and last seen.
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    pub exited: bool,
    /// Samples kept with their leaf frame only: the stack pointer lay outside every known stack,
    /// or the thread was too close to the end of its stack for a walk.
    pub leaf_only_samples: u64,
}

impl ThreadInfo {
    /// A thread discovery found at `now` (monotonic), with the role it guessed.
    pub fn found(tid: i32, name: String, (role, role_is_guess): (ThreadRole, bool), now: u64) -> ThreadInfo {
        ThreadInfo {
            tid,
            name,
            role,
            role_is_guess,
            cpu_ns: 0,
            first_seen_ns: now,
            last_seen_ns: now,
            exited: false,
            leaf_only_samples: 0,
        }
    }
}

/// One executable mapping of a loaded module (ELF object), as pprof's `Mapping` wants it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInfo {
    pub path: String,
    /// Load bias: runtime address minus the address stated in the file (0 for non-PIE executables).
    pub base_avma: u64,
    /// Runtime range of the executable segment.
    pub start: u64,
    pub limit: u64,
    /// File offset of the executable segment.
    pub file_offset: u64,
    pub build_id: Option<String>,
}

impl ModuleInfo {
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// One change to where V8's code lies, as its code-event handler reported it (`js/jit.rs`): the
/// export names the JS stacks' addresses from these.
#[derive(Clone, Debug, PartialEq)]
pub enum CodeEvent {
    Added { time_ns: u64, start: u64, len: u64, name: Box<str> },
    Moved { time_ns: u64, from: u64, to: u64 },
    Removed { time_ns: u64, start: u64 },
    /// V8 began a collection that may have moved or freed code before it reported code events
    /// (`js/jit.rs`): JS stacks taken before `time_ns` cannot be named from its listing.
    MovedUnseen { time_ns: u64 },
}

impl CodeEvent {
    pub fn time_ns(&self) -> u64 {
        match self {
            CodeEvent::Added { time_ns, .. } | CodeEvent::Moved { time_ns, .. } | CodeEvent::Removed { time_ns, .. } | CodeEvent::MovedUnseen { time_ns } => *time_ns,
        }
    }
}

/// The registers a sample's stack walks start from, read from the interrupted context: the native
/// walk (`unwind`) and V8's JS walk (`js/jit.rs`) take the same four.
#[derive(Clone, Copy, Debug)]
pub struct StartRegs {
    pub pc: u64,
    pub sp: u64,
    pub fp: u64,
    /// Link register (aarch64); unused on x86_64.
    pub lr: u64,
}

/// What a sample's weight measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleKind {
    /// CPU time the thread used (its CPU clock).
    #[default]
    Cpu,
    /// Wall-clock time during which the thread ran at least a little (its CPU clock advanced).
    WallRunning,
    /// Wall-clock time during which the thread did not run: blocked, waiting, parked.
    WallWaiting,
}

impl SampleKind {
    pub fn is_wall(self) -> bool {
        self != SampleKind::Cpu
    }

    /// The `state` label of a wall sample.
    pub fn state(self) -> Option<&'static str> {
        match self {
            SampleKind::Cpu => None,
            SampleKind::WallRunning => Some("running"),
            SampleKind::WallWaiting => Some("waiting"),
        }
    }
}

/// One sample: a thread, a moment, the time it stands for, the labels in force, a stack.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Index into [`RawProfile::threads`].
    pub thread: u32,
    pub time_ns: u64,
    /// CPU time (`Cpu`) or wall-clock time (`Wall*`) the sample stands for; a wall sample of an
    /// idle thread stands for every period it stayed idle (one sample, not one per period), and
    /// `time_ns` is the end of that time.
    pub weight_ns: u64,
    pub kind: SampleKind,
    /// Label set of the thread (the JS thread's hook/plugin/loader/binding) and of the process
    /// (phase): ids into the label registry (`labels.rs`), 0 for none.
    pub thread_labels: u32,
    pub process_labels: u32,
    /// The stack's leaf node in [`RawProfile::stacks`].
    pub stack: u32,
    /// The JS frames V8 reported for the main thread's sample (code addresses, see
    /// `js/jit.rs`): a leaf node in [`RawProfile::js_stacks`], or [`NO_JS_STACK`].
    pub js_stack: u32,
}

/// Counters the sampler keeps about itself, reported in every output.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplerStats {
    /// Signals sent to threads (CPU and wall samples); on macOS, threads suspended for a sample.
    pub signals: u64,
    /// Wall samples of idle threads recorded without a signal (their stack cannot have changed),
    /// counted in periods: what batching saved.
    pub wall_periods_batched: u64,
    /// Samples lost because the lock-free store was full (counted, never hidden).
    pub dropped_store_full: u64,
    /// Samples taken while every unwinder cache was busy: kept with the leaf frame only.
    pub unwind_cache_busy: u64,
    /// Stacks cut at the frame limit.
    pub truncated_stacks: u64,
    /// Stacks whose stack pointer lay in no known stack region: kept with the leaf frame only.
    pub unknown_stack_region: u64,
    /// Samples of threads within 32 KiB of their stack's end (a walk needs ~19 KiB of the
    /// interrupted stack): kept with the leaf frame only, so the thread is not pushed into its guard page.
    pub near_stack_limit: u64,
    /// Signals whose sample never arrived (thread exited first); their weight is lost.
    pub lost_in_flight: u64,
    /// CPU samples that found their thread waiting in the kernel (Linux: resuming at a wait the
    /// signal cut short, or just woken from a futex; macOS: in a wait) and gave their weight to the
    /// thread's last sample taken where it ran (`sampler::policy::WaitMover`); not in `samples`.
    pub moved_from_waits: u64,
    /// CPU time the sampler thread itself used: the probe's direct cost.
    pub sampler_cpu_ns: u64,
    /// Time spent in the signal handler, all threads: the cost inside the sampled threads.
    pub handler_ns: u64,
    /// Samples the threads' own CPU timers signalled (included in `signals`).
    pub timer_signals: u64,
    /// Threads whose CPU timer could not be opened: the sampler thread signalled them instead.
    pub timer_open_failures: u64,
    /// macOS: samples not taken because `thread_suspend` failed (the thread had exited); their
    /// CPU stays with the thread's next sample.
    pub suspend_failures: u64,
}

/// The process's resident set size at one moment (the sampler thread's clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryPoint {
    pub time_ns: u64,
    pub rss_bytes: u64,
}

/// Everything a session recorded, before symbolization.
#[derive(Clone, Debug, Default)]
pub struct RawProfile {
    pub frequency: u32,
    /// Wall-clock samples per second per thread, 0 when the session took none.
    pub wall_frequency: u32,
    pub signal: i32,
    /// What timed the CPU samples: `perf-event` or `sampler-thread` (empty without CPU samples).
    pub timer: &'static str,
    /// Why perf-event timers were asked for and not used.
    pub timer_fallback: Option<String>,
    pub start_unix_ns: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Process CPU time (all threads) during the session.
    pub process_cpu_ns: u64,
    pub threads: Vec<ThreadInfo>,
    pub samples: Vec<Sample>,
    /// Raw stacks (instruction pointer, then return addresses) as a prefix tree.
    pub stacks: StackTable,
    /// JS stacks of the main thread's samples, code addresses innermost first, and what V8 said
    /// about its code during the session ([`CodeEvent`]s); `code_events` is None when the
    /// handler took no JS stacks.
    pub js_stacks: StackTable,
    pub code_events: Option<Vec<CodeEvent>>,
    pub modules: Vec<ModuleInfo>,
    /// The process's resident memory through the session, read by the sampler thread.
    pub memory: Vec<MemoryPoint>,
    pub stats: SamplerStats,
    /// Why the session ended early or is incomplete, if it did.
    pub partial_reason: Option<String>,
}

impl RawProfile {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn sampled_cpu_ns(&self) -> u64 {
        self.samples.iter().filter(|s| s.kind == SampleKind::Cpu).map(|s| s.weight_ns).sum()
    }

    /// The kind the pictures (flame graph, per-thread flame charts) show: CPU when there is any.
    pub fn primary_kind(&self) -> PrimaryKind {
        if self.wall_frequency > 0 && !self.samples.iter().any(|s| s.kind == SampleKind::Cpu) {
            PrimaryKind::Wall
        } else {
            PrimaryKind::Cpu
        }
    }
}

/// Which samples a picture is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrimaryKind {
    Cpu,
    Wall,
}

impl PrimaryKind {
    /// The pprof sample type and `summary.json`'s `sampleType`: `cpu` or `wall`.
    pub fn name(self) -> &'static str {
        match self {
            PrimaryKind::Cpu => "cpu",
            PrimaryKind::Wall => "wall",
        }
    }

    /// How readers say what the weights are: `CPU` or `wall time`.
    pub fn what(self) -> &'static str {
        match self {
            PrimaryKind::Cpu => "CPU",
            PrimaryKind::Wall => "wall time",
        }
    }

    /// The flame graphs' unit, which their tooltips show: `µs CPU` or `µs wall`.
    pub fn count_name(self) -> &'static str {
        match self {
            PrimaryKind::Cpu => "µs CPU",
            PrimaryKind::Wall => "µs wall",
        }
    }

    pub fn includes(self, kind: SampleKind) -> bool {
        match self {
            PrimaryKind::Cpu => kind == SampleKind::Cpu,
            PrimaryKind::Wall => kind.is_wall(),
        }
    }
}

/// Stacks as a prefix tree, the stack table of samply and the Firefox profiler: a node is a frame
/// address under its caller's node, and a stack is its leaf node. Stacks that share outer frames
/// share nodes, so 30k samples of 100-frame swc recursions cost a few MB instead of a hundred.
#[derive(Clone, Debug, Default)]
pub struct StackTable {
    /// (caller node or NO_PARENT, address).
    nodes: Vec<(u32, u64)>,
    index: HashMap<(u32, u64), u32>,
}

const NO_PARENT: u32 = u32::MAX;

/// A sample without JS frames from V8.
pub const NO_JS_STACK: u32 = u32::MAX;

impl StackTable {
    /// The leaf node of a stack given leaf first, adding the nodes it lacks.
    pub fn intern(&mut self, leaf_first: &[u64]) -> u32 {
        let mut node = NO_PARENT;
        for &address in leaf_first.iter().rev() {
            let next = self.nodes.len() as u32;
            node = *self.index.entry((node, address)).or_insert_with(|| {
                self.nodes.push((node, address));
                next
            });
        }
        node
    }

    /// The stack ending at `leaf`, leaf first.
    pub fn frames(&self, leaf: u32) -> Vec<u64> {
        let mut out = Vec::new();
        let mut node = leaf;
        while let Some(&(parent, address)) = self.nodes.get(node as usize) {
            out.push(address);
            node = parent;
        }
        out
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The frame that called `node`'s (the next node toward the root), if any.
    pub fn caller(&self, node: u32) -> Option<u32> {
        self.nodes.get(node as usize).map(|&(parent, _)| parent).filter(|&p| p != NO_PARENT)
    }

    /// `node`'s address (0 for a node that does not exist).
    pub fn address(&self, node: u32) -> u64 {
        self.nodes.get(node as usize).map_or(0, |&(_, address)| address)
    }

    /// Drops the lookup index once no stack will be added (it is as large as the nodes).
    pub fn seal(&mut self) {
        self.index = HashMap::default();
    }
}

#[cfg(test)]
mod tests {
    use super::StackTable;

    #[test]
    fn shared_outer_frames_share_nodes() {
        let mut t = StackTable::default();
        let a = t.intern(&[3, 2, 1]);
        let b = t.intern(&[4, 2, 1]);
        assert_eq!(t.intern(&[3, 2, 1]), a);
        assert_eq!(t.frames(a), vec![3, 2, 1]);
        assert_eq!(t.frames(b), vec![4, 2, 1]);
        assert_eq!(t.node_count(), 4);
    }
}
