//! The Linux sampler. Each thread is interrupted once per sampling period of its own CPU time,
//! and the handler records the stack, weighted by the CPU it stands for. Two ways to time that,
//! both reaching the asked rate where per-thread POSIX CPU timers cap at the scheduler tick
//! (HZ=250 here) and a process-wide ITIMER_PROF loses most signals at 1 kHz (DESIGN.md §3):
//! - the sampler thread (the default) wakes at the asked rate on absolute deadlines, reads every
//!   thread's CPU clock and signals each that used a period's worth, carrying that CPU as weight;
//! - per-thread perf-event CPU timers ([`cpu_timer`], option `timer: 'perf-event'`): the kernel
//!   signals the thread itself, and the sampler thread wakes every [`TIMED_TICK_NS`] only to find
//!   threads and collect samples. Where the kernel refuses them, the sampler thread times them all.

mod cpu_timer;
mod handler;
mod signal;
pub mod threads;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::labels::{JS_THREAD_WORD, LABEL_WORDS};
use crate::profile::{RawProfile, Sample, SampleKind, ThreadInfo, NO_JS_STACK};
use crate::sampler::{Sampler, SamplerConfig, StartError, Timer};
use crate::store::Store;
use crate::unwind;
use crate::util::{clock_ns, monotonic_ns, process_cpu_ns, thread_cpu_ns, unix_ns};
use cpu_timer::CpuTimer;
use handler::{decode_weight, encode_value, HANDLER_NS, PID, RECORDING, TIMER_PERIOD_NS, TIMER_SIGNALS};
use threads::{SlotAllocator, SLOTS};

pub use handler::on_signal;

/// The sampler thread's name: also how a second copy of the addon sees that one already runs.
pub const SAMPLER_THREAD_NAME: &str = "perfprobe";
/// How often the thread list is re-read at most (threads that live shorter may be missed whole).
const DISCOVERY_INTERVAL_NS: u64 = 10_000_000;
/// How often stack regions are re-read when no thread appeared (reading /proc/self/maps of a large
/// build costs ~1 ms; stacks mapped in between are still walked, through checked reads).
const REGIONS_INTERVAL_NS: u64 = 1_000_000_000;
/// How often the thread list is read once the thread count has not changed for as long.
const FULL_LIST_INTERVAL_NS: u64 = 100_000_000;
/// How long after it was found a thread's name is read again at each discovery.
const NAME_SETTLE_NS: u64 = 100_000_000;
/// An idle thread's CPU clock is read less and less often, down to once every this many ticks: most
/// of a node process's threads sleep, and a clock read is a syscall. CPU it uses meanwhile is still
/// carried by its next sample's weight.
const MAX_IDLE_SKIP_TICKS: u64 = 16;
/// Thread start times are in clock ticks (10 ms): a thread that started within one tick of the
/// session's start counts as born during it.
const BIRTH_TOLERANCE_NS: u64 = 10_000_000;
/// Longest single sleep, so that stop is prompt even at 1 Hz.
const MAX_SLEEP_NS: u64 = 20_000_000;
/// A wall sample covers at most this many periods of a late sampler (a stopped process, say).
const MAX_WALL_PERIODS: u64 = 10;
/// How often the sampler thread wakes when every thread has its own CPU timer and the thread count
/// holds still: discovery runs at each wake-up, and the store's 1024 records hold 20 ms of samples
/// from 50 busy threads at 1 kHz.
const TIMED_TICK_NS: u64 = 20_000_000;

static RUNNING: AtomicBool = AtomicBool::new(false);
/// This copy's last sampler thread: joined when its session stopped, yet still listed in
/// /proc/self/task for a moment after (join returns when the kernel clears its tid word).
static LAST_SAMPLER_TID: AtomicI32 = AtomicI32::new(0);

pub struct LinuxSampler {
    stop: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<RawProfile>>,
    timer_fallback: Option<String>,
}

impl LinuxSampler {
    pub fn start(config: SamplerConfig) -> Result<LinuxSampler, StartError> {
        if RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(StartError::AlreadyRunning);
        }
        let started = Self::start_inner(config);
        if started.is_err() {
            RUNNING.store(false, Ordering::Release);
        }
        started
    }

    fn start_inner(config: SamplerConfig) -> Result<LinuxSampler, StartError> {
        if another_probe_samples() {
            return Err(StartError::OtherProbeRunning);
        }
        // SAFETY: getpid cannot fail.
        PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
        // Everything the handler touches exists before the first signal can be sent.
        Store::global().drain(|_, _, _| {});
        Store::global().take_dropped();
        unwind::prepare();
        unwind::regions::refresh();
        let signal = signal::install(config.signal)?;
        // A probe that cannot have the timer it was asked for still profiles: with the sampler
        // thread, saying why in the profile.
        let wants_timers = config.mode.cpu() && config.timer == Timer::PerfEvent;
        let timer_fallback = if wants_timers { cpu_timer::available(signal).err().map(|e| timer_refusal(&e)) } else { None };
        let use_timers = wants_timers && timer_fallback.is_none();

        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let (stop2, finished2, fallback2) = (stop.clone(), finished.clone(), timer_fallback.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(SAMPLER_THREAD_NAME.into())
            .spawn(move || {
                let mut run = SamplerRun::new(config, signal, use_timers, fallback2);
                let _ = ready_tx.send(());
                run.run(&stop2, &finished2)
            })
            .map_err(|e| StartError::Os(format!("cannot start the sampler thread: {e}")))?;
        let _ = ready_rx.recv_timeout(Duration::from_secs(5));
        Ok(LinuxSampler { stop, finished, thread: Some(thread), timer_fallback })
    }
}

impl Sampler for LinuxSampler {
    fn stop(mut self: Box<Self>) -> RawProfile {
        self.stop.store(true, Ordering::Release);
        let profile = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        RUNNING.store(false, Ordering::Release);
        profile
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn timer_fallback(&self) -> Option<&str> {
        self.timer_fallback.as_deref()
    }
}

impl Drop for LinuxSampler {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            let _ = thread.join();
            RUNNING.store(false, Ordering::Release);
        }
    }
}

/// Why the kernel refused a perf event, in words a user can act on.
fn timer_refusal(e: &std::io::Error) -> String {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok();
    let paranoid = paranoid.as_deref().map(str::trim).unwrap_or("unknown");
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => format!(
            "perf_event_open: {e}; kernel.perf_event_paranoid is {paranoid}, and per-thread timers need 1 or less, or CAP_PERFMON, to sample threads inside syscalls"
        ),
        Some(libc::ENOSYS) => format!("perf_event_open: {e} (a seccomp filter, as containers apply, may block it)"),
        _ => format!("perf_event_open: {e}"),
    }
}

/// True when a thread named like ours runs in this process while this copy has none: a second
/// install of the addon was loaded and already samples. Not our own sampler thread of the session
/// just stopped, still exiting: a session started right after that one's stop was refused (seen
/// in 1 of ~10 runs of 50 back-to-back sessions).
fn another_probe_samples() -> bool {
    let ours = LAST_SAMPLER_TID.load(Ordering::Acquire);
    threads::list_tids().into_iter().any(|tid| tid != ours && threads::thread_name(tid) == SAMPLER_THREAD_NAME)
}

/// A thread as the sampler thread tracks it.
struct Tracked {
    tid: i32,
    slot: usize,
    clock: libc::clockid_t,
    last_cpu_ns: u64,
    /// CPU used since the last signal was sent, not yet carried by one.
    pending_ns: u64,
    /// Index into the profile's thread list.
    info: usize,
    /// Consecutive reads that found no new CPU, and the tick of the next read.
    idle_reads: u64,
    next_read_tick: u64,
    wall: WallState,
    /// The thread's own CPU timer; without one the sampler thread signals it.
    timer: Option<CpuTimer>,
}

/// A thread's wall-clock sampling state.
#[derive(Default)]
struct WallState {
    /// CPU clock and time at the last wall sample.
    last_cpu_ns: u64,
    last_ns: u64,
    /// Wall time not yet carried by a sample (the last signal was still in flight).
    carry_ns: u64,
    /// Stack and labels of the last signalled wall sample: an idle thread is still there.
    stack: Option<(u32, u32, u32)>,
    /// Idle periods accumulated into one sample: (start, weight, stack, thread labels, process labels).
    batch: Option<(u64, u64, (u32, u32, u32))>,
}

/// The sampler thread's state for one session.
struct SamplerRun {
    config: SamplerConfig,
    signal: i32,
    pid: i32,
    uid: u32,
    own_tid: i32,
    period_ns: u64,
    /// How often the sampler wakes: once a period (the shorter one in `both` mode). Deadlines are
    /// absolute, so a late tick is followed by a short one and a busy thread keeps its rate. Ticking
    /// twice a period below 250 Hz, as this did first, was not needed for the rate and cost
    /// 40 µs of CPU a wake-up on a virtual machine: half the sampler thread's CPU at 99 Hz.
    tick_ns: u64,
    slots: SlotAllocator,
    tracked: HashMap<i32, Tracked>,
    by_slot: HashMap<usize, i32>,
    profile: RawProfile,
    last_discovery_ns: u64,
    last_regions_ns: u64,
    start_process_cpu_ns: u64,
    start_boottime_ns: u64,
    ticks: u64,
    signal_taken: bool,
    wall_period_ns: Option<u64>,
    next_wall_ns: u64,
    /// The thread list, kept open (None if it could not be: each discovery opens it then), and the
    /// set it is read into, kept to be reused.
    task_list: Option<threads::TaskList>,
    tids: HashSet<i32>,
    /// The thread count at the last read of the list, and when that was.
    listed_count: Option<u64>,
    last_list_ns: u64,
    /// When the thread count last differed from the one before.
    count_moved_ns: u64,
    /// Whether new threads get a CPU timer of their own (CPU samples, timer `perf-event` allowed).
    use_timers: bool,
}

impl SamplerRun {
    /// `use_timers`: threads get perf-event timers; `timer_fallback`: why they were asked for and not.
    fn new(config: SamplerConfig, signal: i32, use_timers: bool, timer_fallback: Option<String>) -> SamplerRun {
        let period_ns = 1_000_000_000 / u64::from(config.frequency.max(1));
        let wall_period_ns = config.mode.wall().then(|| 1_000_000_000 / u64::from(config.wall_frequency.max(1)));
        let tick_ns = match (config.mode.cpu(), wall_period_ns) {
            (true, Some(wall)) => period_ns.min(wall),
            (false, Some(wall)) => wall,
            _ => period_ns,
        };
        let now = monotonic_ns();
        let profile = RawProfile {
            frequency: config.frequency,
            wall_frequency: if config.mode.wall() { config.wall_frequency } else { 0 },
            signal,
            timer: match (config.mode.cpu(), use_timers) {
                (false, _) => "",
                (true, true) => Timer::PerfEvent.name(),
                (true, false) => Timer::SamplerThread.name(),
            },
            timer_fallback,
            start_unix_ns: unix_ns(),
            start_ns: now,
            ..Default::default()
        };
        // SAFETY: plain syscalls without failure modes.
        let (pid, uid, own_tid) = unsafe { (libc::getpid(), libc::getuid(), libc::gettid()) };
        LAST_SAMPLER_TID.store(own_tid, Ordering::Release);
        SamplerRun {
            config,
            signal,
            pid,
            uid,
            own_tid,
            period_ns,
            tick_ns,
            slots: SlotAllocator::default(),
            tracked: HashMap::new(),
            by_slot: HashMap::new(),
            profile,
            last_discovery_ns: 0,
            last_regions_ns: now,
            start_process_cpu_ns: process_cpu_ns(),
            start_boottime_ns: clock_ns(libc::CLOCK_BOOTTIME).unwrap_or(0),
            ticks: 0,
            signal_taken: false,
            wall_period_ns,
            next_wall_ns: now,
            task_list: threads::TaskList::open().ok(),
            tids: HashSet::new(),
            listed_count: None,
            last_list_ns: 0,
            count_moved_ns: 0,
            use_timers,
        }
    }

    /// How long until the next wake-up: the sampling period while any thread is timed by this
    /// thread, else only as often as discovery and wall samples need; at the discovery interval
    /// while threads come and go (short ones would be missed whole), less often once they stop.
    fn tick_ns(&self, now: u64) -> u64 {
        if !self.use_timers || self.tracked.values().any(|t| t.timer.is_none()) {
            return self.tick_ns;
        }
        let churning = now.saturating_sub(self.count_moved_ns) < FULL_LIST_INTERVAL_NS;
        let tick = if churning { DISCOVERY_INTERVAL_NS } else { TIMED_TICK_NS };
        self.wall_period_ns.map_or(tick, |wall| wall.min(tick))
    }

    fn run(&mut self, stop: &AtomicBool, finished: &AtomicBool) -> RawProfile {
        HANDLER_NS.store(0, Ordering::Relaxed);
        TIMER_SIGNALS.store(0, Ordering::Relaxed);
        TIMER_PERIOD_NS.store(self.period_ns, Ordering::Relaxed);
        RECORDING.store(true, Ordering::Release);
        let mut deadline = monotonic_ns();
        while !stop.load(Ordering::Acquire) {
            let now = monotonic_ns();
            if now >= deadline {
                self.tick(now);
                let tick_ns = self.tick_ns(now);
                deadline += tick_ns;
                if deadline < now {
                    // Fell behind (the machine was overloaded): skip the missed ticks, the CPU
                    // they stand for is still carried by the next signals' weights.
                    deadline = now + tick_ns;
                }
                if self.bound_reached() {
                    finished.store(true, Ordering::Release);
                    break;
                }
            }
            sleep_until(deadline.min(monotonic_ns() + MAX_SLEEP_NS));
        }
        self.finish()
    }

    fn bound_reached(&mut self) -> bool {
        if self.signal_taken {
            let signal = self.signal;
            self.profile.partial_reason = Some(format!(
                "another handler took over signal {signal} during the session, so sampling stopped; set option `signal` to a real-time signal nothing else uses"
            ));
            return true;
        }
        if let Some(max) = self.config.max_duration_ns {
            if monotonic_ns().saturating_sub(self.profile.start_ns) >= max {
                self.profile.partial_reason = Some(format!("maxDuration ({} ms) reached", max / 1_000_000));
                return true;
            }
        }
        match self.config.max_samples {
            Some(max) if self.profile.samples.len() as u64 >= max => {
                self.profile.partial_reason = Some(format!("maxSamples ({max}) reached"));
                true
            }
            _ => false,
        }
    }

    fn tick(&mut self, now: u64) {
        // Drain before threads are forgotten, so a recycled slot never receives an old record.
        self.drain();
        // With a tick as long as the interval, a tick a little earlier after its deadline than the
        // last one was would skip a discovery: allow a tenth early.
        if now - self.last_discovery_ns >= DISCOVERY_INTERVAL_NS * 9 / 10 {
            self.last_discovery_ns = now;
            // A library that installs its own handler on our signal after we started would receive
            // every sample signal (and we none): stop sending them.
            if !signal::is_ours(self.signal) {
                self.signal_taken = true;
                return;
            }
            let appeared = self.discover(now);
            if appeared || now - self.last_regions_ns >= REGIONS_INTERVAL_NS {
                self.last_regions_ns = now;
                unwind::regions::refresh();
            }
            // Every discovery, not with the regions: until a dlopen'ed addon is known its frames
            // cannot be unwound (a loader's addon loaded mid-build lost 10% of its stacks at 1 s).
            // Checking costs one dl_iterate_phdr step when nothing was loaded.
            if unwind::refresh_modules() {
                self.profile.modules = unwind::known_modules();
                // Its code too: a walk keeps only callers that lie in known code.
                unwind::regions::refresh();
            }
        }
        self.signal_busy_threads(now);
        if let Some(period) = self.wall_period_ns {
            if now >= self.next_wall_ns {
                self.sample_wall(now, period);
                self.next_wall_ns = (self.next_wall_ns + period).max(now + period / 2);
            }
        }
    }

    /// Reads the thread list: tracks new threads, forgets exited ones.
    fn discover(&mut self, now: u64) -> bool {
        self.settle_names(now.saturating_sub(NAME_SETTLE_NS));
        // While the thread count holds still, read the list only now and then (for a thread that
        // replaced another in between): reading it 100 times a second was the sampler's main cost.
        // Once it moves, read it every time until it has been still for a while: threads come in
        // bursts, and short ones would be missed.
        let count = self.task_list.as_ref().and_then(threads::TaskList::thread_count);
        if count != self.listed_count {
            self.count_moved_ns = now;
        }
        let quiet = count.is_some() && now - self.count_moved_ns >= FULL_LIST_INTERVAL_NS;
        if quiet && now - self.last_list_ns < FULL_LIST_INTERVAL_NS {
            return false;
        }
        (self.listed_count, self.last_list_ns) = (count, now);
        let mut tids = std::mem::take(&mut self.tids);
        match &mut self.task_list {
            Some(list) => list.read(&mut tids),
            None => tids = threads::list_tids(),
        }
        let gone: Vec<i32> = self.tracked.keys().copied().filter(|t| !tids.contains(t)).collect();
        for tid in gone {
            self.forget(tid, now);
        }
        let mut appeared = false;
        let mut new_tids: Vec<i32> = tids.iter().copied().filter(|t| *t != self.own_tid && !self.tracked.contains_key(t)).collect();
        self.tids = tids;
        new_tids.sort_unstable();
        if new_tids.is_empty() {
            return false;
        }
        let mut names = threads::oldest_by_name(&self.profile.threads);
        for tid in new_tids {
            let clock = threads::cpu_clock_of(tid);
            let Some(cpu) = clock_ns(clock) else { continue };
            // A thread born during the session is owed all its CPU: it ran before we saw it.
            let born_during_session = threads::start_time_ns(tid)
                .is_some_and(|t| t + BIRTH_TOLERANCE_NS >= self.start_boottime_ns);
            let last_cpu_ns = if born_during_session { 0 } else { cpu };
            let label_word = if tid == self.pid {
                &LABEL_WORDS[JS_THREAD_WORD] as *const _ as *mut _
            } else {
                std::ptr::null_mut()
            };
            let Some(slot) = self.slots.allocate(tid, label_word) else { continue };
            let name = threads::thread_name(tid);
            let (role, role_is_guess) = threads::initial_role(tid, self.pid, &name, &names);
            names.entry(name.clone()).or_insert(tid);
            self.profile.threads.push(ThreadInfo {
                tid,
                name,
                role,
                role_is_guess,
                cpu_ns: 0,
                first_seen_ns: now,
                last_seen_ns: now,
                exited: false,
                leaf_only_samples: 0,
            });
            let info = self.profile.threads.len() - 1;
            let wall = WallState { last_cpu_ns: cpu, last_ns: now, ..Default::default() };
            let timer = self.open_timer(tid, slot, cpu - last_cpu_ns);
            self.tracked.insert(tid, Tracked { tid, slot, clock, last_cpu_ns, pending_ns: 0, info, idle_reads: 0, next_read_tick: 0, wall, timer });
            self.by_slot.insert(slot, tid);
            appeared = true;
        }
        appeared
    }

    /// A CPU timer for a new thread whose first sample also carries `owed_ns` (the CPU it used
    /// during the session before it was found); None when the session uses none or the kernel
    /// refused this one (the sampler thread then signals the thread).
    fn open_timer(&mut self, tid: i32, slot: usize, owed_ns: u64) -> Option<CpuTimer> {
        if !self.use_timers {
            return None;
        }
        SLOTS[slot].timer_carry_ns.store(owed_ns, Ordering::Relaxed);
        let opened = CpuTimer::open(tid, slot, self.period_ns, self.signal);
        self.profile.stats.timer_open_failures += u64::from(opened.is_err());
        opened.ok()
    }

    /// Reads again the names of the threads first seen after `seen_after`. A thread names itself
    /// just after it starts (Rust's std, tokio, V8), so one found in that moment, which is likely on
    /// a loaded machine, would show its spawner's name for the whole profile.
    fn settle_names(&mut self, seen_after: u64) {
        let SamplerRun { tracked, profile, pid, .. } = self;
        for t in tracked.values() {
            let info = &profile.threads[t.info];
            if info.first_seen_ns < seen_after {
                continue;
            }
            let name = threads::thread_name(t.tid);
            if name.is_empty() || name == info.name {
                continue;
            }
            let older = threads::oldest_by_name(&profile.threads);
            let (role, role_is_guess) = threads::initial_role(t.tid, *pid, &name, &older);
            let info = &mut profile.threads[t.info];
            (info.name, info.role, info.role_is_guess) = (name, role, role_is_guess);
        }
    }

    /// A thread that exited: its slot is freed, a signal it never handled counted as lost.
    fn forget(&mut self, tid: i32, now: u64) {
        let Some(t) = self.untrack(tid) else { return };
        let info = &mut self.profile.threads[t.info];
        info.exited = true;
        info.last_seen_ns = now;
    }

    fn untrack(&mut self, tid: i32) -> Option<Tracked> {
        let mut t = self.tracked.remove(&tid)?;
        // Closed before its slot is freed: a slot never receives a later owner's timer signal.
        drop(t.timer.take());
        flush_wall_batch(&mut t, &mut self.profile);
        self.profile.stats.lost_in_flight += SLOTS[t.slot].in_flight();
        self.by_slot.remove(&t.slot);
        self.slots.release(t.slot);
        Some(t)
    }

    /// Signals every thread that used at least one period of CPU since its last sample.
    fn signal_busy_threads(&mut self, now: u64) {
        let mut gone = Vec::new();
        self.ticks += 1;
        let tick = self.ticks;
        for t in self.tracked.values_mut() {
            if tick < t.next_read_tick {
                continue;
            }
            let Some(cpu) = clock_ns(t.clock) else {
                gone.push(t.tid);
                continue;
            };
            let delta = cpu.saturating_sub(t.last_cpu_ns);
            t.idle_reads = if delta == 0 { t.idle_reads + 1 } else { 0 };
            t.next_read_tick = tick + 1 + t.idle_reads.min(MAX_IDLE_SKIP_TICKS - 1);
            t.last_cpu_ns = cpu;
            let info = &mut self.profile.threads[t.info];
            info.cpu_ns += delta;
            if delta > 0 {
                info.last_seen_ns = now;
            }
            if !self.config.mode.cpu() || t.timer.is_some() {
                continue;
            }
            t.pending_ns += delta;
            if t.pending_ns < self.period_ns {
                continue;
            }
            let slot = &SLOTS[t.slot];
            if slot.in_flight() > 0 {
                // The last signal is still queued: let the next one carry this CPU too.
                continue;
            }
            let weight = sample_weight(t.pending_ns, self.period_ns);
            let sent = slot.sent.load(Ordering::Relaxed);
            slot.sent.store(sent + 1, Ordering::Relaxed);
            match signal::send(self.pid, self.uid, t.tid, self.signal, encode_value(t.slot, weight, SampleKind::Cpu)) {
                Ok(()) => {
                    t.pending_ns -= weight;
                    self.profile.stats.signals += 1;
                }
                Err(e) => {
                    slot.sent.store(sent, Ordering::Relaxed);
                    if e.raw_os_error() == Some(libc::ESRCH) {
                        gone.push(t.tid);
                    }
                }
            }
        }
        for tid in gone {
            self.forget(tid, now);
        }
    }

    /// Takes a wall sample of every thread. A thread whose CPU clock barely moved since its last
    /// wall sample is still where that sample found it: its time is added to a batch with that
    /// stack, without a signal (async-profiler's wall mode does the same), so an idle pool costs a
    /// clock read per thread and period.
    fn sample_wall(&mut self, now: u64, period: u64) {
        // Below this, a thread "did not run": a signal handler's own few µs must not count.
        let ran_threshold = (period / 100).max(50_000);
        let process_labels = crate::labels::process_labels();
        let mut gone = Vec::new();
        let SamplerRun { tracked, profile, pid, uid, signal, .. } = self;
        for t in tracked.values_mut() {
            let Some(cpu) = clock_ns(t.clock) else {
                gone.push(t.tid);
                continue;
            };
            let w = &mut t.wall;
            let ran = cpu.saturating_sub(w.last_cpu_ns) >= ran_threshold;
            w.last_cpu_ns = cpu;
            let weight = now.saturating_sub(w.last_ns).min(MAX_WALL_PERIODS * period) + w.carry_ns;
            w.last_ns = now;
            w.carry_ns = 0;
            if let (false, Some(stack)) = (ran, w.stack) {
                // The phase may change while a thread sleeps: a batch keeps one phase.
                if w.batch.is_some_and(|(_, _, (_, _, p))| p != process_labels) {
                    flush_wall_batch(t, profile);
                }
                let w = &mut t.wall;
                let batch = w.batch.get_or_insert((now.saturating_sub(weight), 0, (stack.0, stack.1, process_labels)));
                batch.1 += weight;
                profile.stats.wall_periods_batched += 1;
                continue;
            }
            flush_wall_batch(t, profile);
            let slot = &SLOTS[t.slot];
            if slot.in_flight() > 0 {
                t.wall.carry_ns = weight;
                continue;
            }
            let kind = if ran { SampleKind::WallRunning } else { SampleKind::WallWaiting };
            let sent = slot.sent.load(Ordering::Relaxed);
            slot.sent.store(sent + 1, Ordering::Relaxed);
            match signal::send(*pid, *uid, t.tid, *signal, encode_value(t.slot, weight, kind)) {
                Ok(()) => profile.stats.signals += 1,
                Err(e) => {
                    slot.sent.store(sent, Ordering::Relaxed);
                    t.wall.carry_ns = weight;
                    if e.raw_os_error() == Some(libc::ESRCH) {
                        gone.push(t.tid);
                    }
                }
            }
        }
        for tid in gone {
            self.forget(tid, now);
        }
    }

    fn drain(&mut self) {
        // Timers keep sampling between the sampler thread's checks: `max_samples` is still exact.
        let max_samples = self.config.max_samples.map_or(usize::MAX, |max| max as usize);
        let SamplerRun { by_slot, tracked, profile, .. } = self;
        Store::global().drain(|header, frames, js_frames| {
            if profile.samples.len() >= max_samples {
                return;
            }
            let Some(t) = by_slot.get(&(header.thread_slot as usize)).and_then(|tid| tracked.get_mut(tid)) else {
                // Its thread was forgotten after its handler ran but before this drain: counted, so
                // every signal stays a kept sample or a counted loss.
                profile.stats.lost_in_flight += 1;
                return;
            };
            let stats = &mut profile.stats;
            stats.truncated_stacks += u64::from(header.truncated);
            stats.unwind_cache_busy += u64::from(header.cache_busy);
            stats.unknown_stack_region += u64::from(header.unknown_region);
            stats.near_stack_limit += u64::from(header.low_stack);
            profile.threads[t.info].leaf_only_samples += u64::from(header.unknown_region || header.cache_busy || header.low_stack);
            let stack = profile.stacks.intern(frames);
            let js_stack = if js_frames.is_empty() { NO_JS_STACK } else { profile.js_stacks.intern(js_frames) };
            let (weight_ns, kind) = decode_weight(header.weight_ns);
            if kind.is_wall() {
                t.wall.stack = Some((stack, header.thread_labels, header.process_labels));
            }
            profile.samples.push(Sample {
                thread: t.info as u32,
                time_ns: header.time_ns,
                weight_ns,
                kind,
                thread_labels: header.thread_labels,
                process_labels: header.process_labels,
                stack,
                js_stack,
            });
        });
        self.profile.stats.dropped_store_full += Store::global().take_dropped();
    }

    fn finish(&mut self) -> RawProfile {
        let timed = self.tracked.values_mut().filter_map(|t| t.timer.take()).count();
        if timed > 0 {
            // An overflow signalled just before its timer closed is queued by now, and handled at
            // the thread's next return to user space: a millisecond lets running threads take it.
            std::thread::sleep(Duration::from_millis(1));
        }
        // Let signals already queued land (a handler takes microseconds), then take their records.
        let deadline = monotonic_ns() + 50_000_000;
        while monotonic_ns() < deadline
            && self.tracked.values().any(|t| SLOTS[t.slot].in_flight() > 0)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        RECORDING.store(false, Ordering::Release);
        let now = monotonic_ns();
        self.drain();
        // Account the CPU used since the last tick, so thread totals cover the whole session.
        for t in self.tracked.values() {
            if let Some(cpu) = clock_ns(t.clock) {
                self.profile.threads[t.info].cpu_ns += cpu.saturating_sub(t.last_cpu_ns);
            }
        }
        // Names change after the first moments too (a pool renaming its threads): the live ones' last word.
        self.settle_names(0);
        let tids: Vec<i32> = self.tracked.keys().copied().collect();
        for tid in tids {
            // A signal still undelivered now went to a thread that exited after the last discovery.
            self.untrack(tid);
        }
        self.profile.end_ns = now;
        self.profile.process_cpu_ns = process_cpu_ns().saturating_sub(self.start_process_cpu_ns);
        self.profile.stats.sampler_cpu_ns = thread_cpu_ns();
        self.profile.stats.handler_ns = HANDLER_NS.load(Ordering::Relaxed);
        self.profile.stats.timer_signals = TIMER_SIGNALS.load(Ordering::Relaxed);
        self.profile.stats.signals += self.profile.stats.timer_signals;
        self.profile.modules = unwind::known_modules();
        self.profile.stacks.seal();
        std::mem::take(&mut self.profile)
    }
}

/// Records a thread's batch of idle wall periods as one sample (its stack is the last signalled one).
fn flush_wall_batch(t: &mut Tracked, profile: &mut RawProfile) {
    if let Some((start, weight, (stack, thread_labels, process_labels))) = t.wall.batch.take() {
        profile.samples.push(Sample {
            thread: t.info as u32,
            // Like a signalled sample, it is stamped at the end of the time it stands for.
            time_ns: start + weight,
            weight_ns: weight,
            kind: SampleKind::WallWaiting,
            thread_labels,
            process_labels,
            stack,
            js_stack: NO_JS_STACK,
        });
    }
}

/// The CPU one sample stands for. One period, like a hardware counter overflow, so a thread is
/// sampled `frequency` times per CPU-second whatever its duty cycle; the rest carries over to the
/// next sample. When the sampler falls behind (its ticks delayed on a loaded machine), the carry is
/// capped by letting this sample take the excess: weights stay exact and the rate dips. The cap is
/// at least 5 ms, so at high rates a few late ticks cost no samples; what a thread carries when the
/// session ends (at most the cap) is not sampled.
fn sample_weight(pending_ns: u64, period_ns: u64) -> u64 {
    let max_carry = (2 * period_ns).max(5_000_000);
    if pending_ns > max_carry + period_ns {
        pending_ns - max_carry
    } else {
        period_ns.min(pending_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::sample_weight;

    #[test]
    fn weights_are_one_period_until_the_carry_overflows() {
        let p = 1_000_000;
        assert_eq!(sample_weight(p, p), p);
        assert_eq!(sample_weight(3 * p, p), p);
        assert_eq!(sample_weight(6 * p, p), p);
        assert_eq!(sample_weight(9 * p, p), 4 * p);
        let slow = 10_101_010; // 99 Hz
        assert_eq!(sample_weight(2 * slow, slow), slow);
        assert_eq!(sample_weight(5 * slow, slow), 3 * slow);
    }
}

fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec { tv_sec: (deadline_ns / 1_000_000_000) as _, tv_nsec: (deadline_ns % 1_000_000_000) as _ };
    // SAFETY: absolute sleep on the monotonic clock; EINTR just ends the sleep early.
    unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
}
