//! Termination signals (SIGINT, SIGTERM) relayed to a thread of the probe's own, so a profile can
//! be written while the JS thread is busy or gone, and the process then ended as the signal would
//! have ended it.
//!
//! Node's own listeners (`process.on('SIGTERM')`) need the event loop: libuv's handler only writes
//! to a pipe the loop reads. A loop that never turns (a hung build) never hears the signal. The
//! relay sits in front of whatever handler was there: it notes the signal, writes one byte to a
//! pipe a dedicated thread reads, and (when asked to) calls the previous handler, so node's
//! listeners still run whenever the loop is free.
//!
//! Written by hand rather than with signal-hook: libuv resets a signal to SIG_DFL when node's last
//! listener for it goes, behind any registry's back, so the relay must be installable again over
//! whatever is there at that moment, and removable only while it is still the installed action.
//!
//! The handler follows the rules of `sampler/linux/handler.rs`: atomics, `write(2)`, the previous
//! handler (itself async-signal-safe: libuv's writes to a pipe); no allocation, no lock; errno kept.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// The signals the relay can stand in front of.
pub const SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];

/// Whether a relayed signal is also handed to the handler that was installed before the relay.
static CHAIN: AtomicBool = AtomicBool::new(false);
/// Whether the relay reports signals to its thread (false: it behaves as the previous action).
static ARMED: AtomicBool = AtomicBool::new(false);
/// The last signal reported since [`arm`]; 0 for none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static PIPE_READ: AtomicI32 = AtomicI32::new(-1);
static PIPE: Once = Once::new();
/// The action each of [`SIGNALS`] had when the relay was installed over it: handler address and flags.
static PREVIOUS_HANDLER: [AtomicUsize; 2] = [AtomicUsize::new(libc::SIG_DFL), AtomicUsize::new(libc::SIG_DFL)];
static PREVIOUS_FLAGS: [AtomicI32; 2] = [AtomicI32::new(0), AtomicI32::new(0)];
/// Its mask, put back with it. Only `arm` and `disarm` touch it (never the handler): a lock is fine.
static PREVIOUS_MASK: Mutex<[Option<libc::sigset_t>; 2]> = Mutex::new([None, None]);

/// Every signal blocked while the relay runs: libuv's handler, which the relay calls, takes a lock
/// (a byte read from a pipe) and is installed with a full mask so it never runs nested on one
/// thread; the relay in front of it must keep that promise (a SIGTERM landing inside its SIGINT
/// would otherwise wait forever for the lock its own thread holds).
fn full_mask() -> libc::sigset_t {
    // SAFETY: sigfillset initialises the set it is given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        set
    }
}

fn slot(signal: i32) -> Option<usize> {
    SIGNALS.iter().position(|&s| s == signal)
}

fn current_action(signal: i32) -> Option<libc::sigaction> {
    // SAFETY: reads the action without changing it.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(signal, std::ptr::null(), &mut old) == 0).then_some(old)
    }
}

/// Whether the relay is the action installed for `signal` now.
pub fn is_installed(signal: i32) -> bool {
    current_action(signal).is_some_and(|a| a.sa_sigaction == on_signal as *const () as usize)
}

/// Whether `signal` is ignored (SIG_IGN): the process does not die of it, so nothing is relayed.
pub fn is_ignored(signal: i32) -> bool {
    current_action(signal).is_some_and(|a| a.sa_sigaction == libc::SIG_IGN)
}

/// The pipe the handler writes to; created once, both ends close-on-exec, the write end
/// non-blocking (a full pipe drops the byte: the signal number is in [`received`] too).
fn pipe() -> std::io::Result<()> {
    let mut result = Ok(());
    PIPE.call_once(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            result = Err(std::io::Error::last_os_error());
            return;
        }
        // SAFETY: fcntl on the descriptor just created.
        unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) };
        PIPE_READ.store(fds[0], Ordering::Release);
        PIPE_WRITE.store(fds[1], Ordering::Release);
    });
    result?;
    if PIPE_READ.load(Ordering::Acquire) < 0 {
        return Err(std::io::Error::other("the signal relay's pipe could not be created"));
    }
    Ok(())
}

/// Installs the relay in front of the current action of each of [`SIGNALS`] that is not ignored
/// and not already the relay, and arms it. `chain`: relayed signals are also handed to the previous
/// handler (node's listeners run when the loop is free); without it the relay's thread alone acts.
pub fn arm(chain: bool) -> std::io::Result<()> {
    pipe()?;
    RECEIVED.store(0, Ordering::SeqCst);
    CHAIN.store(chain, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    for (i, &signal) in SIGNALS.iter().enumerate() {
        let Some(old) = current_action(signal) else { continue };
        if old.sa_sigaction == on_signal as *const () as usize || old.sa_sigaction == libc::SIG_IGN {
            continue;
        }
        PREVIOUS_HANDLER[i].store(old.sa_sigaction, Ordering::SeqCst);
        PREVIOUS_FLAGS[i].store(old.sa_flags, Ordering::SeqCst);
        PREVIOUS_MASK.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(old.sa_mask);
        crate::util::install_handler_masked(signal, on_signal as *const () as usize, &full_mask())?;
    }
    Ok(())
}

/// Disarms the relay and puts back the previous action wherever the relay is still installed (an
/// action someone installed over it since stays).
pub fn disarm() {
    ARMED.store(false, Ordering::SeqCst);
    for (i, &signal) in SIGNALS.iter().enumerate() {
        if !is_installed(signal) {
            continue;
        }
        // SAFETY: reinstalls the action read from the kernel in `arm`.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = PREVIOUS_HANDLER[i].load(Ordering::SeqCst);
            action.sa_flags = PREVIOUS_FLAGS[i].load(Ordering::SeqCst);
            match PREVIOUS_MASK.lock().unwrap_or_else(|e| e.into_inner())[i] {
                Some(mask) => action.sa_mask = mask,
                None => {
                    libc::sigemptyset(&mut action.sa_mask);
                }
            }
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether relayed signals are also handed to the previous handler (see [`arm`]).
pub fn chained() -> bool {
    CHAIN.load(Ordering::SeqCst)
}

/// The last signal relayed since [`arm`], if any.
pub fn received() -> Option<i32> {
    Some(RECEIVED.load(Ordering::SeqCst)).filter(|&s| s != 0)
}

/// Blocks until the relay reports a signal, and returns it. For one dedicated thread.
pub fn wait() -> std::io::Result<i32> {
    pipe()?;
    let fd = PIPE_READ.load(Ordering::Acquire);
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a local.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            return Ok(i32::from(byte));
        }
        let err = std::io::Error::last_os_error();
        if n < 0 && err.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return Err(err);
    }
}

/// Ends the process as `signal` ends a process that does not handle it: the default action, so the
/// parent sees "killed by SIGTERM" (a shell's 143), not an exit code.
pub fn end_process_as(signal: i32) -> ! {
    // No atexit handler runs for a death by signal: remove what `--mixed` made V8 write.
    crate::symbolize::perfmap::remove_if_ours();
    // SAFETY: plain calls on this process; the default action of a termination signal ends it.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
        // Delivered to whichever thread does not block it; until then, nothing else runs here.
        loop {
            libc::pause();
        }
    }
}

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: errno is thread-local; the interrupted code must find it as it left it.
    let errno = unsafe { *libc::__errno_location() };
    let Some(i) = slot(signal) else { return };
    let previous = PREVIOUS_HANDLER[i].load(Ordering::Relaxed);
    let armed = ARMED.load(Ordering::Relaxed);
    if armed {
        RECEIVED.store(signal, Ordering::SeqCst);
        let fd = PIPE_WRITE.load(Ordering::Relaxed);
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe (EAGAIN) is fine, RECEIVED holds it.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    if armed && !CHAIN.load(Ordering::Relaxed) {
        // SAFETY: restoring the thread's errno.
        unsafe { *libc::__errno_location() = errno };
        return;
    }
    if previous == libc::SIG_DFL {
        if !armed {
            // Disarmed yet still installed: do what the default would, which is to end the process.
            // SAFETY: signal(2) and raise(3) are async-signal-safe.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
        }
    } else if previous != libc::SIG_IGN {
        // SAFETY: the handler that was installed before the relay, called as its flags say.
        unsafe {
            if PREVIOUS_FLAGS[i].load(Ordering::Relaxed) & libc::SA_SIGINFO != 0 {
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(previous);
                handler(signal, info, context);
            } else {
                let handler: extern "C" fn(libc::c_int) = std::mem::transmute(previous);
                handler(signal);
            }
        }
    }
    // SAFETY: restoring the thread's errno.
    unsafe { *libc::__errno_location() = errno };
}
