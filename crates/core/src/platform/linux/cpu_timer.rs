//! Per-thread CPU-time timers from `perf_event_open`: the kernel signals a thread itself each time
//! it has run one sampling period, so the sampler thread need not wake at the sampling rate.
//!
//! A software `task-clock` event with a sample period is driven by an hrtimer that only runs while
//! its thread runs (docs/sampling.md: accurate at 1 kHz, where POSIX CPU timers stop at the scheduler
//! tick). With `O_ASYNC`, `F_SETSIG` and `F_SETOWN_EX` naming the thread, each overflow queues our
//! real-time signal to that thread, `si_fd` naming the event. No ring buffer is mapped: the signal
//! is all we use, and each stands for one period of the thread's CPU: the timer only runs while the
//! thread does, and is paused, not reset, while it is switched out.
//!
//! Not every machine allows it (`kernel.perf_event_paranoid` 2 and above without CAP_PERFMON, as
//! kernel samples are asked for; container seccomp profiles): then the sampler thread signals the
//! threads as before.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

use perf_event_open_sys as sys;

// asm-generic/fcntl.h, the same on x86_64 and aarch64; libc exports them for some targets only.
const F_SETSIG: libc::c_int = 10;
const F_SETOWN_EX: libc::c_int = 15;
const F_OWNER_TID: libc::c_int = 0;

#[repr(C)]
struct OwnerEx {
    kind: libc::c_int,
    pid: libc::pid_t,
}

/// Slot index + 1 of the thread each timer descriptor samples, by descriptor: the handler's way
/// from `si_fd` to its slot without a lock. A timer whose descriptor does not fit is not opened.
pub const MAX_TIMER_FD: usize = 1 << 16;
static SLOT_BY_FD: [AtomicU16; MAX_TIMER_FD] = [const { AtomicU16::new(0) }; MAX_TIMER_FD];

/// The slot a timer descriptor samples, for the handler.
#[inline(always)]
pub fn slot_of_fd(fd: i32) -> Option<usize> {
    let entry = SLOT_BY_FD.get(usize::try_from(fd).ok()?)?.load(Ordering::Acquire);
    (entry != 0).then(|| usize::from(entry - 1))
}

/// One thread's timer; disabled and closed when dropped.
pub struct CpuTimer {
    fd: OwnedFd,
}

impl CpuTimer {
    /// Opens a timer signalling `signal` to thread `tid` every `period_ns` of its CPU time, marked
    /// as sampling `slot`. Before it is enabled the caller's slot must be ready for the handler.
    pub fn open(tid: i32, slot: usize, period_ns: u64, signal: i32) -> io::Result<CpuTimer> {
        let mut attr = sys::bindings::perf_event_attr {
            type_: sys::bindings::PERF_TYPE_SOFTWARE,
            size: std::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
            config: u64::from(sys::bindings::PERF_COUNT_SW_TASK_CLOCK),
            ..Default::default()
        };
        attr.__bindgen_anon_1.sample_period = period_ns;
        attr.set_disabled(1);
        // Not exclude_kernel, though that needs perf_event_paranoid <= 1 (or CAP_PERFMON): a user-only
        // event skips each overflow that lands in a syscall, so the kernel time of an I/O-heavy
        // thread would be weighed onto whatever user code ran next. A signal sent in the kernel is
        // delivered on the way out of the syscall, at the call site, as the sampler thread's are.
        attr.set_exclude_hv(1);
        attr.__bindgen_anon_2.wakeup_events = 1;
        // SAFETY: a fully initialised attr that lives across the call.
        let raw = unsafe { sys::perf_event_open(&mut attr, tid, -1, -1, libc::c_ulong::from(sys::bindings::PERF_FLAG_FD_CLOEXEC)) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor the kernel just gave us and nobody else owns.
        let timer = CpuTimer { fd: unsafe { OwnedFd::from_raw_fd(raw) } };
        let fd = raw as usize;
        if fd >= MAX_TIMER_FD || slot + 1 > usize::from(u16::MAX) {
            return Err(io::Error::new(io::ErrorKind::Other, format!("descriptor {fd} is past the handler's table")));
        }
        let owner = OwnerEx { kind: F_OWNER_TID, pid: tid };
        // SAFETY: fcntl on our own descriptor with arguments of the types these commands take.
        let configured = unsafe {
            libc::fcntl(raw, F_SETOWN_EX, &owner as *const OwnerEx) == 0
                && libc::fcntl(raw, F_SETSIG, signal) == 0
                && libc::fcntl(raw, libc::F_SETFL, libc::O_ASYNC) == 0
        };
        if !configured {
            return Err(io::Error::last_os_error());
        }
        SLOT_BY_FD[fd].store((slot + 1) as u16, Ordering::Release);
        // SAFETY: an ioctl on our own perf descriptor.
        if unsafe { sys::ioctls::ENABLE(raw, 0) } != 0 {
            let e = io::Error::last_os_error();
            SLOT_BY_FD[fd].store(0, Ordering::Release);
            return Err(e);
        }
        Ok(timer)
    }
}

impl Drop for CpuTimer {
    fn drop(&mut self) {
        let raw = self.fd.as_raw_fd();
        // SAFETY: an ioctl on our own perf descriptor. Disabled first, so no overflow is signalled
        // after the table entry is cleared (one already queued finds no slot and is only counted).
        unsafe { sys::ioctls::DISABLE(raw, 0) };
        if let Some(entry) = SLOT_BY_FD.get(raw as usize) {
            entry.store(0, Ordering::Release);
        }
    }
}

/// Whether this process may open CPU timers on its threads: tried on the calling thread.
pub fn available(signal: i32) -> io::Result<()> {
    // SAFETY: gettid cannot fail.
    let tid = unsafe { libc::gettid() };
    // A period no thread reaches during the check; slot 0 is never looked up, as no signal comes.
    CpuTimer::open(tid, 0, u64::MAX >> 1, signal).map(drop)
}
