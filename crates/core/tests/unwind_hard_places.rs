//! Unwinding where it is hard: 10k-frame recursion, a thread blocked in a syscall, a thread whose
//! stack is nearly used up. The session samples at 4999 Hz; the process must survive each and the
//! stats must say what happened. Sessions are process-wide, so the tests take turns.
//! Linux: the near-the-stack-end case is about the signal handler running on the sampled stack.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use perfprobe_core::profile::RawProfile;
use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::store::MAX_FRAMES;
use perfprobe_core::util::thread_cpu_ns;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn burn(ms: u64) -> u64 {
    let until = thread_cpu_ns() + ms * 1_000_000;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while thread_cpu_ns() < until {
        for _ in 0..1000 {
            x = std::hint::black_box(x.rotate_left(5) ^ 0x100_0000_01b3);
        }
    }
    x
}

fn profile(work: impl FnOnce() -> i32 + Send + 'static) -> (RawProfile, i32) {
    let session = Session::start(SessionOptions { frequency: 4999, ..Default::default() }).expect("start");
    std::thread::sleep(Duration::from_millis(20));
    let tid = std::thread::spawn(work).join().expect("the worker survived");
    (session.stop(), tid)
}

fn samples_of(raw: &RawProfile, tid: i32) -> Vec<&perfprobe_core::profile::Sample> {
    let Some(t) = raw.threads.iter().position(|t| t.tid == tid) else { return Vec::new() };
    raw.samples.iter().filter(|s| s.thread == t as u32).collect()
}

fn gettid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::gettid() }
}

#[inline(never)]
fn recurse(depth: u32, ms: u64) -> u64 {
    if depth == 0 {
        return burn(ms);
    }
    // Work after the call keeps it from becoming a loop (no tail call).
    std::hint::black_box(recurse(std::hint::black_box(depth - 1), ms)).wrapping_add(u64::from(depth))
}

#[test]
fn ten_thousand_frames_are_cut_at_the_frame_limit_and_counted() {
    let _guard = serial();
    let (raw, tid) = profile(|| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let tid = gettid();
                recurse(10_000, 400);
                tid
            })
            .unwrap()
            .join()
            .unwrap()
    });
    let samples = samples_of(&raw, tid);
    assert!(samples.len() > 500, "{} samples of the deep thread", samples.len());
    let full = samples.iter().filter(|s| raw.stacks.frames(s.stack).len() == MAX_FRAMES).count();
    eprintln!("deep: {} samples, {full} at the {MAX_FRAMES}-frame limit; stats {:?}", samples.len(), raw.stats);
    assert!(full * 10 >= samples.len() * 9, "{full} of {} samples reached the limit", samples.len());
    assert!(raw.stats.truncated_stacks >= full as u64);
}

#[test]
fn a_thread_blocked_in_a_syscall_gets_no_samples() {
    let _guard = serial();
    let (raw, tid) = profile(|| {
        let mut fds = [0; 2];
        // SAFETY: a valid two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (read_end, write_end) = (fds[0], fds[1]);
        let blocked = std::thread::spawn(move || {
            let tid = gettid();
            let mut byte = 0u8;
            // SAFETY: reads one byte into a local; blocks until the writer below writes.
            unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
            tid
        });
        // Meanwhile another thread burns, so the sampler is busy signalling.
        burn(1500);
        // SAFETY: writes one byte from a static.
        unsafe { libc::write(write_end, b"x".as_ptr().cast(), 1) };
        let tid = blocked.join().unwrap();
        // SAFETY: closing our own descriptors.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
        tid
    });
    let info = raw.threads.iter().find(|t| t.tid == tid).expect("the blocked thread was seen");
    let samples = samples_of(&raw, tid);
    eprintln!("blocked for 1.5 s: {} samples, {} µs of CPU", samples.len(), info.cpu_ns / 1000);
    assert!(info.cpu_ns < 5_000_000, "blocked thread used {} ns", info.cpu_ns);
    // At most one period of CPU (~200 µs at 4999 Hz) from its start-up and wake-up.
    assert!(samples.len() <= 2, "{} samples of a blocked thread", samples.len());
    let busy = raw.samples.len() - samples.len();
    assert!(busy > 3000, "{busy} samples of the busy thread");
}

fn stack_bottom() -> usize {
    // SAFETY: pthread_getattr_np fills an attr we own and destroy.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
        let (mut addr, mut size) = (std::ptr::null_mut(), 0);
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        addr as usize
    }
}

static LEFT_AT_BOTTOM: AtomicUsize = AtomicUsize::new(0);

/// Recurses until fewer than `margin` bytes of stack are left, then burns there.
#[inline(never)]
fn recurse_to_margin(bottom: usize, margin: usize, ms: u64) -> u64 {
    let pad = [0u8; 256];
    let here = std::hint::black_box(&pad) as *const _ as usize;
    if here - bottom > margin {
        return std::hint::black_box(recurse_to_margin(bottom, margin, ms)).wrapping_add(pad[7] as u64);
    }
    LEFT_AT_BOTTOM.store(here - bottom, Ordering::Relaxed);
    burn(ms)
}

#[test]
fn a_thread_near_its_guard_page_is_sampled_without_a_walk_and_survives() {
    let _guard = serial();
    for margin in [48 << 10, 12 << 10, 6 << 10] {
        let (raw, tid) = profile(move || {
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let tid = gettid();
                    recurse_to_margin(stack_bottom(), margin, 300);
                    tid
                })
                .unwrap()
                .join()
                .unwrap()
        });
        let samples = samples_of(&raw, tid);
        let leaf_only = raw.threads.iter().find(|t| t.tid == tid).map_or(0, |t| t.leaf_only_samples);
        eprintln!(
            "{} bytes left: {} samples, {leaf_only} leaf-only, near_stack_limit {}",
            LEFT_AT_BOTTOM.load(Ordering::Relaxed),
            samples.len(),
            raw.stats.near_stack_limit
        );
        assert!(samples.len() > 500, "{} samples", samples.len());
        if margin > 40 << 10 {
            // Room for a walk: full stacks.
            assert!(leaf_only * 10 < samples.len() as u64, "{leaf_only} leaf-only");
        } else {
            // Almost all its samples were taken at the bottom, without a walk.
            assert!(leaf_only * 10 >= samples.len() as u64 * 8, "{leaf_only} leaf-only of {}", samples.len());
            assert!(raw.stats.near_stack_limit >= leaf_only);
        }
    }
}
