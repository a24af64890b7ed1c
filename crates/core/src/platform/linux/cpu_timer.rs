//! Per-thread CPU-time timers: the kernel signals a thread itself each time it has run one sampling
//! period, so the sampler thread need not wake at the sampling rate, and no sample needs an
//! interrupt sent from another CPU. Two kinds:
//!
//! - `perf-event`: a software `task-clock` event with a sample period, driven by an hrtimer that
//!   only runs while its thread runs (docs/sampling.md: accurate at 1 kHz). With `O_ASYNC`,
//!   `F_SETSIG` and `F_SETOWN_EX` naming the thread, each overflow queues our real-time signal to
//!   that thread, `si_fd` naming the event. No ring buffer is mapped: the signal is all we use, and
//!   each stands for one period of the thread's CPU. Not every machine allows it
//!   (`kernel.perf_event_paranoid` 2 and above without CAP_PERFMON, as kernel samples are asked
//!   for; container seccomp profiles).
//! - `cpu-clock`: a POSIX timer on the thread's CPU clock (`timer_create`, `SIGEV_THREAD_ID`), as
//!   Go's runtime/pprof uses. The kernel checks it at the scheduler tick of the thread's own CPU, so
//!   a sample costs only the signal's delivery: no timer interrupt or inter-processor interrupt of
//!   its own, which is what a sample costs most under a hypervisor. The tick bounds its rate
//!   (HZ: 250 on the development VM), and `si_overrun` keeps the weights exact past it.
//!
//! Where a kind is refused, the sampler thread signals the threads instead.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};

use perf_event_open_sys as sys;

use super::handler::encode_value;
use crate::profile::SampleKind;
use crate::sampler::Timer;

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
pub enum CpuTimer {
    PerfEvent { fd: OwnedFd },
    Clock { id: libc::timer_t },
}

// SAFETY: a POSIX timer id is a process-wide handle, usable from any thread.
unsafe impl Send for CpuTimer {}

impl CpuTimer {
    /// Opens a timer of kind `timer` (`PerfEvent` or `CpuClock`) signalling `signal` to thread `tid`
    /// every `period_ns` of its CPU time, marked as sampling `slot`. Before it is opened the
    /// caller's slot must be ready for the handler.
    pub fn open(timer: Timer, tid: i32, slot: usize, period_ns: u64, signal: i32) -> io::Result<CpuTimer> {
        match timer {
            Timer::PerfEvent => Self::open_perf_event(tid, slot, period_ns, signal),
            Timer::CpuClock => Self::open_clock(tid, slot, period_ns, signal),
            Timer::SamplerThread | Timer::Auto => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a per-thread timer")),
        }
    }

    fn open_clock(tid: i32, slot: usize, period_ns: u64, signal: i32) -> io::Result<CpuTimer> {
        // SAFETY: sigevent is plain data; zero is a valid start for every field.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = signal;
        event.sigev_notify_thread_id = tid;
        event.sigev_value = libc::sigval { sival_ptr: encode_value(slot, 0, SampleKind::Cpu) as *mut libc::c_void };
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: a valid sigevent and out pointer; the clock is the thread's CPU clock.
        if unsafe { libc::timer_create(super::threads::cpu_clock_of(tid), &mut event, &mut id) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let timer = CpuTimer::Clock { id };
        let period = libc::timespec { tv_sec: (period_ns / 1_000_000_000) as _, tv_nsec: (period_ns % 1_000_000_000) as _ };
        let spec = libc::itimerspec { it_interval: period, it_value: period };
        // SAFETY: the timer just created, a valid itimerspec; relative to the clock's current value.
        if unsafe { libc::timer_settime(id, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(timer)
    }

    fn open_perf_event(tid: i32, slot: usize, period_ns: u64, signal: i32) -> io::Result<CpuTimer> {
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
        let timer = CpuTimer::PerfEvent { fd: unsafe { OwnedFd::from_raw_fd(raw) } };
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
        let raw = match self {
            CpuTimer::PerfEvent { fd } => fd.as_raw_fd(),
            CpuTimer::Clock { id } => {
                // SAFETY: our own timer, deleted once; a signal it queued before is still delivered
                // and taken only if its slot is still this thread's (the handler checks).
                unsafe { libc::timer_delete(*id) };
                return;
            }
        };
        // SAFETY: an ioctl on our own perf descriptor. Disabled first, so no overflow is signalled
        // after the table entry is cleared (one already queued finds no slot and is only counted).
        unsafe { sys::ioctls::DISABLE(raw, 0) };
        if let Some(entry) = SLOT_BY_FD.get(raw as usize) {
            entry.store(0, Ordering::Release);
        }
    }
}

/// The CPU a thread's own timer reported after the sampler thread last read the thread's clock.
/// A thread's total is its clock at the last read (each tick, or every few ticks while it idles):
/// one that exits before the next read ran this much more, which only its samples tell.
pub struct UnreadCpu {
    /// When the clock was last read, taken just before the read (monotonic ns; samples carry the
    /// time their handler recorded them, a few µs after the timer fired).
    read_ns: u64,
    /// CPU of the samples taken since then.
    since_read_ns: u64,
    /// What the thread used before its timer was opened: its first clock read counted it, and the
    /// sample that takes it ([`super::handler::carries_owed`]) must not count it again.
    carry_ns: u64,
}

impl UnreadCpu {
    /// A timer opened at `now` whose first sample also carries `carry_ns`.
    pub fn new(carry_ns: u64, now: u64) -> UnreadCpu {
        UnreadCpu { read_ns: now, since_read_ns: 0, carry_ns }
    }

    /// The thread's clock was read at `read_ns`: what its samples carried up to then is in its total.
    pub fn clock_read(&mut self, read_ns: u64) {
        self.read_ns = read_ns;
        self.since_read_ns = 0;
    }

    /// A timer sample taken at `time_ns` weighing `weight_ns`, `carried` when it took the carry.
    pub fn sample(&mut self, time_ns: u64, weight_ns: u64, carried: bool) {
        let carried_ns = if carried { std::mem::take(&mut self.carry_ns).min(weight_ns) } else { 0 };
        if time_ns > self.read_ns {
            self.since_read_ns += weight_ns - carried_ns;
        }
    }

    /// CPU the timer reported beyond the thread's last clock read.
    pub fn ns(&self) -> u64 {
        self.since_read_ns
    }
}

/// How often the kernel's scheduler tick runs (CONFIG_HZ): the resolution of the coarse clocks,
/// which advance once a tick. None if the kernel does not say.
pub fn tick_hz() -> Option<u32> {
    let mut res = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out pointer.
    if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } != 0 || res.tv_sec != 0 || res.tv_nsec <= 0 {
        return None;
    }
    u32::try_from(1_000_000_000 / res.tv_nsec).ok()
}

/// Whether this process may open CPU timers of kind `timer` on its threads: tried on the calling thread.
pub fn available(timer: Timer, signal: i32) -> io::Result<()> {
    // SAFETY: gettid cannot fail.
    let tid = unsafe { libc::gettid() };
    // A period no thread reaches during the check; slot 0 is never looked up, as no signal comes.
    CpuTimer::open(timer, tid, 0, u64::MAX >> 2, signal).map(drop)
}

#[cfg(test)]
mod tests {
    use super::UnreadCpu;

    #[test]
    fn only_samples_after_the_last_read_are_unread_and_the_carry_counts_once() {
        let mut unread = UnreadCpu::new(7_000_000, 100);
        // The sample that took the 7 ms the thread ran before its timer: its first read counted them.
        unread.sample(150, 8_000_000, true);
        assert_eq!(unread.ns(), 1_000_000);
        unread.clock_read(200);
        assert_eq!(unread.ns(), 0);
        // Drained after the read, taken before it: in the total already.
        unread.sample(199, 1_000_000, false);
        unread.sample(250, 1_000_000, false);
        unread.sample(260, 3_000_000, false);
        assert_eq!(unread.ns(), 4_000_000);
    }

    #[test]
    fn a_carry_whose_sample_was_lost_takes_nothing_from_later_samples() {
        // The store was full when the carrying sample came: later ones carry one period each.
        let mut unread = UnreadCpu::new(50_000_000, 100);
        unread.sample(150, 1_000_000, false);
        unread.sample(160, 1_000_000, false);
        assert_eq!(unread.ns(), 2_000_000);
    }
}
