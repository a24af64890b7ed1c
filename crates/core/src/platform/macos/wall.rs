//! Wall-clock samples: every thread at a fixed wall rate. A thread that ran since its last wall
//! sample (or runs now, by its Mach run state) is suspended and walked; one that waited is recorded
//! where its last wall sample found it, without being suspended.

use super::suspend::NotTaken;
use super::threads;
use super::{js_labels, SamplerRun};
use crate::profile::{Sample, SampleKind, NO_JS_STACK};
use crate::sampler::policy::{wall_needs_walk, wall_ran_threshold, MAX_WALL_PERIODS};

impl SamplerRun {
    /// A wall sample of every thread: suspended and walked when it ran since its last wall sample
    /// (or was never walked), else recorded where its last one found it, as on Linux.
    pub(super) fn sample_wall(&mut self, now: u64, period: u64) {
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
            let delta = cpu.saturating_sub(t.wall_cpu_ns);
            let ran = running || delta >= threshold;
            // A suspension costs the thread no CPU of its own: any move of its clock is its own.
            let walk = running || wall_needs_walk(delta, threshold, t.wall_stack.is_some(), false);
            let weight = now.saturating_sub(t.wall_ns).min(MAX_WALL_PERIODS * period);
            (t.wall_cpu_ns, t.wall_ns) = (cpu, now);
            let kind = if ran { SampleKind::WallRunning } else { SampleKind::WallWaiting };
            if let (false, Some((stack, thread_labels, _))) = (walk, t.wall_stack) {
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
            if let Err(NotTaken::Suspend) = self.take(id, weight, kind, false) {
                gone.push(id);
            }
        }
        for id in gone {
            self.forget(id, now);
        }
    }
}
