//! CPU samples: each tick reads the threads' CPU times and samples every thread that used a
//! period's worth ([`crate::sampler::policy`] decides which and how much, as on Linux). A thread
//! found waiting in the kernel is not suspended: its CPU is carried to its next sample.

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
            if !running && !t.cpu.keep_anywhere() {
                // Waiting in the kernel: its stack is the wait's, and the CPU this sample would
                // carry was used before the wait began. The thread's next sample carries it.
                t.cpu.declined(0, self.period_ns);
                self.profile.stats.declined_at_waits += 1;
                continue;
            }
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

    /// At the session's end, one last sample of each thread still carrying CPU of samples not
    /// taken at a wait, taken wherever the thread is: that CPU stays in the profile.
    pub(super) fn sample_carried(&mut self) {
        let carrying: Vec<(u64, u64)> = self.tracked.iter().filter_map(|(&id, t)| Some((id, t.cpu.left_at_end()?))).collect();
        for (id, weight) in carrying {
            if self.take(id, weight, SampleKind::Cpu).is_ok() {
                self.tracked.get_mut(&id).expect("tracked").cpu.taken(weight);
            }
        }
    }
}
