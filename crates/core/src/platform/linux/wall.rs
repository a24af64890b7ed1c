//! Wall-clock samples: every thread at a fixed wall rate, running or not. A thread that was not
//! scheduled since its last wall sample is still where that sample found it: its time is added to
//! a batch with that stack, without a signal (async-profiler's wall mode does the same), so an idle
//! pool costs a clock read per thread and period ([`wall_needs_walk`] decides).

use super::{SamplerRun, Sent, Tracked};
use crate::profile::{RawProfile, Sample, SampleKind, NO_JS_STACK};
use crate::sampler::policy::{wall_needs_walk, wall_ran_threshold, MAX_WALL_PERIODS};
use crate::util::clock_ns;

impl SamplerRun {
    /// Takes a wall sample of every thread (batched for threads that did not run).
    pub(super) fn sample_wall(&mut self, now: u64, period: u64) {
        let ran_threshold = wall_ran_threshold(period);
        let process_labels = crate::labels::process_labels();
        let mut gone = Vec::new();
        let SamplerRun { tracked, profile, target, .. } = self;
        for t in tracked.values_mut() {
            let Some(cpu) = clock_ns(t.clock) else {
                gone.push(t.tid);
                continue;
            };
            let w = &mut t.wall;
            let delta = cpu.saturating_sub(w.last_cpu_ns);
            let ran = delta >= ran_threshold;
            let walk = wall_needs_walk(delta, ran_threshold, w.stack.is_some(), w.signalled_last);
            w.last_cpu_ns = cpu;
            let weight = now.saturating_sub(w.last_ns).min(MAX_WALL_PERIODS * period) + w.carry_ns;
            w.last_ns = now;
            w.carry_ns = 0;
            w.signalled_last = false;
            if let (false, Some(stack)) = (walk, w.stack) {
                // The phase may change while a thread sleeps: a batch keeps one phase.
                if w.batch.is_some_and(|(_, _, (_, _, p))| p != process_labels) {
                    flush_wall_batch(t, profile);
                }
                let w = &mut t.wall;
                let batch = w.batch.get_or_insert((now.saturating_sub(weight), 0, (stack.0, stack.1, process_labels)));
                batch.1 += weight;
                profile.stats.wall_periods_batched += 1;
                continue;
            }
            flush_wall_batch(t, profile);
            let kind = if ran { SampleKind::WallRunning } else { SampleKind::WallWaiting };
            match target.send(t, weight, kind, &mut profile.stats) {
                Sent::Yes => t.wall.signalled_last = true,
                Sent::Busy | Sent::Failed => t.wall.carry_ns = weight,
                Sent::Gone => {
                    t.wall.carry_ns = weight;
                    gone.push(t.tid);
                }
            }
        }
        self.forget_all(gone, now);
    }
}

/// Records a thread's batch of idle wall periods as one sample (its stack is the last signalled one).
pub(super) fn flush_wall_batch(t: &mut Tracked, profile: &mut RawProfile) {
    if let Some((start, weight, (stack, thread_labels, process_labels))) = t.wall.batch.take() {
        profile.samples.push(Sample {
            thread: t.info as u32,
            // Like a signalled sample, it is stamped at the end of the time it stands for.
            time_ns: start + weight,
            weight_ns: weight,
            kind: SampleKind::WallWaiting,
            thread_labels,
            process_labels,
            stack,
            js_stack: NO_JS_STACK,
        });
    }
}

