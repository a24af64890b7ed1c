//! CPU samples: each tick reads the threads' CPU times and samples every thread that used a
//! period's worth ([`crate::sampler::policy`] decides which and how much, as on Linux).

use super::suspend::NotTaken;
use super::threads;
use super::SamplerRun;
use crate::profile::SampleKind;

impl SamplerRun {
    /// Samples every thread that used at least one period of CPU since its last sample.
    pub(super) fn sample_busy_threads(&mut self, now: u64) {
        self.ticks += 1;
        let tick = self.ticks;
        let ids: Vec<u64> = self.tracked.keys().copied().collect();
        let mut gone = Vec::new();
        for id in ids {
            let t = self.tracked.get_mut(&id).expect("listed above");
            if !t.cpu.due_for_read(tick) {
                continue;
            }
            let Some((cpu, running)) = threads::cpu_and_state(t.port) else {
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
            // In a wait, its stack is the wait's: with a recent sample where it ran to take the
            // weight, it need not be suspended at all.
            if !running && t.waits.give_to_last_run(&mut self.profile.samples, now, weight, self.period_ns) {
                t.cpu.taken(weight);
                self.profile.stats.moved_from_waits += 1;
                continue;
            }
            match self.take(id, weight, SampleKind::Cpu, !running) {
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
}
