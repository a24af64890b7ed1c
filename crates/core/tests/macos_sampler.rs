//! The macOS sampler against a thread of known CPU use (runs on a Mac: .github/workflows/macos.yml;
//! on Linux it is only type-checked, by scripts/apple-check.sh).
#![cfg(target_os = "macos")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use perfprobe_core::platform::macos::suspend::SUSPENDING_THREAD;
use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::util::thread_cpu_ns;

/// Counts allocations the sampler thread makes while it holds a thread suspended (that thread may
/// hold malloc's lock: one such allocation can deadlock the process).
struct Counting;
static ALLOCATED_WHILE_SUSPENDED: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let suspending = SUSPENDING_THREAD.load(Ordering::Relaxed);
        if suspending != 0 {
            let mut me = 0u64;
            // SAFETY: the calling thread's id, into a local.
            unsafe { libc::pthread_threadid_np(0 as libc::pthread_t, &mut me) };
            if me == suspending {
                ALLOCATED_WHILE_SUSPENDED.fetch_add(1, Ordering::Relaxed);
            }
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[inline(never)]
fn macos_burn_here(ms: u64) -> u64 {
    let until = thread_cpu_ns() + ms * 1_000_000;
    let mut x = 1u64;
    while thread_cpu_ns() < until {
        x = std::hint::black_box(x.rotate_left(7) ^ 0x9e37_79b9);
    }
    x
}

#[test]
fn a_busy_thread_is_suspended_walked_and_named() {
    let session = Session::start(SessionOptions { frequency: 999, ..Default::default() }).unwrap();
    let busy = std::thread::Builder::new().name("macos-busy".into()).spawn(|| macos_burn_here(300)).unwrap();
    busy.join().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let raw = session.stop();
    let thread = raw.threads.iter().position(|t| t.name == "macos-busy").expect("the busy thread was found");
    let samples: Vec<_> = raw.samples.iter().filter(|s| s.thread as usize == thread).collect();
    // 300 ms of CPU at 999 Hz: ~300 samples, fewer on a loaded runner.
    assert!(samples.len() > 100, "{} samples", samples.len());
    let sampled: u64 = samples.iter().map(|s| s.weight_ns).sum();
    let fidelity = sampled as f64 / raw.threads[thread].cpu_ns as f64;
    assert!(fidelity > 0.8 && fidelity <= 1.05, "fidelity {fidelity}");
    assert!(raw.modules.iter().any(|m| m.build_id.is_some()), "dyld images carry their UUIDs");
    let profile = perfprobe_core::symbolize::symbolize(&raw);
    let named = samples.iter().filter(|s| {
        profile.stacks[s.stack as usize]
            .iter()
            .any(|&loc| profile.locations[loc as usize].frames.iter().any(|f| f.function.contains("macos_burn_here")))
    });
    assert!(named.count() * 2 > samples.len(), "the busy function is on most of its thread's stacks");
    assert_eq!(ALLOCATED_WHILE_SUSPENDED.load(Ordering::Relaxed), 0, "the sampler allocated with a thread suspended");
}
