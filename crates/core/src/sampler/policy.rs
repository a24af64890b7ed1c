//! The sampling policy every platform's sampler thread follows, free of OS calls so it is tested
//! everywhere: which threads to interrupt at a tick, what each sample weighs, which threads' clocks
//! to read at all. A thread is interrupted once per sampling period of its own CPU time (like a
//! hardware counter overflow), so the sampled CPU over the threads' CPU (the summary's `fidelity`)
//! stays near 1 whatever the duty cycles (docs/sampling.md).

/// An idle thread's CPU clock is read less and less often, down to once every this many ticks: most
/// of a node process's threads sleep, and a clock read is a syscall. CPU it uses meanwhile is still
/// carried by its next sample's weight.
pub const MAX_IDLE_SKIP_TICKS: u64 = 16;

/// How many ticks in a row a thread whose last sample was declined may be left alone while it is
/// off a CPU ([`CpuAccount::wait_for_cpu`]).
pub const MAX_OFF_CPU_SKIPS: u64 = 4;

/// How many samples of a thread may be declined in a row before one is kept wherever it lands
/// ([`CpuAccount::keep_anywhere`]).
pub const MAX_DECLINES_IN_ROW: u64 = 2;

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
    /// No sample until the clock reaches this: the last one found the thread waiting in the kernel
    /// (see [`CpuAccount::declined`]).
    pub hold_until_cpu_ns: u64,
    /// The carry holds the weight of a declined sample no sample has taken since.
    pub carries_declined: bool,
    /// Ticks in a row at which such a thread was off a CPU and not interrupted.
    pub off_cpu_skips: u64,
    /// Samples declined in a row.
    pub declines_in_row: u64,
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
        let held = self.last_cpu_ns < self.hold_until_cpu_ns;
        (self.pending_ns >= period_ns && !held).then(|| sample_weight(self.pending_ns, period_ns))
    }

    /// A sample found the thread waiting in the kernel: the CPU it would have carried was used
    /// before the wait began, not where the thread is now. `returned_ns` of it (a weight already
    /// [`taken`](Self::taken) by a signal the handler declined) goes back to the carry, and the
    /// thread is not sampled again until its clock has moved by [`wall_ran_threshold`] past the
    /// last read: more than an interruption of ours costs it, so a thread still waiting is not
    /// interrupted at every tick.
    pub fn declined(&mut self, returned_ns: u64, period_ns: u64) {
        self.pending_ns += returned_ns;
        self.hold_until_cpu_ns = self.last_cpu_ns + wall_ran_threshold(period_ns);
        self.carries_declined = true;
        self.declines_in_row += 1;
    }

    /// Whether the next sample is kept wherever it finds the thread, even at a wait: after
    /// [`MAX_DECLINES_IN_ROW`], so a thread whose runs are too short to be caught running (a
    /// worker that wakes for microseconds) does not pile its CPU onto one far-off sample.
    pub fn keep_anywhere(&self) -> bool {
        self.declines_in_row >= MAX_DECLINES_IN_ROW
    }

    /// A sample of `weight_ns` was taken (sent, or recorded on a suspended thread).
    pub fn taken(&mut self, weight_ns: u64) {
        self.pending_ns -= weight_ns.min(self.pending_ns);
        self.carries_declined = false;
        self.off_cpu_skips = 0;
        self.declines_in_row = 0;
    }

    /// Whether to let a due sample wait for the next tick because the thread is off a CPU now
    /// (`running`: its clock moved between two reads µs apart). Only a thread whose last sample
    /// was declined: it is likely still waiting, and interrupting it again would only be declined
    /// again. At most [`MAX_OFF_CPU_SKIPS`] ticks in a row, so a thread that runs only between
    /// ticks is still sampled.
    pub fn wait_for_cpu(&mut self, running: bool) -> bool {
        let wait = self.carries_declined && !running && self.off_cpu_skips < MAX_OFF_CPU_SKIPS;
        self.off_cpu_skips = if wait { self.off_cpu_skips + 1 } else { 0 };
        wait
    }

    /// At the session's end: what a thread still carries of declined samples (with what it used
    /// since), for one last sample taken wherever the thread is. Without it, threads that wait for
    /// most of a build (V8's workers) lost a third of their CPU from the profile.
    pub fn left_at_end(&self) -> Option<u64> {
        (self.carries_declined && self.pending_ns > 0).then_some(self.pending_ns)
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
    fn a_sample_declined_at_a_wait_is_carried_until_the_thread_runs_again() {
        let period = 1_000_000;
        let hold = wall_ran_threshold(period);
        let mut account = CpuAccount::new(0);
        account.observe(1, period);
        let weight = account.accrue(period, period).unwrap();
        account.taken(weight);
        // The handler found it in a syscall: the weight comes back, no sample while it waits, nor
        // for the handler's own microseconds.
        account.observe(2, period);
        account.declined(weight, period);
        assert_eq!(account.pending_ns, period);
        assert_eq!(account.accrue(0, period), None);
        account.observe(3, period + 10_000);
        assert_eq!(account.accrue(10_000, period), None);
        // Once it ran, the carry and what it used since go with its next sample.
        account.observe(4, period + 10_000 + hold);
        assert_eq!(account.accrue(hold, period), Some(period));
        assert_eq!(account.pending_ns, period + 10_000 + hold);
        assert_eq!(account.left_at_end(), Some(period + 10_000 + hold));
        account.taken(period);
        assert_eq!(account.left_at_end(), None);
    }

    #[test]
    fn a_declined_thread_is_left_alone_off_a_cpu_for_a_few_ticks_and_declined_only_twice_in_a_row() {
        let period = 1_000_000;
        let mut account = CpuAccount::new(0);
        // Nothing declined: sampled wherever it is.
        assert!(!account.wait_for_cpu(false));
        account.declined(period, period);
        // Off a CPU: left alone for MAX_OFF_CPU_SKIPS ticks, then interrupted anyway.
        for _ in 0..MAX_OFF_CPU_SKIPS {
            assert!(account.wait_for_cpu(false));
        }
        assert!(!account.wait_for_cpu(false));
        assert!(account.wait_for_cpu(false), "the count starts again");
        assert!(!account.wait_for_cpu(true), "running: interrupted at once");
        assert!(!account.keep_anywhere());
        account.declined(period, period);
        assert!(account.keep_anywhere(), "the third in a row is kept wherever it lands");
        account.taken(2 * period);
        assert!(!account.keep_anywhere() && !account.wait_for_cpu(false));
    }

    #[test]
    fn wall_threshold_ignores_a_samplers_own_microseconds() {
        assert_eq!(wall_ran_threshold(1_000_000), 50_000);
        assert_eq!(wall_ran_threshold(20_000_000), 200_000);
    }
}
