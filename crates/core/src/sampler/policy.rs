//! The sampling policy every platform's sampler thread follows, free of OS calls so it is tested
//! everywhere: which threads to interrupt at a tick, what each sample weighs, which threads' clocks
//! to read at all. A thread is interrupted once per sampling period of its own CPU time (like a
//! hardware counter overflow), so the sampled CPU over the threads' CPU (the summary's `fidelity`)
//! stays near 1 whatever the duty cycles (docs/sampling.md).

/// An idle thread's CPU clock is read less and less often, down to once every this many ticks: most
/// of a node process's threads sleep, and a clock read is a syscall. CPU it uses meanwhile is still
/// carried by its next sample's weight.
pub const MAX_IDLE_SKIP_TICKS: u64 = 16;

/// One thread's CPU accounting between the sampler thread's reads of its clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuAccount {
    /// The thread's CPU clock at the last read.
    pub last_cpu_ns: u64,
    /// CPU used since the last sample was taken, not yet carried by one.
    pub pending_ns: u64,
    /// Consecutive reads that found no new CPU, and the tick of the next read.
    pub idle_reads: u64,
    pub next_read_tick: u64,
}

impl CpuAccount {
    /// A thread first seen with its clock at `cpu_ns`; `owed_ns` of it (what it ran during the
    /// session before it was found) is charged to its first samples' weights by the caller.
    pub fn new(last_cpu_ns: u64) -> CpuAccount {
        CpuAccount { last_cpu_ns, ..Default::default() }
    }

    /// Whether the clock is due for a read at `tick` (idle threads are read less often).
    pub fn due_for_read(&self, tick: u64) -> bool {
        tick >= self.next_read_tick
    }

    /// Takes a read of the clock at `tick`; returns the CPU used since the last read.
    pub fn observe(&mut self, tick: u64, cpu_ns: u64) -> u64 {
        let delta = cpu_ns.saturating_sub(self.last_cpu_ns);
        self.idle_reads = if delta == 0 { self.idle_reads + 1 } else { 0 };
        self.next_read_tick = tick + 1 + self.idle_reads.min(MAX_IDLE_SKIP_TICKS - 1);
        self.last_cpu_ns = cpu_ns;
        delta
    }

    /// Adds CPU to what the next sample carries; returns that sample's weight when the thread has
    /// used at least a period since its last one.
    pub fn accrue(&mut self, delta_ns: u64, period_ns: u64) -> Option<u64> {
        self.pending_ns += delta_ns;
        (self.pending_ns >= period_ns).then(|| sample_weight(self.pending_ns, period_ns))
    }

    /// A sample of `weight_ns` was taken (sent, or recorded on a suspended thread).
    pub fn taken(&mut self, weight_ns: u64) {
        self.pending_ns -= weight_ns.min(self.pending_ns);
    }
}

/// The CPU one sample stands for. One period, like a hardware counter overflow, so a thread is
/// sampled `frequency` times per CPU-second whatever its duty cycle; the rest carries over to the
/// next sample. When the sampler falls behind (its ticks delayed on a loaded machine), the carry is
/// capped by letting this sample take the excess: weights stay exact and the rate dips. The cap is
/// at least 5 ms, so at high rates a few late ticks cost no samples; what a thread carries when the
/// session ends (at most the cap) is not sampled.
pub fn sample_weight(pending_ns: u64, period_ns: u64) -> u64 {
    let max_carry = (2 * period_ns).max(5_000_000);
    if pending_ns > max_carry + period_ns {
        pending_ns - max_carry
    } else {
        period_ns.min(pending_ns)
    }
}

/// How often a sampler thread samples and wakes, from the session's options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    /// CPU time between two samples of a thread.
    pub period_ns: u64,
    /// Wall time between two wall samples of a thread (modes `wall`, `both`).
    pub wall_period_ns: Option<u64>,
    /// How often the sampler wakes: once a period (the shorter one in `both` mode). Deadlines are
    /// absolute, so a late tick is followed by a short one and a busy thread keeps its rate.
    /// Ticking twice a period below 250 Hz was not needed for the rate and cost 40 µs of CPU a
    /// wake-up on a virtual machine: half the Linux sampler thread's CPU at 99 Hz.
    pub tick_ns: u64,
}

impl Periods {
    pub fn of(config: &super::SamplerConfig) -> Periods {
        let period_ns = 1_000_000_000 / u64::from(config.frequency.max(1));
        let wall_period_ns = config.mode.wall().then(|| 1_000_000_000 / u64::from(config.wall_frequency.max(1)));
        let tick_ns = match (config.mode.cpu(), wall_period_ns) {
            (true, Some(wall)) => period_ns.min(wall),
            (false, Some(wall)) => wall,
            _ => period_ns,
        };
        Periods { period_ns, wall_period_ns, tick_ns }
    }
}

/// Why a session ends by itself now (`max_duration_ns` or `max_samples` reached), if it does.
pub fn bound_reached(config: &super::SamplerConfig, elapsed_ns: u64, samples: usize) -> Option<String> {
    if let Some(max) = config.max_duration_ns.filter(|&max| elapsed_ns >= max) {
        return Some(format!("maxDuration ({} ms) reached", max / 1_000_000));
    }
    config.max_samples.filter(|&max| samples as u64 >= max).map(|max| format!("maxSamples ({max}) reached"))
}

/// A sampler thread's CPU sample can find its thread waiting in the kernel: blocked, or woken and
/// not yet run. The CPU it carries was used before that wait, in the run its previous sample was
/// taken in (or one after it), not in the wait. So its weight goes to the thread's last sample taken
/// where the thread ran, if that is recent: within [`WAIT_MOVE_PERIODS`] sampling periods, and
/// taking at most [`WAIT_MOVE_MAX`] such weights, so no sample piles up a thread's idle stretch.
/// Otherwise it stays on the wait. The weight takes the earlier sample's labels too: those of the
/// time the CPU was used, not of a phase that began while the thread waited.
#[derive(Clone, Copy, Debug, Default)]
pub struct WaitMover {
    /// The thread's last CPU sample taken where it ran: its index, time and the weights it took.
    last: Option<(usize, u64, u64)>,
}

/// How old, in sampling periods of wall time, a thread's last sample where it ran may be to take
/// the weight of one found at a wait: at a third of a core, 20 periods span the CPU of ~7 samples.
pub const WAIT_MOVE_PERIODS: u64 = 20;
/// How many weights of samples found at a wait one sample may take.
pub const WAIT_MOVE_MAX: u64 = 8;

impl WaitMover {
    /// Adds a CPU sample of this thread to `samples`, or its weight to an earlier one when it was
    /// found at a wait (`at_wait`); returns whether it moved.
    pub fn place(&mut self, samples: &mut Vec<crate::profile::Sample>, sample: crate::profile::Sample, at_wait: bool, period_ns: u64) -> bool {
        if at_wait {
            if self.give_to_last_run(samples, sample.time_ns, sample.weight_ns, period_ns) {
                return true;
            }
        } else {
            self.last = Some((samples.len(), sample.time_ns, 0));
        }
        samples.push(sample);
        false
    }

    /// Adds `weight_ns`, of a sample at `time_ns` that found the thread at a wait, to the thread's
    /// last sample taken where it ran, if it may take it; returns whether it did.
    pub fn give_to_last_run(&mut self, samples: &mut [crate::profile::Sample], time_ns: u64, weight_ns: u64, period_ns: u64) -> bool {
        let Some((index, last_ns, taken)) = &mut self.last else { return false };
        if time_ns.saturating_sub(*last_ns) > WAIT_MOVE_PERIODS * period_ns || *taken >= WAIT_MOVE_MAX {
            return false;
        }
        samples[*index].weight_ns += weight_ns;
        *taken += 1;
        true
    }
}

/// Below this much CPU in a wall period a thread "did not run": a sampler's own few µs on it (a
/// signal handler) must not count.
pub fn wall_ran_threshold(period_ns: u64) -> u64 {
    (period_ns / 100).max(50_000)
}

/// Whether a wall sample takes a thread's stack anew (a signal on Linux, a suspension on macOS)
/// rather than adding its time to its last stack: it ran (its CPU clock moved by at least
/// `threshold`, more than an interruption of ours costs it), it was never walked, or it was
/// scheduled at all since a wall sample that did not interrupt it. The last case is a worker that
/// woke, took a task and blocked somewhere else within microseconds: without it, its new wait would
/// be charged to the stack of its old one. `interrupted_last`: the last wall sample interrupted it
/// on its own CPU (a signal handler's µs then move its clock).
pub fn wall_needs_walk(cpu_delta_ns: u64, threshold: u64, walked_before: bool, interrupted_last: bool) -> bool {
    cpu_delta_ns >= threshold || !walked_before || (cpu_delta_ns > 0 && !interrupted_last)
}

/// A wall sample covers at most this many periods of a late sampler (a stopped process, say).
pub const MAX_WALL_PERIODS: u64 = 10;

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Replays `cpu_per_tick` (a thread's CPU clock advance at each tick) through the policy; returns
    /// the samples taken (tick, weight) and the clock reads made.
    fn replay(cpu_per_tick: &[u64], period: u64) -> (Vec<(u64, u64)>, usize) {
        let mut account = CpuAccount::new(0);
        let (mut clock, mut samples, mut reads) = (0, Vec::new(), 0);
        for (tick, cpu) in cpu_per_tick.iter().enumerate() {
            let tick = tick as u64 + 1;
            clock += cpu;
            if !account.due_for_read(tick) {
                continue;
            }
            reads += 1;
            let delta = account.observe(tick, clock);
            if let Some(weight) = account.accrue(delta, period) {
                account.taken(weight);
                samples.push((tick, weight));
            }
        }
        (samples, reads)
    }

    #[test]
    fn a_busy_thread_is_sampled_once_a_period_and_weights_add_up_to_its_cpu() {
        let period = 1_000_000;
        let (samples, reads) = replay(&[period; 1000], period);
        assert_eq!(samples.len(), 1000);
        assert!(samples.iter().all(|&(_, w)| w == period));
        assert_eq!(reads, 1000);
    }

    #[test]
    fn a_thread_at_a_quarter_duty_is_sampled_every_fourth_tick_with_exact_fidelity() {
        let period = 1_000_000;
        let (samples, _) = replay(&[period / 4; 400], period);
        let sampled: u64 = samples.iter().map(|&(_, w)| w).sum();
        assert_eq!(samples.len(), 100);
        // fidelity = sampled CPU / the thread's CPU
        assert_eq!(sampled, 400 * period / 4);
    }

    #[test]
    fn an_idle_thread_is_never_interrupted_and_its_clock_is_read_less_and_less() {
        let (samples, reads) = replay(&[0; 1000], 1_000_000);
        assert!(samples.is_empty());
        assert!(reads < 1000 / MAX_IDLE_SKIP_TICKS as usize + 20, "{reads} reads of an idle clock");
    }

    #[test]
    fn cpu_used_while_skipped_is_carried_by_the_next_sample() {
        let period = 1_000_000;
        // Idle long enough to be read rarely, then one burst of 3 periods between two reads.
        let mut ticks = vec![0; 100];
        ticks.push(3 * period);
        ticks.extend([0; 40]);
        let (samples, _) = replay(&ticks, period);
        let sampled: u64 = samples.iter().map(|&(_, w)| w).sum();
        // One sample a read, one period each: the burst is carried by the next three reads.
        assert_eq!(samples.len(), 3);
        assert!(samples[0].0 >= 101 && samples[0].0 <= 101 + MAX_IDLE_SKIP_TICKS);
        assert_eq!(sampled, 3 * period);
    }

    #[test]
    fn a_late_sampler_caps_the_carry_so_weights_stay_exact() {
        let period = 1_000_000;
        let (samples, _) = replay(&[20 * period, 0, 0, 0, 0], period);
        // The excess over the 5 ms cap goes to the first sample; the carry drains a period a read
        // (reads thin out as the clock stands still: ticks 1, 2, 4).
        assert_eq!(samples, vec![(1, 15 * period), (2, period), (4, period)]);
    }

    #[test]
    fn both_mode_ticks_at_the_shorter_period_and_bounds_name_the_option() {
        use crate::sampler::{Mode, SamplerConfig};
        let config = SamplerConfig { frequency: 99, wall_frequency: 199, mode: Mode::Both, ..Default::default() };
        let p = Periods::of(&config);
        assert_eq!((p.period_ns, p.wall_period_ns, p.tick_ns), (10_101_010, Some(5_025_125), 5_025_125));
        let bounded = SamplerConfig { max_duration_ns: Some(200_000_000), max_samples: Some(20), ..config };
        assert_eq!(bound_reached(&bounded, 199_000_000, 19), None);
        assert_eq!(bound_reached(&bounded, 200_000_000, 0).as_deref(), Some("maxDuration (200 ms) reached"));
        assert_eq!(bound_reached(&bounded, 0, 20).as_deref(), Some("maxSamples (20) reached"));
    }

    #[test]
    fn auto_takes_the_cpu_clock_where_the_tick_is_twice_the_rate() {
        use crate::sampler::Timer;
        assert_eq!(Timer::Auto.resolve(99, Some(250)), Timer::CpuClock);
        assert_eq!(Timer::Auto.resolve(125, Some(250)), Timer::CpuClock);
        assert_eq!(Timer::Auto.resolve(126, Some(250)), Timer::SamplerThread);
        assert_eq!(Timer::Auto.resolve(999, Some(250)), Timer::SamplerThread);
        assert_eq!(Timer::Auto.resolve(499, Some(1000)), Timer::CpuClock);
        // A 100 Hz kernel ticks too seldom for 99 Hz; macOS has no tick-driven timers.
        assert_eq!(Timer::Auto.resolve(99, Some(100)), Timer::SamplerThread);
        assert_eq!(Timer::Auto.resolve(99, None), Timer::SamplerThread);
        assert_eq!(Timer::PerfEvent.resolve(99, Some(250)), Timer::PerfEvent);
        assert_eq!(Timer::SamplerThread.resolve(10, Some(1000)), Timer::SamplerThread);
    }

    #[test]
    fn a_waiting_thread_that_was_scheduled_in_between_is_walked_again() {
        let threshold = wall_ran_threshold(20_000_000);
        // Still asleep since a sample that did not interrupt it: its last stack stands.
        assert!(!wall_needs_walk(0, threshold, true, false));
        // It woke for a few µs (took a task and blocked elsewhere): walked again.
        assert!(wall_needs_walk(8_000, threshold, true, false));
        // The same µs right after our own signal are the handler's: its last stack stands.
        assert!(!wall_needs_walk(8_000, threshold, true, true));
        // It ran, or was never walked.
        assert!(wall_needs_walk(threshold, threshold, true, true));
        assert!(wall_needs_walk(0, threshold, false, false));
    }

    #[test]
    fn a_sample_found_at_a_wait_gives_its_weight_to_the_last_one_taken_where_the_thread_ran() {
        use crate::profile::Sample;
        let period = 1_000_000;
        let at = |time_ns: u64, stack: u32| Sample {
            thread: 0,
            time_ns,
            weight_ns: period,
            kind: crate::profile::SampleKind::Cpu,
            thread_labels: 0,
            process_labels: 0,
            stack,
            js_stack: crate::profile::NO_JS_STACK,
        };
        let mut samples = Vec::new();
        let mut mover = WaitMover::default();
        // Nothing ran before: it stays on the wait.
        assert!(!mover.place(&mut samples, at(0, 9), true, period));
        assert!(!mover.place(&mut samples, at(1_000_000, 1), false, period));
        for i in 0..WAIT_MOVE_MAX {
            assert!(mover.place(&mut samples, at(2_000_000 + i, 9), true, period));
        }
        // The running sample has taken its most; the next stays on the wait.
        assert!(!mover.place(&mut samples, at(3_000_000, 9), true, period));
        assert_eq!(samples.iter().map(|s| (s.stack, s.weight_ns / period)).collect::<Vec<_>>(), vec![(9, 1), (1, 1 + WAIT_MOVE_MAX), (9, 1)]);
        // Too long after the thread last ran: stays on the wait.
        assert!(!mover.place(&mut samples, at(4_000_000, 2), false, period));
        assert!(!mover.place(&mut samples, at(4_000_000 + WAIT_MOVE_PERIODS * period + 1, 9), true, period));
        let total: u64 = samples.iter().map(|s| s.weight_ns).sum();
        assert_eq!(total, (5 + WAIT_MOVE_MAX) * period, "no weight is lost or made");
    }

    #[test]
    fn wall_threshold_ignores_a_samplers_own_microseconds() {
        assert_eq!(wall_ran_threshold(1_000_000), 50_000);
        assert_eq!(wall_ran_threshold(20_000_000), 200_000);
    }
}
