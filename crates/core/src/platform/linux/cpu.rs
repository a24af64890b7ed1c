//! CPU samples timed by the sampler thread: each tick reads the threads' CPU clocks and signals
//! every thread that used a period's worth, carrying that CPU as the sample's weight
//! ([`crate::sampler::policy`] decides which and how much). A sample the handler declined, its
//! thread found waiting in the kernel, comes back here to be carried by the next one.

use std::sync::atomic::Ordering;

use super::handler::{encode_kept, encode_value};
use super::threads::SLOTS;
use super::{SamplerRun, Sent, Tracked};
use crate::profile::SampleKind;
use crate::util::clock_ns;

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
            let Some(cpu) = clock_ns(t.clock) else {
                gone.push(t.tid);
                continue;
            };
            let delta = t.cpu.observe(tick, cpu);
            let info = &mut profile.threads[t.info];
            info.cpu_ns += delta;
            if delta > 0 {
                info.last_seen_ns = now;
            }
            if !config.mode.cpu() || t.timer.is_some() {
                continue;
            }
            take_back_declined(t, *period_ns);
            let Some(weight) = t.cpu.accrue(delta, *period_ns) else { continue };
            // Whether it runs now: a running thread's clock moves between two reads µs apart.
            // Read again only for a thread whose last sample was declined, where it decides.
            if t.cpu.carries_declined && t.cpu.wait_for_cpu(clock_ns(t.clock) != Some(cpu)) {
                continue;
            }
            // While the last signal is still queued, the next one carries this CPU too.
            let value = if t.cpu.keep_anywhere() { encode_kept(t.slot, weight) } else { encode_value(t.slot, weight, SampleKind::Cpu) };
            match target.send(t, value, &mut profile.stats) {
                Sent::Yes => t.cpu.taken(weight),
                Sent::Busy | Sent::Failed => {}
                Sent::Gone => gone.push(t.tid),
            }
        }
        for tid in gone {
            self.forget(tid, now);
        }
    }

    /// At the session's end, one last sample of each thread still carrying CPU of samples the
    /// handler declined, kept wherever the thread is: that CPU stays in the profile, on the
    /// thread's stack at the end rather than nowhere.
    pub(super) fn signal_carried(&mut self) {
        let SamplerRun { tracked, profile, target, period_ns, .. } = self;
        for t in tracked.values_mut().filter(|t| t.timer.is_none()) {
            take_back_declined(t, *period_ns);
            let Some(weight) = t.cpu.left_at_end() else { continue };
            if let Sent::Yes = target.send(t, encode_kept(t.slot, weight), &mut profile.stats) {
                t.cpu.taken(weight);
            }
        }
    }
}

/// Gives a thread's account back the weight of a sample its handler declined since the last tick.
fn take_back_declined(t: &mut Tracked, period_ns: u64) {
    let returned = SLOTS[t.slot].declined_ns.swap(0, Ordering::Relaxed);
    if returned > 0 {
        t.cpu.declined(returned, period_ns);
    }
}
