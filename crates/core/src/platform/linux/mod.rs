//! The Linux sampler. Each thread is interrupted once per sampling period of its own CPU time,
//! and the handler records the stack, weighted by the CPU it stands for. Two ways to time that,
//! both reaching the asked rate where per-thread POSIX CPU timers cap at the scheduler tick
//! (HZ=250 here) and a process-wide ITIMER_PROF loses most signals at 1 kHz (docs/sampling.md):
//! - the sampler thread (the default) wakes at the asked rate on absolute deadlines, reads every
//!   thread's CPU clock and signals each that used a period's worth, carrying that CPU as weight;
//! - per-thread perf-event CPU timers ([`cpu_timer`], option `timer: 'perf-event'`): the kernel
//!   signals the thread itself, and the sampler thread wakes every [`TIMED_TICK_NS`] only to find
//!   threads and collect samples. Where the kernel refuses them, the sampler thread times them all.

mod cpu;
mod cpu_timer;
mod discovery;
mod drain;
mod handler;
pub mod memory;
pub mod modules;
mod resident;
pub mod regions;
mod signal;
mod syscall_site;
pub mod threads;
mod wall;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use crate::profile::{RawProfile, SampleKind, SamplerStats};
use crate::platform::{MemoryReads, Run, SamplerThread, SAMPLER_THREAD_NAME};
use crate::sampler::policy::{bound_reached, CpuAccount, Periods, WaitMover};
use crate::sampler::{SamplerConfig, StartError, Timer};
use crate::store::Store;
use crate::unwind;
use crate::util::{clock_ns, monotonic_ns, process_cpu_ns, thread_cpu_ns, unix_ns};
use cpu_timer::{CpuTimer, UnreadCpu};
use handler::{encode_value, HANDLER_NS, PID, RECORDING, TIMER_PERIOD_NS, TIMER_SIGNALS};
use threads::{SlotAllocator, SLOTS};

pub use handler::on_signal;
pub use regions::is_code;
pub use cpu_timer::tick_hz;
pub use resident::resident_bytes;

/// How often the thread list is re-read at most (threads that live shorter may be missed whole).
const DISCOVERY_INTERVAL_NS: u64 = 10_000_000;
/// How often stack regions are re-read when no thread appeared (reading /proc/self/maps of a large
/// build costs ~1 ms; stacks mapped in between are still walked, through checked reads).
const REGIONS_INTERVAL_NS: u64 = 1_000_000_000;
/// How often the thread list is read once the thread count has not changed for as long.
const FULL_LIST_INTERVAL_NS: u64 = 100_000_000;
/// How long after it was found a thread's name is read again at each discovery.
const NAME_SETTLE_NS: u64 = 100_000_000;
/// Thread start times are in clock ticks (10 ms): a thread that started within one tick of the
/// session's start counts as born during it.
const BIRTH_TOLERANCE_NS: u64 = 10_000_000;
/// How often, at most, the sampler thread wakes when every thread has its own CPU timer and the
/// thread count holds still: discovery, draining the store and the resident-memory counter
/// ([`crate::platform::MEMORY_INTERVAL_NS`]) run at each wake-up. A wake-up costs the build more
/// than the sampler thread's own CPU: on the libs build (`npm run bench`, bracketed, 12 rounds,
/// 2026-12-07) the preload at 1 Hz cost 1.024x CPU waking every 20 ms and 1.011x every 500 ms,
/// where the sampler thread's own CPU was ~20 ms of ~10 s. 100 ms keeps the resident-memory
/// series at its interval, and ten wake-ups a second are ~0.3% of CPU by that measure. A thread
/// found later carries the CPU it used before into its first sample; one that starts and ends
/// within a tick is missed whole (its CPU stays in the process's total). Shorter where the store
/// could fill first: [`timed_tick_ns`].
const TIMED_TICK_NS: u64 = 100_000_000;

/// The timed tick at `frequency`: shortened to the time half the store's records last when every
/// CPU the process may use runs a sampled thread.
fn timed_tick_ns(frequency: u32) -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let samples_per_second = u64::from(frequency.max(1)) * cpus;
    let half_store_ns = (crate::store::CAPACITY as u64 / 2) * 1_000_000_000 / samples_per_second;
    half_store_ns.clamp(1_000_000, TIMED_TICK_NS)
}

/// This copy's last sampler thread: joined when its session stopped, yet still listed in
/// /proc/self/task for a moment after (join returns when the kernel clears its tid word).
static LAST_SAMPLER_TID: AtomicI32 = AtomicI32::new(0);

/// See [`crate::sampler::prepare`]. A thread that cannot start leaves the store to the session's
/// start, as without this.
pub fn prepare() {
    let _ = std::thread::Builder::new().name(PREPARE_THREAD_NAME.into()).spawn(|| {
        Store::global();
    });
}

/// `perfprobe-` marks the probe's own threads (their role is `perfprobe`).
const PREPARE_THREAD_NAME: &str = "perfprobe-prepare";

/// Starts the Linux sampler: installs the signal handler, then the sampler thread.
pub fn start(config: SamplerConfig) -> Result<SamplerThread, StartError> {
    SamplerThread::start(|| {
        if another_probe_samples() {
            return Err(StartError::OtherProbeRunning);
        }
        // SAFETY: getpid cannot fail.
        PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
        // Everything the handler touches exists before the first signal can be sent.
        Store::global().drain(|_, _, _| {});
        Store::global().take_dropped();
        unwind::prepare();
        regions::refresh();
        let signal = signal::install(config.signal)?;
        // A probe that cannot have the timer it was asked for still profiles: with the sampler
        // thread, saying why in the profile.
        let asked = config.timer;
        let timer = asked.resolve(config.frequency, crate::platform::kernel_tick_hz());
        let wants_timers = config.mode.cpu() && timer != Timer::SamplerThread;
        let refused = if wants_timers { cpu_timer::available(timer, signal).err().map(|e| timer_refusal(timer, &e)) } else { None };
        let use_timers = wants_timers && refused.is_none();
        // What `auto` picked and the kernel refused falls back without a word: nobody asked for it.
        let timer_fallback = refused.filter(|_| asked != Timer::Auto);
        let config = SamplerConfig { timer: if use_timers { timer } else { Timer::SamplerThread }, ..config };
        let fallback = timer_fallback.clone();
        Ok((timer_fallback, move || SamplerRun::new(config, signal, use_timers, fallback)))
    })
}

impl Run for SamplerRun {
    fn run(mut self, stop: &AtomicBool, finished: &AtomicBool) -> RawProfile {
        self.run_until(stop, finished)
    }
}

/// Why the kernel refused a timer, in words a user can act on.
fn timer_refusal(timer: Timer, e: &std::io::Error) -> String {
    if timer == Timer::CpuClock {
        return format!("timer_create on a thread's CPU clock: {e}");
    }
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
    /// Its CPU clock as the sampling policy accounts it.
    cpu: CpuAccount,
    /// Index into the profile's thread list.
    info: usize,
    wall: WallState,
    /// The thread's own CPU timer; without one the sampler thread signals it.
    timer: Option<CpuTimer>,
    /// With a timer: the CPU it reported since the thread's clock was last read.
    unread: Option<UnreadCpu>,
    /// Where its CPU samples found at a wait go.
    waits: WaitMover,
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
    /// The last wall sample signalled it (its handler's µs then move its CPU clock).
    signalled_last: bool,
    /// Idle periods accumulated into one sample: (start, weight, stack, thread labels, process labels).
    batch: Option<(u64, u64, (u32, u32, u32))>,
}

/// The sampler thread's state for one session.
struct SamplerRun {
    config: SamplerConfig,
    target: SignalTarget,
    own_tid: i32,
    period_ns: u64,
    /// How often the sampler wakes: once a period (the shorter one in `both` mode). Deadlines are
    /// absolute, so a late tick is followed by a short one and a busy thread keeps its rate. Ticking
    /// twice a period below 250 Hz, as this did first, was not needed for the rate and cost
    /// 40 µs of CPU a wake-up on a virtual machine: half the sampler thread's CPU at 99 Hz.
    tick_ns: u64,
    /// The tick while every thread has its own CPU timer and the thread count holds still.
    timed_tick_ns: u64,
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
    /// Whether new threads get a CPU timer of their own (CPU samples, with a per-thread timer asked
    /// for or picked by `auto`, and allowed by the kernel).
    use_timers: bool,
    memory: MemoryReads,
    /// The addresses offered to the namer ([`crate::symbolize::ahead`]).
    names_ahead: crate::symbolize::ahead::Feed,
}

impl SamplerRun {
    /// `use_timers`: threads get timers of the kind `config.timer` names; `timer_fallback`: why
    /// they were asked for and not.
    fn new(config: SamplerConfig, signal: i32, use_timers: bool, timer_fallback: Option<String>) -> SamplerRun {
        let Periods { period_ns, wall_period_ns, tick_ns } = Periods::of(&config);
        let timed_tick = timed_tick_ns(config.frequency);
        let now = monotonic_ns();
        let profile = RawProfile {
            frequency: config.frequency,
            wall_frequency: if config.mode.wall() { config.wall_frequency } else { 0 },
            signal,
            timer: match (config.mode.cpu(), use_timers) {
                (false, _) => "",
                (true, true) => config.timer.name(),
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
            target: SignalTarget { pid, uid, signal },
            own_tid,
            period_ns,
            tick_ns,
            timed_tick_ns: timed_tick,
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
            memory: MemoryReads::default(),
            names_ahead: Default::default(),
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
        let tick = if churning { DISCOVERY_INTERVAL_NS } else { self.timed_tick_ns };
        self.wall_period_ns.map_or(tick, |wall| wall.min(tick))
    }

    fn run_until(&mut self, stop: &AtomicBool, finished: &AtomicBool) -> RawProfile {
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
                // A long tick must not carry sampling past maxDuration.
                if let Some(max) = self.config.max_duration_ns {
                    deadline = deadline.min(self.profile.start_ns.saturating_add(max).max(now));
                }
                if self.bound_reached() {
                    finished.store(true, Ordering::Release);
                    break;
                }
            }
            super::sleep_until(deadline);
        }
        self.finish()
    }

    fn bound_reached(&mut self) -> bool {
        if self.signal_taken {
            let signal = self.target.signal;
            self.profile.partial_reason = Some(format!(
                "another handler took over signal {signal} during the session, so sampling stopped; set option `signal` to a real-time signal nothing else uses"
            ));
            return true;
        }
        let elapsed = monotonic_ns().saturating_sub(self.profile.start_ns);
        self.profile.partial_reason = bound_reached(&self.config, elapsed, self.profile.samples.len());
        self.profile.partial_reason.is_some()
    }

    fn tick(&mut self, now: u64) {
        // Drain before threads are forgotten, so a recycled slot never receives an old record.
        self.drain();
        self.memory.take(&mut self.profile, now, false);
        self.names_ahead.offer_new(&self.profile, now);
        // With a tick as long as the interval, a tick a little earlier after its deadline than the
        // last one was would skip a discovery: allow a tenth early.
        if now - self.last_discovery_ns >= DISCOVERY_INTERVAL_NS * 9 / 10 {
            self.last_discovery_ns = now;
            // A library that installs its own handler on our signal after we started would receive
            // every sample signal (and we none): stop sending them.
            if !signal::is_ours(self.target.signal) {
                self.signal_taken = true;
                return;
            }
            let appeared = self.discover(now);
            if appeared || now - self.last_regions_ns >= REGIONS_INTERVAL_NS {
                self.last_regions_ns = now;
                regions::refresh();
            }
            // Every discovery, not with the regions: until a dlopen'ed addon is known its frames
            // cannot be unwound (a loader's addon loaded mid-build lost 10% of its stacks at 1 s).
            // Checking costs one dl_iterate_phdr step when nothing was loaded.
            if unwind::refresh_modules() {
                self.profile.modules = unwind::known_modules();
                // Its code too: a walk keeps only callers that lie in known code.
                regions::refresh();
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

    fn finish(&mut self) -> RawProfile {
        let timed = self.tracked.values_mut().filter_map(|t| t.timer.take()).count();
        if timed > 0 {
            // An overflow signalled just before its timer closed is queued by now. It was raised in
            // an interrupt on the thread's own CPU and is taken on that interrupt's return, so its
            // handler (~10 µs) has run unless the thread was preempted right then. Waiting longer
            // only covers that rarer case, and every microsecond here delays the export.
            std::thread::sleep(Duration::from_micros(200));
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
        // Account the CPU used since the last tick, so thread totals cover the whole session: the
        // clock where it can still be read, else (the thread exited) what its timer reported.
        for t in self.tracked.values() {
            let since_read = match clock_ns(t.clock) {
                Some(cpu) => cpu.saturating_sub(t.cpu.last_cpu_ns),
                None => t.unread.as_ref().map_or(0, UnreadCpu::ns),
            };
            self.profile.threads[t.info].cpu_ns += since_read;
        }
        // Names change after the first moments too (a pool renaming its threads): the live ones' last word.
        self.settle_names(0);
        let tids: Vec<i32> = self.tracked.keys().copied().collect();
        for tid in tids {
            // A signal still undelivered now went to a thread that exited after the last discovery.
            self.untrack(tid);
        }
        self.memory.take(&mut self.profile, now, true);
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

/// Where sample signals go: this process, sent as this user (`rt_tgsigqueueinfo` checks both).
struct SignalTarget {
    pid: i32,
    uid: u32,
    signal: i32,
}

/// What became of a sample signal.
enum Sent {
    Yes,
    /// The thread's last signal is still queued: this one waits for the next tick.
    Busy,
    /// The kernel refused it for another reason; the thread stays tracked.
    Failed,
    /// The thread exited (ESRCH).
    Gone,
}

impl SignalTarget {
    /// The one path a sample signal takes: counted as sent before it leaves (the handler may run
    /// before `send` returns), rolled back if the kernel refuses it.
    fn send(&self, t: &Tracked, weight_ns: u64, kind: SampleKind, stats: &mut SamplerStats) -> Sent {
        let slot = &SLOTS[t.slot];
        if slot.in_flight() > 0 {
            return Sent::Busy;
        }
        let sent = slot.sent.load(Ordering::Relaxed);
        slot.sent.store(sent + 1, Ordering::Relaxed);
        match signal::send(self.pid, self.uid, t.tid, self.signal, encode_value(t.slot, weight_ns, kind)) {
            Ok(()) => {
                stats.signals += 1;
                Sent::Yes
            }
            Err(e) => {
                slot.sent.store(sent, Ordering::Relaxed);
                if e.raw_os_error() == Some(libc::ESRCH) {
                    Sent::Gone
                } else {
                    Sent::Failed
                }
            }
        }
    }
}

