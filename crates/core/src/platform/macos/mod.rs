//! The macOS sampler. macOS has no per-thread CPU signals, so the sampler thread does the whole
//! sample itself (the model of V8's macOS sampler and samply): it lists the threads
//! (`task_threads`), reads each one's CPU time (`thread_info`), and for each thread that used a
//! period's worth of CPU ([`crate::sampler::policy`], the same rule and weights as on Linux) it
//! suspends the thread, reads its registers, walks its stack and resumes it ([`suspend`]).
//!
//! JS frames: V8's CPU profiler names the JS thread's JS frames on macOS (the JS side starts it
//! when `start_code_events` declines); native frames of every thread come from here.

pub mod memory;
pub mod modules;
mod suspend;
pub mod threads;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::labels::{JS_THREAD_WORD, LABEL_WORDS};
use crate::platform::roles;
use crate::profile::{RawProfile, Sample, SampleKind, ThreadInfo, NO_JS_STACK};
use crate::sampler::policy::{wall_ran_threshold, CpuAccount, MAX_WALL_PERIODS};
use crate::sampler::{Sampler, SamplerConfig, StartError, Timer};
use crate::store::MAX_FRAMES;
use crate::unwind;
use crate::util::{monotonic_ns, process_cpu_ns, thread_cpu_ns, unix_ns};
use suspend::NotTaken;
use threads::ThreadPort;

/// The sampler thread's name: also how a second copy of the addon sees that one already runs.
pub const SAMPLER_THREAD_NAME: &str = "perfprobe";
/// How often the thread list is re-read (threads that live shorter may be missed whole).
const DISCOVERY_INTERVAL_NS: u64 = 10_000_000;
/// Longest single sleep, so that stop is prompt even at 1 Hz.
const MAX_SLEEP_NS: u64 = 20_000_000;

static RUNNING: AtomicBool = AtomicBool::new(false);

pub struct MacSampler {
    stop: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<RawProfile>>,
}

impl MacSampler {
    /// Starts sampling; call it on the JS thread: that thread's samples carry the JS label word.
    pub fn start(config: SamplerConfig) -> Result<MacSampler, StartError> {
        if RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(StartError::AlreadyRunning);
        }
        let started = Self::start_inner(config);
        if started.is_err() {
            RUNNING.store(false, Ordering::Release);
        }
        started
    }

    fn start_inner(config: SamplerConfig) -> Result<MacSampler, StartError> {
        let mut listed = Vec::new();
        threads::list(&mut listed);
        let other = listed.iter().any(|&(_, port)| threads::name(port) == SAMPLER_THREAD_NAME);
        listed.iter().for_each(|&(_, port)| threads::release(port));
        if other {
            return Err(StartError::OtherProbeRunning);
        }
        // SAFETY: mach_thread_self returns a reference to the calling thread's port.
        let js_thread = unsafe { mach2::mach_init::mach_thread_self() };
        let js_id = threads::thread_id(js_thread).unwrap_or(0);
        threads::release(js_thread);
        // Everything the walks touch exists before the first thread is suspended.
        unwind::prepare();
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let (stop2, finished2) = (stop.clone(), finished.clone());
        let thread = std::thread::Builder::new()
            .name(SAMPLER_THREAD_NAME.into())
            .spawn(move || SamplerRun::new(config, js_id).run(&stop2, &finished2))
            .map_err(|e| StartError::Os(format!("cannot start the sampler thread: {e}")))?;
        Ok(MacSampler { stop, finished, thread: Some(thread) })
    }
}

impl Sampler for MacSampler {
    fn stop(mut self: Box<Self>) -> RawProfile {
        self.stop.store(true, Ordering::Release);
        let profile = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        RUNNING.store(false, Ordering::Release);
        profile
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

impl Drop for MacSampler {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            let _ = thread.join();
            RUNNING.store(false, Ordering::Release);
        }
    }
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
}

impl SamplerRun {
    fn new(config: SamplerConfig, js_id: u64) -> SamplerRun {
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
            timer: if config.mode.cpu() { Timer::SamplerThread.name() } else { "" },
            timer_fallback: (config.mode.cpu() && config.timer == Timer::PerfEvent)
                .then(|| "perf-event timers are Linux-only; the sampler thread timed CPU samples".to_string()),
            start_unix_ns: unix_ns(),
            start_ns: now,
            ..Default::default()
        };
        // SAFETY: a reference to our own port, given back at once.
        let own = unsafe { mach2::mach_init::mach_thread_self() };
        let own_id = threads::thread_id(own).unwrap_or(0);
        threads::release(own);
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
        }
    }

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
            let sleep = deadline.min(monotonic_ns() + MAX_SLEEP_NS).saturating_sub(monotonic_ns());
            std::thread::sleep(Duration::from_nanos(sleep));
        }
        self.finish()
    }

    fn bound_reached(&mut self) -> bool {
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

    /// Reads the thread list: tracks new threads (name, role, stack bounds read now, while no
    /// thread is suspended), forgets exited ones.
    fn discover(&mut self, now: u64) {
        let mut listed = std::mem::take(&mut self.listed);
        if !threads::list(&mut listed) {
            self.listed = listed;
            return;
        }
        let gone: Vec<u64> = self.tracked.keys().copied().filter(|id| !listed.iter().any(|(l, _)| l == id)).collect();
        for id in gone {
            self.forget(id, now);
        }
        let mut names = roles::oldest_by_name(&self.profile.threads);
        for &(id, port) in &listed {
            if id == self.own_id || self.tracked.contains_key(&id) {
                // One reference per thread is kept; this listing's is given back.
                threads::release(port);
                continue;
            }
            let Some((cpu, _)) = threads::cpu_and_state(port) else {
                threads::release(port);
                continue;
            };
            // pprof and the Chrome trace key threads by a 32-bit id: the low bits of the unique one.
            let tid = id as i32;
            let js_tid = self.js_id as i32;
            let name = threads::name(port);
            let (role, role_is_guess) = roles::initial_role(tid, js_tid, &name, &names);
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
            let tracked = Tracked {
                port,
                info: self.profile.threads.len() - 1,
                js: id == self.js_id,
                stack: threads::stack_bounds(port),
                cpu: CpuAccount::new(cpu),
                wall_cpu_ns: cpu,
                wall_ns: now,
                wall_stack: None,
            };
            self.tracked.insert(id, tracked);
        }
        listed.clear();
        self.listed = listed;
    }

    fn forget(&mut self, id: u64, now: u64) {
        let Some(t) = self.tracked.remove(&id) else { return };
        threads::release(t.port);
        let info = &mut self.profile.threads[t.info];
        info.exited = true;
        info.last_seen_ns = now;
    }

    /// Samples every thread that used at least one period of CPU since its last sample.
    fn sample_busy_threads(&mut self, now: u64) {
        self.ticks += 1;
        let tick = self.ticks;
        let ids: Vec<u64> = self.tracked.keys().copied().collect();
        let mut gone = Vec::new();
        for id in ids {
            let t = self.tracked.get_mut(&id).expect("listed above");
            if !t.cpu.due_for_read(tick) {
                continue;
            }
            let Some((cpu, _)) = threads::cpu_and_state(t.port) else {
                gone.push(id);
                continue;
            };
            let delta = t.cpu.observe(tick, cpu);
            let info = &mut self.profile.threads[t.info];
            info.cpu_ns += delta;
            if delta > 0 {
                info.last_seen_ns = now;
            }
            let Some(weight) = t.cpu.accrue(delta, self.period_ns) else { continue };
            match self.take(id, weight, SampleKind::Cpu) {
                Ok(_) => self.tracked.get_mut(&id).expect("tracked").cpu.taken(weight),
                // The thread exited: what it owed is lost with it.
                Err(NotTaken::Suspend) => gone.push(id),
                Err(NotTaken::State) => {}
            }
        }
        for id in gone {
            self.forget(id, now);
        }
    }

    /// A wall sample of every thread: suspended and walked when it ran since its last wall sample
    /// (or was never walked), else recorded where its last one found it, as on Linux.
    fn sample_wall(&mut self, now: u64, period: u64) {
        let threshold = wall_ran_threshold(period);
        let process_labels = crate::labels::process_labels();
        let ids: Vec<u64> = self.tracked.keys().copied().collect();
        let mut gone = Vec::new();
        for id in ids {
            let t = self.tracked.get_mut(&id).expect("listed above");
            let Some((cpu, running)) = threads::cpu_and_state(t.port) else {
                gone.push(id);
                continue;
            };
            let ran = running || cpu.saturating_sub(t.wall_cpu_ns) >= threshold;
            let weight = now.saturating_sub(t.wall_ns).min(MAX_WALL_PERIODS * period);
            (t.wall_cpu_ns, t.wall_ns) = (cpu, now);
            let kind = if ran { SampleKind::WallRunning } else { SampleKind::WallWaiting };
            if let (false, Some((stack, thread_labels, _))) = (ran, t.wall_stack) {
                let (thread, js) = (t.info as u32, t.js);
                let thread_labels = if js { js_labels() } else { thread_labels };
                self.profile.stats.wall_periods_batched += 1;
                self.profile.samples.push(Sample {
                    thread,
                    time_ns: now,
                    weight_ns: weight,
                    kind,
                    thread_labels,
                    process_labels,
                    stack,
                    js_stack: NO_JS_STACK,
                });
                continue;
            }
            if let Err(NotTaken::Suspend) = self.take(id, weight, kind) {
                gone.push(id);
            }
        }
        for id in gone {
            self.forget(id, now);
        }
    }

    /// The one path a sample takes: suspend, walk, resume, then (with the thread running again)
    /// intern the stack and record it.
    fn take(&mut self, id: u64, weight_ns: u64, kind: SampleKind) -> Result<u32, NotTaken> {
        let t = self.tracked.get_mut(&id).expect("tracked");
        let mut labels = (0, 0);
        let js = t.js;
        let taken = suspend::sample(t.port, t.stack, &mut self.frames[..], || {
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
        self.profile.samples.push(Sample {
            thread: t.info as u32,
            time_ns,
            weight_ns,
            kind,
            thread_labels: labels.0,
            process_labels: labels.1,
            stack,
            js_stack: NO_JS_STACK,
        });
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
