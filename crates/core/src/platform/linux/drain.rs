//! Draining the store: turns the records handlers wrote into the profile's samples, attributed to
//! the threads that are still tracked (a record whose thread was forgotten is a counted loss). A CPU
//! sample that found its thread at a wait gives its weight to the thread's last one taken where it
//! ran ([`crate::sampler::policy::WaitMover`]).

use super::handler::{carries_owed, decode_weight};
use super::SamplerRun;
use crate::profile::{Sample, NO_JS_STACK};
use crate::store::Store;

impl SamplerRun {
    pub(super) fn drain(&mut self) {
        // Timers keep sampling between the sampler thread's checks: `max_samples` is still exact.
        let max_samples = self.config.max_samples.map_or(usize::MAX, |max| max as usize);
        let SamplerRun { by_slot, tracked, profile, period_ns, .. } = self;
        Store::global().drain(|header, frames, js_frames| {
            if profile.samples.len() >= max_samples {
                return;
            }
            let Some(t) = by_slot.get(&(header.thread_slot as usize)).and_then(|tid| tracked.get_mut(tid)) else {
                // Its thread was forgotten after its handler ran but before this drain: counted, so
                // every signal stays a kept sample or a counted loss.
                profile.stats.lost_in_flight += 1;
                return;
            };
            let stats = &mut profile.stats;
            stats.truncated_stacks += u64::from(header.truncated);
            stats.unwind_cache_busy += u64::from(header.cache_busy);
            stats.unknown_stack_region += u64::from(header.unknown_region);
            stats.near_stack_limit += u64::from(header.low_stack);
            profile.threads[t.info].leaf_only_samples += u64::from(header.unknown_region || header.cache_busy || header.low_stack);
            let stack = profile.stacks.intern(frames);
            let js_stack = if js_frames.is_empty() { NO_JS_STACK } else { profile.js_stacks.intern(js_frames) };
            let (weight_ns, kind) = decode_weight(header.weight_ns);
            if let (Some(unread), false) = (&mut t.unread, kind.is_wall()) {
                unread.sample(header.time_ns, weight_ns, carries_owed(header.weight_ns));
            }
            let sample = Sample {
                thread: t.info as u32,
                time_ns: header.time_ns,
                weight_ns,
                kind,
                thread_labels: header.thread_labels,
                process_labels: header.process_labels,
                stack,
                js_stack,
            };
            if kind.is_wall() {
                t.wall.stack = Some((stack, header.thread_labels, header.process_labels));
                profile.samples.push(sample);
            } else if t.waits.place(&mut profile.samples, sample, header.at_wait, *period_ns) {
                profile.stats.moved_from_waits += 1;
            }
        });
        self.profile.stats.dropped_store_full += Store::global().take_dropped();
    }
}
