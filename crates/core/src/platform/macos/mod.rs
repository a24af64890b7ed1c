//! The macOS sampler. macOS has no per-thread CPU signals, so the sampler thread does the whole
//! sample itself (the model of V8's macOS sampler and samply): it lists the threads
//! (`task_threads`), reads each one's CPU time (`thread_info`), and for each thread that used a
//! period's worth of CPU ([`crate::sampler::policy`], the same rule and weights as on Linux) it
//! suspends the thread, reads its registers, walks its stack and resumes it ([`suspend`]).
//!
//! JS frames: V8's CPU profiler names the JS thread's JS frames on macOS (the JS side starts it
//! when `start_code_events` declines); native frames of every thread come from here.

mod cpu;
mod discovery;
pub mod memory;
pub mod modules;
mod resident;
pub mod suspend;
pub mod threads;
mod wall;

pub use memory::is_code;
pub use resident::resident_bytes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::labels::{JS_THREAD_WORD, LABEL_WORDS};
use crate::platform::{MemoryReads, Run, SamplerThread, SAMPLER_THREAD_NAME};
use crate::profile::{RawProfile, Sample, SampleKind, NO_JS_STACK};
use crate::sampler::policy::{bound_reached, CpuAccount, Periods, WaitMover};
use crate::sampler::{SamplerConfig, StartError, Timer};
use crate::store::MAX_FRAMES;
use crate::unwind;
use crate::util::{monotonic_ns, process_cpu_ns, thread_cpu_ns, unix_ns};
use suspend::NotTaken;
use threads::ThreadPort;

/// How often the thread list is re-read (threads that live shorter may be missed whole).
const DISCOVERY_INTERVAL_NS: u64 = 10_000_000;

/// Starts the macOS sampler; call it on the JS thread: that thread's samples carry the JS label word.
pub fn start(config: SamplerConfig) -> Result<SamplerThread, StartError> {
    SamplerThread::start(|| {
        let mut listed = Vec::new();
        threads::list(&mut listed);
        let other = listed.iter().any(|&(_, port)| threads::name(port) == SAMPLER_THREAD_NAME);
        listed.iter().for_each(|&(_, port)| threads::release(port));
        if other {
            return Err(StartError::OtherProbeRunning);
        }
        let js_id = own_thread_id();
        // Everything the walks touch exists before the first thread is suspended.
        unwind::prepare();
        let per_thread = matches!(config.timer, Timer::PerfEvent | Timer::CpuClock);
        let timer_fallback = (config.mode.cpu() && per_thread)
            .then(|| format!("{} timers are Linux-only; the sampler thread timed CPU samples", config.timer.name()));
        let fallback = timer_fallback.clone();
        Ok((timer_fallback, move || SamplerRun::new(config, js_id, fallback)))
    })
}

/// The unique id of the calling thread.
fn own_thread_id() -> u64 {
    // SAFETY: a reference to our own port, given back at once.
    let port = unsafe { mach2::mach_init::mach_thread_self() };
    let id = threads::thread_id(port).unwrap_or(0);
    threads::release(port);
    id
}

/// A thread as the sampler thread tracks it.
struct Tracked {
    /// The reference to its port this sampler holds until it forgets the thread.
    port: ThreadPort,
    info: usize,
    js: bool,
    stack: Option<(u64, u64)>,
    cpu: CpuAccount,
    /// CPU clock and time at the last wall sample, and the stack and labels it found.
    wall_cpu_ns: u64,
    wall_ns: u64,
    wall_stack: Option<(u32, u32, u32)>,
    /// Where its CPU samples found at a wait go.
    waits: WaitMover,
}

struct SamplerRun {
    config: SamplerConfig,
    js_id: u64,
    period_ns: u64,
    tick_ns: u64,
    wall_period_ns: Option<u64>,
    next_wall_ns: u64,
    tracked: HashMap<u64, Tracked>,
    listed: Vec<(u64, ThreadPort)>,
    own_id: u64,
    profile: RawProfile,
    /// Walk output, allocated once: nothing is allocated while a thread is suspended.
    frames: Box<[u64; MAX_FRAMES]>,
    ticks: u64,
    last_discovery_ns: u64,
    start_process_cpu_ns: u64,
    memory: MemoryReads,
    /// The addresses offered to the namer ([`crate::symbolize::ahead`]).
    names_ahead: crate::symbolize::ahead::Feed,
}

impl SamplerRun {
    fn new(config: SamplerConfig, js_id: u64, timer_fallback: Option<String>) -> SamplerRun {
        let Periods { period_ns, wall_period_ns, tick_ns } = Periods::of(&config);
        let now = monotonic_ns();
        let profile = RawProfile {
            frequency: config.frequency,
            wall_frequency: if config.mode.wall() { config.wall_frequency } else { 0 },
            timer: if config.mode.cpu() { Timer::SamplerThread.name() } else { "" },
            timer_fallback,
            start_unix_ns: unix_ns(),
            start_ns: now,
            ..Default::default()
        };
        let own_id = own_thread_id();
        SamplerRun {
            config,
            js_id,
            period_ns,
            tick_ns,
            wall_period_ns,
            next_wall_ns: now,
            tracked: HashMap::new(),
            listed: Vec::new(),
            own_id,
            profile,
            frames: Box::new([0; MAX_FRAMES]),
            ticks: 0,
            last_discovery_ns: 0,
            start_process_cpu_ns: process_cpu_ns(),
            memory: MemoryReads::default(),
            names_ahead: Default::default(),
        }
    }

}

impl Run for SamplerRun {
    fn run(mut self, stop: &AtomicBool, finished: &AtomicBool) -> RawProfile {
        let mut deadline = monotonic_ns();
        while !stop.load(Ordering::Acquire) {
            let now = monotonic_ns();
            if now >= deadline {
                self.tick(now);
                deadline += self.tick_ns;
                if deadline < now {
                    // Fell behind: skip the missed ticks; the next samples' weights carry their CPU.
                    deadline = now + self.tick_ns;
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
}

impl SamplerRun {

    fn bound_reached(&mut self) -> bool {
        let elapsed = monotonic_ns().saturating_sub(self.profile.start_ns);
        self.profile.partial_reason = bound_reached(&self.config, elapsed, self.profile.samples.len());
        self.profile.partial_reason.is_some()
    }

    fn tick(&mut self, now: u64) {
        self.memory.take(&mut self.profile, now, false);
        self.names_ahead.offer_new(&self.profile, now);
        if now - self.last_discovery_ns >= DISCOVERY_INTERVAL_NS * 9 / 10 {
            self.last_discovery_ns = now;
            self.discover(now);
            // Until a dlopen'ed addon is known its frames cannot be unwound.
            if unwind::refresh_modules() {
                self.profile.modules = unwind::known_modules();
            }
        }
        if self.config.mode.cpu() {
            self.sample_busy_threads(now);
        }
        if let Some(period) = self.wall_period_ns {
            if now >= self.next_wall_ns {
                self.sample_wall(now, period);
                self.next_wall_ns = (self.next_wall_ns + period).max(now + period / 2);
            }
        }
    }

    /// The one path a sample takes: suspend, walk, resume, then (with the thread running again)
    /// intern the stack and record it.
    /// `at_wait`: a CPU sample of a thread found in a wait (see [`WaitMover`]).
    fn take(&mut self, id: u64, weight_ns: u64, kind: SampleKind, at_wait: bool) -> Result<u32, NotTaken> {
        let t = self.tracked.get_mut(&id).expect("tracked");
        let mut labels = (0, 0);
        let js = t.js;
        let taken = suspend::sample(self.own_id, t.port, t.stack, &mut self.frames[..], || {
            labels = (if js { js_labels() } else { 0 }, crate::labels::process_labels());
        });
        let time_ns = monotonic_ns();
        let walk = match taken {
            Ok(walk) => walk,
            Err(e) => {
                self.profile.stats.suspend_failures += u64::from(e == NotTaken::Suspend);
                return Err(e);
            }
        };
        self.profile.stats.signals += 1;
        let stats = &mut self.profile.stats;
        stats.truncated_stacks += u64::from(walk.truncated);
        stats.unwind_cache_busy += u64::from(walk.cache_busy);
        stats.unknown_stack_region += u64::from(walk.unknown_region);
        let stack = self.profile.stacks.intern(&self.frames[..walk.depth.max(1)]);
        if kind.is_wall() {
            t.wall_stack = Some((stack, labels.0, labels.1));
        }
        let sample = Sample {
            thread: t.info as u32,
            time_ns,
            weight_ns,
            kind,
            thread_labels: labels.0,
            process_labels: labels.1,
            stack,
            js_stack: NO_JS_STACK,
        };
        if kind.is_wall() {
            self.profile.samples.push(sample);
        } else if t.waits.place(&mut self.profile.samples, sample, at_wait, self.period_ns) {
            self.profile.stats.moved_from_waits += 1;
        }
        Ok(stack)
    }

    fn finish(mut self) -> RawProfile {
        let now = monotonic_ns();
        // Account the CPU used since the last tick, so thread totals cover the whole session.
        for t in self.tracked.values() {
            if let Some((cpu, _)) = threads::cpu_and_state(t.port) {
                self.profile.threads[t.info].cpu_ns += cpu.saturating_sub(t.cpu.last_cpu_ns);
            }
        }
        for t in self.tracked.values() {
            threads::release(t.port);
        }
        self.tracked.clear();
        self.memory.take(&mut self.profile, now, true);
        self.profile.end_ns = now;
        self.profile.process_cpu_ns = process_cpu_ns().saturating_sub(self.start_process_cpu_ns);
        self.profile.stats.sampler_cpu_ns = thread_cpu_ns();
        self.profile.modules = unwind::known_modules();
        self.profile.stacks.seal();
        std::mem::take(&mut self.profile)
    }
}

/// The JS thread's current label set (the word JS writes at each span edge).
fn js_labels() -> u32 {
    LABEL_WORDS[JS_THREAD_WORD].load(Ordering::Relaxed).max(0) as u32
}
