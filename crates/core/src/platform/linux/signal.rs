//! Choosing and installing the sampling signal.
//!
//! Never SIGPROF: V8's CPU profiler (node:inspector, `--cpu-prof`, RSPACK_PROFILE) takes it over
//! without chaining and restores the previous handler when it stops (docs/sampling.md). A real-time
//! signal nobody handles is ours alone. Once installed the handler stays for the life of the process:
//! restoring SIG_DFL while a signal is still queued would kill the process (the default action of a
//! real-time signal is to terminate).

use std::sync::atomic::{AtomicI32, Ordering};

use super::handler::on_signal;
use crate::sampler::StartError;

/// The signal our handler is installed on, 0 before the first session.
static INSTALLED: AtomicI32 = AtomicI32::new(0);

pub fn installed() -> Option<i32> {
    let s = INSTALLED.load(Ordering::Acquire);
    (s != 0).then_some(s)
}

fn current_handler(signal: i32) -> Option<libc::sighandler_t> {
    // SAFETY: querying only (act = null).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        (libc::sigaction(signal, std::ptr::null(), &mut old) == 0).then_some(old.sa_sigaction)
    }
}

/// Whether `signal` still runs our handler.
pub fn is_ours(signal: i32) -> bool {
    current_handler(signal) == Some(on_signal as *const () as usize)
}

/// Installs the handler on `requested`, or on the first real-time signal without a handler.
pub fn install(requested: Option<i32>) -> Result<i32, StartError> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    // A signal another library took over since is no longer ours to reuse: choose again.
    if let Some(existing) = installed().filter(|&s| is_ours(s)) {
        return match requested {
            Some(r) if r != existing => Err(StartError::Os(format!(
                "option `signal`: this process already samples with signal {existing}; it cannot change within one process"
            ))),
            _ => Ok(existing),
        };
    }
    let signal = match requested {
        Some(s) if !(min..=max).contains(&s) => return Err(StartError::InvalidSignal { signal: s, min, max }),
        Some(s) if current_handler(s) != Some(libc::SIG_DFL) => return Err(StartError::SignalTaken { signal: s }),
        Some(s) => s,
        // The lowest few are often claimed by threading runtimes (glibc keeps two below SIGRTMIN).
        None => ((min + 4)..max)
            .find(|&s| current_handler(s) == Some(libc::SIG_DFL))
            .ok_or(StartError::NoFreeSignal)?,
    };
    // Not SA_ONSTACK: the walk must start on the interrupted stack (and Rust's alternate stacks are
    // only a few pages).
    crate::util::install_handler(signal, on_signal as *const () as usize)
        .map_err(|e| StartError::Os(format!("sigaction({signal}): {e}")))?;
    INSTALLED.store(signal, Ordering::Release);
    crate::unwind::learn_sigreturn_trampoline(signal);
    Ok(signal)
}

/// The layout of `siginfo_t` for a queued signal on 64-bit Linux (the kernel's `_rt` member):
/// libc's `siginfo_t` keeps these fields private, and `rt_tgsigqueueinfo` needs them written.
#[repr(C)]
struct QueuedInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    pid: i32,
    uid: u32,
    value: u64,
    _rest: [u64; 12],
}

const _: () = assert!(std::mem::size_of::<QueuedInfo>() == std::mem::size_of::<libc::siginfo_t>());

/// Sends `signal` with a 64-bit value to thread `tid` of this process (`pid`, run by `uid`; the
/// caller keeps both: reading the uid per signal was a syscall per sample).
pub fn send(pid: i32, uid: u32, tid: i32, signal: i32, value: u64) -> std::io::Result<()> {
    let mut info = QueuedInfo {
        signo: signal,
        errno: 0,
        code: libc::SI_QUEUE,
        _pad: 0,
        pid,
        uid,
        value,
        _rest: [0; 12],
    };
    // SAFETY: `info` has the kernel's siginfo layout and lives across the call.
    let rc = unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, signal, &mut info as *mut QueuedInfo) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}
