//! Whether a signal found a thread waiting in the kernel. A thread blocked in a system call (parked
//! on a futex, in `epoll_wait`, asleep) that takes a signal resumes at that call: rewound onto the
//! call instruction when the kernel restarts the call after the handler, or just past it with
//! `-EINTR` as its result when the call is cut short (`restart_syscall` calls and `epoll_wait`
//! alike). A thread woken from a futex wait that has not run since resumes just past the call with
//! result 0, the wait's operation still in its argument registers. A CPU sample taken at any of
//! these lands on the wait, not on the code that used the CPU before it (docs/sampling.md).
//!
//! A thread preempted just after another call's return (a futex wake that let the woken thread
//! run, a read) resumes past that call with its result: the thread ran there, and it is not matched.

/// The system-call instruction: `syscall` on x86_64, `svc #0` on aarch64.
#[cfg(target_arch = "x86_64")]
const SYSCALL: &[u8] = &[0x0f, 0x05];
#[cfg(target_arch = "aarch64")]
const SYSCALL: &[u8] = &0xd400_0001u32.to_le_bytes();

const PAGE: u64 = 4096;
const EINTR_RESULT: u64 = (-libc::EINTR) as i64 as u64;

/// Where an interrupted thread resumes, and the registers that tell which call it left.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResumePoint {
    pub pc: u64,
    /// The call's result, or its number when it is rewound to be restarted.
    pub result: u64,
    /// The call's first two arguments, which the kernel leaves in place: a futex's address and
    /// operation.
    pub arg0: u64,
    pub arg1: u64,
    /// aarch64 keeps the call's number apart from its result; x86_64 loses it to the result.
    pub number: Option<u64>,
}

/// `futex` operations that wait, with the private and realtime-clock flags masked out.
const FUTEX_WAIT: u64 = 0;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_FLAGS: u64 = 128 | 256;
#[cfg(target_arch = "aarch64")]
const SYS_FUTEX: u64 = 98;

/// Whether a thread resuming at `at` was waiting in the kernel when our signal came: blocked in a
/// call the signal cut short, or woken from a futex wait (result 0) and not yet run since. A
/// thread preempted just after a call's return resumes past it too, with the call's own result;
/// unless that call was a futex wait, it ran there, and it is not matched.
///
/// Async-signal-safe: reads only within the page holding `pc`, and only where the maps say that
/// page may be read, so never a fault; a call split across pages is not recognised.
///
/// # Safety
/// `at.pc` must be the resume address of a thread of this process.
#[inline(always)]
pub unsafe fn at_wait(at: &ResumePoint) -> bool {
    at_wait_in(at, super::regions::is_readable_code(at.pc))
}

/// [`at_wait`], given whether the page holding `at.pc` may be read.
#[inline(always)]
unsafe fn at_wait_in(at: &ResumePoint, readable: bool) -> bool {
    if !readable {
        return false;
    }
    let n = SYSCALL.len() as u64;
    let offset = at.pc % PAGE;
    let call_at = |addr: u64| std::slice::from_raw_parts(addr as *const u8, SYSCALL.len()) == SYSCALL;
    if offset + n <= PAGE && call_at(at.pc) {
        return true;
    }
    if offset < n || !call_at(at.pc - n) {
        return false;
    }
    at.result == EINTR_RESULT || (at.result == 0 && left_futex_wait(at))
}

/// The call just left was a futex wait, as its arguments (and on aarch64 its number) say.
#[inline(always)]
fn left_futex_wait(at: &ResumePoint) -> bool {
    let op = at.arg1 & !FUTEX_FLAGS;
    let waits = op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET;
    match at.number {
        Some(number) => waits && number_is_futex(number),
        // A futex word is a 4-byte aligned address of user memory.
        None => waits && at.arg0 >= 0x1_0000 && at.arg0 % 4 == 0,
    }
}

#[cfg(target_arch = "aarch64")]
fn number_is_futex(number: u64) -> bool {
    number == SYS_FUTEX
}

#[cfg(not(target_arch = "aarch64"))]
fn number_is_futex(_: u64) -> bool {
    false
}

/// The resume point of an interrupted thread.
///
/// # Safety
/// `context` must be the `ucontext_t` the kernel passed to a signal handler.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn resume_point(context: *const libc::c_void) -> ResumePoint {
    let g = &(*(context as *const libc::ucontext_t)).uc_mcontext.gregs;
    let reg = |r: libc::c_int| g[r as usize] as u64;
    ResumePoint { pc: reg(libc::REG_RIP), result: reg(libc::REG_RAX), arg0: reg(libc::REG_RDI), arg1: reg(libc::REG_RSI), number: None }
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn resume_point(context: *const libc::c_void) -> ResumePoint {
    let mc = &(*(context as *const libc::ucontext_t)).uc_mcontext;
    // x0 is both the first argument and the result: the futex address is gone, x8 tells the call.
    ResumePoint { pc: mc.pc, result: mc.regs[0], arg0: 0, arg1: mc.regs[1], number: Some(mc.regs[8]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page-aligned buffer standing for code.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    /// A thread resuming at `pc` with `result`, having called a futex wait (or, not `futex`,
    /// `clock_gettime` into a stack buffer).
    fn left(pc: u64, result: u64, futex: bool) -> ResumePoint {
        let number = if cfg!(target_arch = "aarch64") { Some(if futex { 98 } else { 113 }) } else { None };
        let (arg0, arg1) = if futex { (0x7f00_1234_5678, 128) } else { (1, 0x7ffd_0000_1000) };
        ResumePoint { pc, result, arg0, arg1, number }
    }

    #[test]
    fn a_wait_is_recognised_rewound_onto_its_call_cut_short_or_woken_from_a_futex() {
        let mut page = Box::new(Page([0x90; 4096]));
        let base = page.0.as_ptr() as u64;
        let n = SYSCALL.len() as u64;
        page.0[100..100 + SYSCALL.len()].copy_from_slice(SYSCALL);
        let past = base + 100 + n;
        unsafe {
            // Rewound to be restarted: the register holds the call's number again.
            assert!(at_wait_in(&left(base + 100, 202, true), true));
            // Code the maps do not say may be read is not read.
            assert!(!at_wait_in(&left(base + 100, 202, true), false));
            assert!(at_wait_in(&left(past, EINTR_RESULT, false), true));
            assert!(at_wait_in(&left(past, 0, true), true), "woken from a futex wait");
            // Past a call that returned its own result: the thread ran there.
            assert!(!at_wait_in(&left(past, 0, false), true), "clock_gettime returned");
            assert!(!at_wait_in(&left(past, 1, true), true), "a futex wake returned (one woken)");
            assert!(!at_wait_in(&left(past, (-libc::EAGAIN) as i64 as u64, true), true));
            assert!(!at_wait_in(&left(past + 1, EINTR_RESULT, true), true));
            assert!(!at_wait_in(&left(base + 99, 202, true), true));
            assert!(!at_wait_in(&left(base + 200, EINTR_RESULT, true), true));
        }
        // At the page's edges only the bytes inside it are read.
        page.0[..SYSCALL.len()].copy_from_slice(SYSCALL);
        page.0[4096 - SYSCALL.len()..].copy_from_slice(SYSCALL);
        unsafe {
            assert!(at_wait_in(&left(base, 202, true), true));
            assert!(at_wait_in(&left(base + 4096 - n, 202, true), true));
            assert!(!at_wait_in(&left(base + n - 1, EINTR_RESULT, true), true));
        }
    }

    #[test]
    fn a_thread_our_signal_finds_parked_on_a_futex_is_at_a_wait() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::mpsc::Receiver;
        use std::time::Duration;
        static SEEN: AtomicU64 = AtomicU64::new(0);
        static MATCHED: AtomicU64 = AtomicU64::new(0);
        extern "C" fn probe(_: libc::c_int, _: *mut libc::siginfo_t, context: *mut libc::c_void) {
            // SAFETY: the kernel's context of this very signal.
            let matched = unsafe { at_wait(&resume_point(context)) };
            MATCHED.fetch_add(u64::from(matched), Ordering::SeqCst);
            SEEN.fetch_add(1, Ordering::SeqCst);
        }
        let _guard = crate::unwind::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // The handler reads libc's code only where the maps say it may.
        super::super::regions::refresh();
        let signal = libc::SIGRTMAX() - 1;
        crate::util::install_handler(signal, probe as *const () as usize).unwrap();
        // A futex wait without a timeout is restarted (rewound onto its call); one with a timeout
        // returns -EINTR and its caller waits again.
        let waits: [fn(&Receiver<()>); 2] = [|r| { let _ = r.recv(); }, |r| { let _ = r.recv_timeout(Duration::from_secs(5)); }];
        for (i, wait) in waits.into_iter().enumerate() {
            let (tell, told) = std::sync::mpsc::channel();
            let (release, parked) = std::sync::mpsc::channel::<()>();
            let waiter = std::thread::spawn(move || {
                tell.send(unsafe { libc::pthread_self() }).unwrap();
                wait(&parked);
            });
            let thread = told.recv().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            unsafe { libc::pthread_kill(thread, signal) };
            while SEEN.load(Ordering::SeqCst) == i as u64 {
                std::thread::sleep(Duration::from_millis(1));
            }
            release.send(()).unwrap();
            waiter.join().unwrap();
            assert_eq!(MATCHED.load(Ordering::SeqCst), i as u64 + 1, "wait {i}: cut short and not recognised");
        }
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}
