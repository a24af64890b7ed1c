//! A session's bounds: `max_duration_ns` and `max_samples` end sampling by themselves, cleanly,
//! with the reason in the profile (its own test binary: sessions are process-wide).

use std::time::{Duration, Instant};

use perfprobe_core::sampler::Timer;
use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::util::thread_cpu_ns;

fn burn(ms: u64) {
    let until = thread_cpu_ns() + ms * 1_000_000;
    let mut x = 1u64;
    while thread_cpu_ns() < until {
        x = std::hint::black_box(x.rotate_left(7) ^ 0x9e37_79b9);
    }
}

#[test]
fn max_duration_ends_sampling_at_the_bound_and_says_so() {
    let started = Instant::now();
    let session = Session::start(SessionOptions { frequency: 999, max_duration_ns: Some(200_000_000), ..Default::default() }).unwrap();
    let mut ended_after = None;
    while started.elapsed() < Duration::from_millis(600) {
        burn(5);
        if ended_after.is_none() && session.finished() {
            ended_after = Some(started.elapsed());
        }
    }
    let raw = session.stop();
    let ended_after = ended_after.expect("the session never ended by itself");
    // The sampler checks its bounds every tick (1 ms at 999 Hz); a loaded machine may wake it late.
    assert!(ended_after >= Duration::from_millis(200) && ended_after < Duration::from_millis(350), "ended after {ended_after:?}");
    assert_eq!(raw.partial_reason.as_deref(), Some("maxDuration (200 ms) reached"));
    let span_ms = (raw.end_ns - raw.start_ns) / 1_000_000;
    assert!((200..340).contains(&span_ms), "profile spans {span_ms} ms");
    // At most ~200 ms of this thread's CPU at 999 Hz (less when the machine is busy), none after.
    assert!(raw.samples.len() > 10 && raw.samples.len() < 260, "{} samples", raw.samples.len());
    assert!(raw.samples.iter().all(|s| s.time_ns <= raw.end_ns));

    // The sampler is free again: the next sessions start and sample. With perf-event timers the
    // sampler thread checks the bound only every 10-20 ms, yet keeps exactly as many samples.
    for (timer, kept) in [(Timer::SamplerThread, 20..30), (Timer::PerfEvent, 20..21)] {
        let next = Session::start(SessionOptions { frequency: 999, max_samples: Some(20), timer, ..Default::default() }).unwrap();
        burn(100);
        assert!(next.finished(), "{timer:?}");
        let raw = next.stop();
        assert_eq!(raw.partial_reason.as_deref(), Some("maxSamples (20) reached"));
        assert!(kept.contains(&raw.samples.len()), "{timer:?}: {} samples", raw.samples.len());
    }
}
