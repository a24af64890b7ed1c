//! The sampler against threads of known CPU use, in one process (sessions are process-wide, so
//! the tests take turns through a lock).
//! Linux: threads are named and identified through gettid/prctl (macos_sampler.rs is the macOS one).
#![cfg(target_os = "linux")]

mod common;
use common::{CountingAllocator, ALLOCATIONS_ON_WATCHED, WATCHED_TID};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use perfprobe_core::profile::RawProfile;
use perfprobe_core::sampler::Timer;
use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::symbolize::symbolize;
use perfprobe_core::util::thread_cpu_ns;

/// Counts allocations (tests/common) made on one watched thread: the busy thread allocates nothing itself, so
/// anything counted while it is sampled was allocated by the signal handler.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Burns `ns` of this thread's CPU without allocating, reading its clock every `steps` steps.
/// Inlined, so the CPU lands in the named function that calls it.
#[inline(always)]
fn burn(ns: u64, steps: u32) -> u64 {
    let until = thread_cpu_ns() + ns;
    let mut x = 0x9e3779b97f4a7c15u64;
    while thread_cpu_ns() < until {
        for _ in 0..steps {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(0x100000001b3));
        }
    }
    x
}

/// Burns `ms` of this thread's CPU.
#[inline(never)]
fn chain_leaf(ms: u64) -> u64 {
    burn(ms * 1_000_000, 2000)
}

#[inline(never)]
fn chain_b(ms: u64) -> u64 {
    std::hint::black_box(chain_leaf(ms)).wrapping_add(1)
}

#[inline(never)]
fn chain_a(ms: u64) -> u64 {
    std::hint::black_box(chain_b(ms)).wrapping_add(1)
}

#[inline(never)]
fn chain_entry(ms: u64) -> u64 {
    std::hint::black_box(chain_a(ms)).wrapping_add(1)
}

/// Spawns `n` threads that each burn `ms` through the chain; returns (tid, own CPU ns) of each.
fn burn_threads(n: usize, ms: u64) -> Vec<(i32, u64)> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("burner-{i}"))
                .spawn(move || {
                    let tid = unsafe { libc::gettid() };
                    let before = thread_cpu_ns();
                    chain_entry(ms);
                    (tid, thread_cpu_ns() - before)
                })
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn sampled_for(raw: &RawProfile, tid: i32) -> (u64, usize) {
    let t = raw.threads.iter().position(|t| t.tid == tid).expect("burner thread was seen") as u32;
    raw.samples.iter().filter(|s| s.thread == t).fold((0, 0), |(w, n), s| (w + s.weight_ns, n + 1))
}

/// Every way of timing CPU samples; the machines this runs on allow perf events (`timer` falls
/// back to the sampler thread where they do not, and the JS tests check that path's fallback).
const TIMERS: [Timer; 3] = [Timer::PerfEvent, Timer::SamplerThread, Timer::CpuClock];

/// The most samples per thread-CPU-second a timer gives: CPU-clock timers fire at the kernel's
/// tick (250 Hz on the development VM), the others at any rate asked.
fn rate_bound(timer: Timer, frequency: u32) -> u32 {
    let tick_hz = perfprobe_core::platform::kernel_tick_hz().unwrap_or(100);
    if timer == Timer::CpuClock { frequency.min(tick_hz) } else { frequency }
}

fn profile_burners(frequency: u32, timer: Timer, threads: usize, ms: u64) -> (RawProfile, Vec<(i32, u64)>) {
    profile_burners_then_wait(frequency, timer, threads, ms, 0)
}

/// As [`profile_burners`], stopping the session `linger_ms` after the burners have exited.
fn profile_burners_then_wait(frequency: u32, timer: Timer, threads: usize, ms: u64, linger_ms: u64) -> (RawProfile, Vec<(i32, u64)>) {
    let session = Session::start(SessionOptions { frequency, timer, ..Default::default() }).expect("start");
    // Give the sampler a discovery pass before the burners start; they are found within 10 ms anyway.
    std::thread::sleep(Duration::from_millis(20));
    let burners = burn_threads(threads, ms);
    std::thread::sleep(Duration::from_millis(linger_ms));
    (session.stop(), burners)
}

#[test]
fn each_thread_is_sampled_in_proportion_to_its_cpu_at_99_999_and_4999_hz() {
    let _guard = serial();
    for (frequency, ms, timer) in [(99u32, 1500u64), (999, 700), (4999, 500)].into_iter().flat_map(|(f, ms)| TIMERS.map(|t| (f, ms, t))) {
        let (raw, burners) = profile_burners(frequency, timer, 2, ms);
        assert_eq!(raw.timer, timer.name());
        for (tid, cpu) in burners {
            let (sampled, count) = sampled_for(&raw, tid);
            let ratio = sampled as f64 / cpu as f64;
            let rate = count as f64 / (cpu as f64 / 1e9);
            eprintln!("{frequency} Hz, {timer:?}, tid {tid}: cpu {cpu} sampled {sampled} ratio {ratio:.3}, {count} samples = {rate:.0}/cpu-s");
            // A perf-event sample weighs one period of the task clock, whose hrtimer skips the
            // periods it fired late by: a host that delays the VM costs a burner some (99 Hz: 0.943
            // in a CI run; docs/sampling.md). The other timers weigh by the thread's CPU clock.
            let least = if timer == Timer::PerfEvent { 0.7 } else { 0.95 };
            assert!((least..=1.05).contains(&ratio), "{frequency} Hz, {timer:?}: sampled/CPU = {ratio:.3}");
            // Weights stay exact whatever the load; the count dips when the sampler thread itself
            // waits for a core (two burners and the sampler thread on the 2-core machine): 846/s
            // and, in a fresh-clone CI run, 706/s at 999 Hz and 82/s at 99 Hz, with weights 0.993
            // and 0.986 of the CPU; 3004/s at 4999 Hz (a tick every 200 µs) while cargo ran other
            // test binaries.
            let asked = f64::from(rate_bound(timer, frequency));
            let floor = if frequency >= 4999 { 0.5 } else { 0.6 };
            assert!((floor * asked..=1.10 * asked).contains(&rate), "{frequency} Hz, {timer:?}: {rate:.0} samples per CPU-second");
        }
        assert_eq!(raw.stats.dropped_store_full, 0);
    }
}

#[test]
fn a_thread_that_exits_keeps_all_the_cpu_it_used_in_its_total() {
    let _guard = serial();
    // A thread's total is its CPU clock as the sampler thread last read it, once a tick (up to
    // 100 ms apart while every thread has its own timer); a burner exits between two reads, and
    // what it ran after the last one is known only from its timer's samples. Stopped at once, the
    // session's end accounts for the gone burners; stopped later, the discovery that finds them gone.
    for (timer, linger_ms) in TIMERS.into_iter().flat_map(|t| [(t, 0u64), (t, 250)]) {
        let (raw, burners) = profile_burners_then_wait(999, timer, 2, 300, linger_ms);
        assert_eq!(raw.timer, timer.name());
        // Short by at most the part of a period run after the last sample (cpu-clock timers fire at
        // the kernel's tick) and a 2% margin; a perf-event timer's samples also lack the periods
        // its hrtimer fired late by when the host delays the VM (docs/sampling.md), up to a tenth of
        // a tick's worth here. Over by the perf event's task clock counting interrupts and steal.
        let period_ns = 1_000_000_000 / u64::from(rate_bound(timer, 999));
        let slack_ns = 2 * period_ns + if timer == Timer::PerfEvent { 10_000_000 } else { 0 };
        for (tid, cpu) in burners {
            let total = raw.threads.iter().find(|t| t.tid == tid).expect("burner thread was seen").cpu_ns;
            let ratio = total as f64 / cpu as f64;
            eprintln!("{timer:?}, stopped {linger_ms} ms after, tid {tid}: own CPU {cpu}, total {total} ({ratio:.3}) sampled {:?}", sampled_for(&raw, tid));
            assert!(total + slack_ns + cpu / 50 >= cpu && total <= cpu + cpu / 20 + 2_000_000, "{timer:?}, {linger_ms} ms: total {total} of own CPU {cpu}");
        }
    }
}

/// Burns `us` of this thread's CPU, in smaller steps than a chain.
#[inline(never)]
fn burst_leaf(us: u64) -> u64 {
    burn(us * 1_000, 200)
}

/// A worker as a tokio or rayon pool runs one: woken every `gap_us`, it runs `burst_us` of CPU and
/// parks on a futex again. Returns the profile, the worker's tid and its CPU.
fn profile_bursts(timer: Timer, bursts: u32, burst_us: u64, gap_us: u64) -> (RawProfile, i32, u64) {
    let session = Session::start(SessionOptions { frequency: 999, timer, ..Default::default() }).expect("start");
    std::thread::sleep(Duration::from_millis(20));
    let (wake, woken) = std::sync::mpsc::channel::<bool>();
    let worker = std::thread::Builder::new()
        .name("burst-worker".into())
        .spawn(move || {
            let (tid, before) = (unsafe { libc::gettid() }, thread_cpu_ns());
            while woken.recv() == Ok(true) {
                burst_leaf(burst_us);
            }
            (tid, thread_cpu_ns() - before)
        })
        .unwrap();
    for _ in 0..bursts {
        wake.send(true).unwrap();
        std::thread::sleep(Duration::from_micros(gap_us));
    }
    wake.send(false).unwrap();
    let (tid, cpu) = worker.join().unwrap();
    (session.stop(), tid, cpu)
}

#[test]
fn cpu_used_before_a_wait_is_charged_to_the_code_that_used_it_not_to_the_wait() {
    let _guard = serial();
    for timer in TIMERS {
        // Bursts of a third of a period, so most ticks find the worker parked.
        let (raw, tid, cpu) = profile_bursts(timer, 1000, 300, 1000);
        let sym = symbolize(&raw);
        let t = raw.threads.iter().position(|t| t.tid == tid).expect("worker seen") as u32;
        let (mut total, mut in_burst) = (0u64, 0u64);
        for s in raw.samples.iter().filter(|s| s.thread == t) {
            total += s.weight_ns;
            if sym.frames_root_first(s.stack).any(|f| f.function == "sampler::burst_leaf") {
                in_burst += s.weight_ns;
            }
        }
        let (share, fidelity) = (in_burst as f64 / total.max(1) as f64, total as f64 / cpu as f64);
        eprintln!(
            "{timer:?}: worker cpu {:.1} ms, sampled {:.1} ms, {:.1}% in the bursts; {} moved from waits",
            cpu as f64 / 1e6,
            total as f64 / 1e6,
            share * 100.0,
            raw.stats.moved_from_waits
        );
        // With the sampler thread's samples kept where they find such a worker: 21.9% in the
        // bursts, the rest on the futex it parks on.
        assert!(share >= 0.9, "{timer:?}: {:.1}% of the worker's sampled CPU is in its bursts", share * 100.0);
        assert!((0.9..=1.05).contains(&fidelity), "{timer:?}: sampled/CPU = {fidelity:.3}");
        if timer != Timer::SamplerThread {
            assert_eq!(raw.stats.moved_from_waits, 0, "{timer:?} fires only on a running thread");
        }
    }
}

#[test]
fn the_sampler_thread_reads_resident_memory_every_100_ms_and_at_the_end() {
    let _guard = serial();
    let session = Session::start(SessionOptions::default()).expect("start");
    std::thread::sleep(Duration::from_millis(20));
    let held = std::hint::black_box(vec![1u8; 64 << 20]);
    std::thread::sleep(Duration::from_millis(450));
    let raw = session.stop();
    drop(held);
    let times: Vec<u64> = raw.memory.iter().map(|m| m.time_ns).collect();
    // A point at the first tick, one every 100 ms, one at the stop.
    assert!((5..=8).contains(&times.len()), "{} points: {times:?}", times.len());
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert!(times[0] - raw.start_ns < 20_000_000 && raw.end_ns == *times.last().unwrap());
    let (first, last) = (raw.memory[0].rss_bytes, raw.memory.last().unwrap().rss_bytes);
    assert!(last >= first + (48 << 20), "{first} -> {last}: the 64 MB held is not in the resident set");
}

#[test]
fn stacks_show_the_whole_chain_by_name() {
    let _guard = serial();
    let (raw, burners) = profile_burners(999, Timer::SamplerThread, 1, 400);
    let sym = symbolize(&raw);
    let tid = burners[0].0;
    let t = raw.threads.iter().position(|t| t.tid == tid).unwrap() as u32;
    let samples: Vec<_> = raw.samples.iter().filter(|s| s.thread == t).collect();
    assert!(samples.len() > 200, "{} samples", samples.len());
    let with_chain = samples
        .iter()
        .filter(|s| {
            let names: Vec<&str> = sym.frames_root_first(s.stack).map(|f| f.function.as_str()).collect();
            let pos = |n: &str| names.iter().position(|f| *f == n);
            matches!((pos("sampler::chain_entry"), pos("sampler::chain_a"), pos("sampler::chain_b"), pos("sampler::chain_leaf")),
                (Some(e), Some(a), Some(b), Some(l)) if e < a && a < b && b < l)
        })
        .count();
    if with_chain < samples.len() {
        let s = samples[0];
        let names: Vec<String> = sym.frames_root_first(s.stack).map(|f| format!("{} {:?}:{:?}", f.function, f.file, f.line)).collect();
        eprintln!("example stack without the chain: {names:#?}");
    }
    let share = with_chain as f64 / samples.len() as f64;
    assert!(share >= 0.95, "full chain in {:.1}% of samples", share * 100.0);
}

#[test]
fn the_handler_allocates_nothing() {
    let _guard = serial();
    for timer in TIMERS {
        let session = Session::start(SessionOptions { frequency: 4999, timer, ..Default::default() }).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let handle = std::thread::spawn(|| {
            let tid = unsafe { libc::gettid() };
            WATCHED_TID.store(tid, Ordering::SeqCst);
            chain_entry(400);
            WATCHED_TID.store(0, Ordering::SeqCst);
            tid
        });
        let tid = handle.join().unwrap();
        let raw = session.stop();
        let (_, count) = sampled_for(&raw, tid);
        // 400 ms at 4999 Hz, or at the tick for CPU-clock timers.
        let expected = rate_bound(timer, 4999) as usize * 2 / 5;
        assert!(count > expected / 2, "{timer:?}: only {count} samples of the watched thread");
        assert_eq!(ALLOCATIONS_ON_WATCHED.load(Ordering::SeqCst), 0, "{timer:?}: allocations while being sampled");
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap()
}

#[test]
fn short_lived_threads_and_many_sessions_leak_nothing() {
    let _guard = serial();
    for timer in TIMERS {
        let session = Session::start(SessionOptions { frequency: 999, timer, ..Default::default() }).unwrap();
        for _ in 0..250 {
            let batch: Vec<_> = (0..8)
                .map(|_| std::thread::spawn(|| chain_entry(2)))
                .collect();
            batch.into_iter().for_each(|h| {
                h.join().unwrap();
            });
        }
        let raw = session.stop();
        let exited = raw.threads.iter().filter(|t| t.exited).count();
        let churn_samples = raw.samples.iter().filter(|s| raw.threads[s.thread as usize].exited).count();
        let stats = &raw.stats;
        eprintln!("{timer:?}, 2000 threads: {exited} seen and exited, {churn_samples} samples of them; {stats:?}");
        // Each batch of 8 lives ~8 ms, shorter than the discovery interval (10 ms): about half the
        // threads end unseen, fewer when the probe's own load stretches the batches (measured:
        // 820-950 with per-thread timers, 1000-1100 with the sampler thread waking at 1 kHz).
        assert!(exited >= 600, "{timer:?}: only {exited} of 2000 short threads were seen");
        assert!(churn_samples > 0);
        // Every signal became a kept sample, unless its thread exited first, the store was full, or
        // it found its thread at a wait and gave its weight to an earlier sample.
        assert_eq!(raw.samples.len() as u64 + stats.lost_in_flight + stats.dropped_store_full + stats.moved_from_waits, stats.signals);
        assert_eq!(std::fs::read_to_string("/proc/self/timers").unwrap_or_default(), "");
        assert_eq!(raw.timer, timer.name());
    }

    let (fds, rss) = (open_fds(), rss_kb());
    // Per-thread timers each hold a descriptor: all closed when their session stops.
    for _ in 0..50 {
        let s = Session::start(SessionOptions { frequency: 999, timer: Timer::PerfEvent, ..Default::default() }).unwrap();
        chain_entry(5);
        let raw = s.stop();
        std::hint::black_box(raw);
    }
    let (fds_after, rss_after) = (open_fds(), rss_kb());
    eprintln!("50 sessions: fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} kB");
    // Other tests' threads may hold a descriptor or two at either moment; a leak would be one per session.
    assert!(fds_after <= fds + 2, "open fds grew from {fds} to {fds_after} over 50 sessions");
    assert!(rss_after < rss + 8 * 1024, "RSS grew from {rss} to {rss_after} kB");
}

#[test]
fn a_second_session_is_refused_while_one_runs() {
    let _guard = serial();
    let first = Session::start(SessionOptions::default()).unwrap();
    let second = Session::start(SessionOptions::default());
    assert!(matches!(second, Err(perfprobe_core::sampler::StartError::AlreadyRunning)));
    first.stop();
}

/// Runs `body` on a new thread that names itself `name` after `delay_ms` (it shows its spawner's
/// name until then); returns its tid and whatever `body` returns.
fn spawn_renamed<T: Send + 'static>(name: &'static str, delay_ms: u64, body: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<(i32, T)> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(delay_ms));
        let cname = std::ffi::CString::new(name).unwrap();
        // SAFETY: a NUL-terminated name under 16 bytes, for the calling thread.
        unsafe { libc::prctl(libc::PR_SET_NAME, cname.as_ptr()) };
        chain_entry(30);
        (unsafe { libc::gettid() }, body())
    })
}

#[test]
fn threads_that_name_themselves_after_they_were_found_have_their_own_names_and_roles() {
    let _guard = serial();
    let session = Session::start(SessionOptions { frequency: 199, ..Default::default() }).expect("start");
    std::thread::sleep(Duration::from_millis(20));
    // Renamed within the settling time, and gone before the session ends.
    let (early, ()) = spawn_renamed("tokio-early", 40, || ()).join().unwrap();
    // Renamed long after it was found, and alive when the session ends.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let late = spawn_renamed("rayon-late", 250, move || wait.recv().unwrap());
    std::thread::sleep(Duration::from_millis(350));
    let raw = session.stop();
    release.send(()).unwrap();
    let (late, ()) = late.join().unwrap();
    let seen = |tid: i32| raw.threads.iter().find(|t| t.tid == tid).map(|t| (t.name.as_str(), t.role)).expect("the thread was seen");
    use perfprobe_core::profile::ThreadRole;
    assert_eq!(seen(early), ("tokio-early", ThreadRole::Tokio));
    assert_eq!(seen(late), ("rayon-late", ThreadRole::Rayon));
}

#[test]
fn a_session_started_right_after_a_stop_starts() {
    let _guard = serial();
    // The stopped session's sampler thread lingers in /proc/self/task for a moment after its join;
    // it once passed for a second copy of the probe, and the next start was refused.
    for i in 0..300 {
        let session = Session::start(SessionOptions::default()).unwrap_or_else(|e| panic!("session {i}: {e}"));
        session.stop();
    }
}

#[test]
fn stop_does_not_wait_for_the_samplers_next_tick() {
    let _guard = serial();
    // At 1 Hz the sampler thread sleeps a second between ticks; stop wakes it. The bound is a tenth
    // of that sleep: a stop that waited for the tick would take up to the whole second.
    let options = SessionOptions { frequency: 1, timer: Timer::SamplerThread, ..SessionOptions::default() };
    for _ in 0..5 {
        let session = Session::start(options.clone()).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let asked = std::time::Instant::now();
        session.stop();
        let took = asked.elapsed();
        assert!(took < Duration::from_millis(100), "stop took {took:?}");
    }
}
