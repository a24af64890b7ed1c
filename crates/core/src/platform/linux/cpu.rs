//! CPU samples timed by the sampler thread: each tick reads the threads' CPU clocks and signals
//! every thread that used a period's worth, carrying that CPU as the sample's weight
//! ([`crate::sampler::policy`] decides which and how much).

use super::{SamplerRun, Sent};
use crate::profile::SampleKind;
use crate::util::{clock_ns, monotonic_ns};

impl SamplerRun {
    /// Signals every thread that used at least one period of CPU since its last sample.
    pub(super) fn signal_busy_threads(&mut self, now: u64) {
        let mut gone = Vec::new();
        self.ticks += 1;
        let tick = self.ticks;
        let SamplerRun { tracked, profile, target, config, period_ns, .. } = self;
        for t in tracked.values_mut() {
            if !t.cpu.due_for_read(tick) {
                continue;
            }
            // Taken just before the read, not the tick's start: a timer sample in between is in
            // the read, and would be counted again for a thread that exits before the next one.
            let read_ns = if t.unread.is_some() { monotonic_ns() } else { now };
            let Some(cpu) = clock_ns(t.clock) else {
                gone.push(t.tid);
                continue;
            };
            let delta = t.cpu.observe(tick, cpu);
            if let Some(unread) = &mut t.unread {
                unread.clock_read(read_ns);
            }
            let info = &mut profile.threads[t.info];
            info.cpu_ns += delta;
            if delta > 0 {
                info.last_seen_ns = now;
            }
            if !config.mode.cpu() || t.timer.is_some() {
                continue;
            }
            let Some(weight) = t.cpu.accrue(delta, *period_ns) else { continue };
            // While the last signal is still queued, the next one carries this CPU too.
            match target.send(t, weight, SampleKind::Cpu, &mut profile.stats) {
                Sent::Yes => t.cpu.taken(weight),
                Sent::Busy | Sent::Failed => {}
                Sent::Gone => gone.push(t.tid),
            }
        }
        self.forget_all(gone, now);
    }
}
