//! The termination-signal relay in front of a handler that stands for libuv's: what it reports, what
//! it hands on, what it puts back, and that its handler allocates nothing and keeps errno. One test:
//! the relay is process-wide.
#![cfg(target_os = "linux")]

mod common;
use common::{CountingAllocator, ALLOCATIONS_ON_WATCHED, WATCHED_TID};
use std::sync::atomic::{AtomicU64, Ordering};

use perfprobe_core::signal_relay;

/// Counts allocations (tests/common) on the thread that raises the signals (the handler runs on it).
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Calls of the handler installed before the relay (libuv's, in node).
static PREVIOUS_CALLS: AtomicU64 = AtomicU64::new(0);
/// Calls of it that ran with SIGINT or SIGTERM unblocked (libuv's must never nest on one thread).
static UNMASKED_CALLS: AtomicU64 = AtomicU64::new(0);

extern "C" fn previous(_signal: libc::c_int) {
    PREVIOUS_CALLS.fetch_add(1, Ordering::SeqCst);
    unsafe {
        let mut now: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now);
        if libc::sigismember(&now, libc::SIGINT) != 1 || libc::sigismember(&now, libc::SIGTERM) != 1 {
            UNMASKED_CALLS.fetch_add(1, Ordering::SeqCst);
        }
    }
    // Leaves errno changed: the relay must put back the interrupted code's.
    unsafe { *libc::__errno_location() = libc::EINTR };
}

fn action_of(signal: i32) -> libc::sigaction {
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old);
        old
    }
}

fn handler_of(signal: i32) -> usize {
    action_of(signal).sa_sigaction
}

/// Installs `previous` as libuv installs its handler: every signal blocked while it runs.
fn install_previous_as_libuv_does(signal: i32) {
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = previous as *const () as usize;
        libc::sigfillset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Raises `signal` on this thread with errno set to a marker; returns errno after the handler.
fn raise_keeping_errno(signal: i32) -> i32 {
    unsafe {
        *libc::__errno_location() = libc::ENOSPC;
        libc::raise(signal);
        *libc::__errno_location()
    }
}

#[test]
fn relays_to_its_thread_hands_on_when_chained_and_puts_back_what_was_there() {
    let signal = libc::SIGTERM;
    install_previous_as_libuv_does(signal);
    let waiter = std::thread::spawn(|| (0..3).map(|_| signal_relay::wait().unwrap()).collect::<Vec<_>>());

    // Chained (a session runs): the relay's thread hears it, and so does the handler before it.
    signal_relay::arm(true).unwrap();
    assert!(signal_relay::is_installed(signal));
    WATCHED_TID.store(unsafe { libc::gettid() }, Ordering::SeqCst);
    assert_eq!(raise_keeping_errno(signal), libc::ENOSPC, "errno kept across the handler");
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(signal_relay::received(), Some(signal));

    // Unchained (the export at exit): the relay's thread alone hears it.
    signal_relay::arm(false).unwrap();
    assert_eq!(signal_relay::received(), None, "arming starts afresh");
    assert_eq!(raise_keeping_errno(signal), libc::ENOSPC);
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(signal_relay::received(), Some(signal));

    // Armed again over itself: it keeps the handler it first stood in front of.
    signal_relay::arm(true).unwrap();
    assert_eq!(raise_keeping_errno(signal), libc::ENOSPC);
    assert_eq!(PREVIOUS_CALLS.load(Ordering::SeqCst), 2);
    WATCHED_TID.store(0, Ordering::SeqCst);
    assert_eq!(ALLOCATIONS_ON_WATCHED.load(Ordering::SeqCst), 0, "allocations in the relay's handler");
    assert_eq!(UNMASKED_CALLS.load(Ordering::SeqCst), 0, "the previous handler ran with SIGINT or SIGTERM unblocked: a second signal could nest in it");
    assert_eq!(waiter.join().unwrap(), vec![signal; 3]);

    signal_relay::disarm();
    assert_eq!(handler_of(signal), previous as *const () as usize, "the previous handler is back");
    assert_eq!(unsafe { libc::sigismember(&action_of(signal).sa_mask, libc::SIGINT) }, 1, "with its full mask");
    assert!(!signal_relay::is_installed(signal));

    // Over SIG_IGN it does not install: an ignored signal stays ignored.
    unsafe { libc::signal(signal, libc::SIG_IGN) };
    signal_relay::arm(true).unwrap();
    assert!(!signal_relay::is_installed(signal));
    assert!(signal_relay::is_ignored(signal));
    signal_relay::disarm();
}
