//! The signal handler: the only code that runs inside an interrupted thread.
//!
//! Async-signal-safe by construction: it reads the interrupted registers, walks the stack with
//! [`crate::unwind::walk`] (preallocated cache, bounded reads), copies two label-set ids, and
//! publishes one record of the preallocated [`Store`]. No allocation, no lock, no TLS, errno kept.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use super::cpu_timer;
use super::threads::{MAX_THREADS, SLOTS};
use crate::labels;
use crate::profile::SampleKind;
use crate::store::{RecordHeader, Store};
use crate::unwind::{self, StartRegs};

/// Whether handled signals record samples (a signal still in flight after stop is only counted).
pub static RECORDING: AtomicBool = AtomicBool::new(false);
/// This process's pid: only signals we queued ourselves are samples.
pub static PID: AtomicI32 = AtomicI32::new(0);
/// Time spent inside the handler, all threads: the probe's cost in the threads it samples.
pub static HANDLER_NS: AtomicU64 = AtomicU64::new(0);
/// Samples taken on a signal from a thread's own CPU timer ([`cpu_timer`]).
pub static TIMER_SIGNALS: AtomicU64 = AtomicU64::new(0);
/// The CPU each timer signal stands for: the session's sampling period.
pub static TIMER_PERIOD_NS: AtomicU64 = AtomicU64::new(0);

/// `si_code` of a signal the kernel sends for an `O_ASYNC` descriptor (asm-generic/siginfo.h):
/// a perf event's overflow is POLL_IN, or POLL_HUP when its overflow limit ran out.
const POLL_IN: i32 = 1;
const POLL_HUP: i32 = 6;

/// The layout of `siginfo_t` for such a signal on 64-bit Linux (the kernel's `_sigpoll` member),
/// whose `si_fd` libc does not expose.
#[repr(C)]
struct PollInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    band: libc::c_long,
    fd: i32,
}

/// The layout of `siginfo_t` for a POSIX timer's signal on 64-bit Linux (the kernel's `_timer`
/// member), whose overrun count libc does not expose.
#[repr(C)]
struct ClockTimerInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    tid: i32,
    overrun: i32,
    /// The timer's `sigev_value`: [`encode_value`] of its thread's slot.
    value: u64,
}

/// The value a sample signal carries: slot index in the top 16 bits, then the sample's kind in two
/// flags (wall-clock sample; the thread ran), a flag the handler sets on a timer sample that took
/// its thread's carry ([`carries_owed`]), then the weight in ns (up to 9 hours). The handler records
/// the low 48 bits; the sampler thread decodes them ([`decode_weight`]).
pub const WEIGHT_BITS: u32 = 48;
pub const WEIGHT_MASK: u64 = (1 << WEIGHT_BITS) - 1;
const WALL_FLAG: u64 = 1 << 47;
const RUNNING_FLAG: u64 = 1 << 46;
const CARRIED_FLAG: u64 = 1 << 45;
const WEIGHT_NS_MASK: u64 = CARRIED_FLAG - 1;

pub fn encode_value(slot: usize, weight_ns: u64, kind: SampleKind) -> u64 {
    let flags = match kind {
        SampleKind::Cpu => 0,
        SampleKind::WallRunning => WALL_FLAG | RUNNING_FLAG,
        SampleKind::WallWaiting => WALL_FLAG,
    };
    ((slot as u64) << WEIGHT_BITS) | flags | weight_ns.min(WEIGHT_NS_MASK)
}

/// The weight and kind of a recorded sample (its header's `weight_ns` as the handler stored it).
pub fn decode_weight(recorded: u64) -> (u64, SampleKind) {
    let kind = match (recorded & WALL_FLAG != 0, recorded & RUNNING_FLAG != 0) {
        (false, _) => SampleKind::Cpu,
        (true, true) => SampleKind::WallRunning,
        (true, false) => SampleKind::WallWaiting,
    };
    (recorded & WEIGHT_NS_MASK, kind)
}

/// Whether a recorded timer sample's weight includes the CPU its thread used before its timer was
/// opened (`Slot::timer_carry_ns`), which the thread's first clock read already counted.
pub fn carries_owed(recorded: u64) -> bool {
    recorded & CARRIED_FLAG != 0
}

pub extern "C" fn on_signal(_signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: errno is thread-local to the interrupted thread; we restore it on the way out.
    let errno_ptr = unsafe { libc::__errno_location() };
    let saved_errno = unsafe { *errno_ptr };
    // SAFETY: the kernel passes valid siginfo and ucontext pointers to an SA_SIGINFO handler.
    unsafe { handle(&*info, context) };
    unsafe { *errno_ptr = saved_errno };
}

unsafe fn handle(info: &libc::siginfo_t, context: *mut libc::c_void) {
    if info.si_code == POLL_IN || info.si_code == POLL_HUP {
        let info = &*(info as *const libc::siginfo_t as *const PollInfo);
        if let Some(slot) = cpu_timer::slot_of_fd(info.fd) {
            handle_timer(slot, 0, context);
        }
        return;
    }
    if info.si_code == libc::SI_TIMER {
        let info = &*(info as *const libc::siginfo_t as *const ClockTimerInfo);
        let slot = (info.value >> WEIGHT_BITS) as usize;
        if slot < MAX_THREADS {
            handle_timer(slot, u64::try_from(info.overrun).unwrap_or(0), context);
        }
        return;
    }
    // A signal someone else sent (kill, another library) is not a sample: ignore it.
    if info.si_code != libc::SI_QUEUE || info.si_pid() != PID.load(Ordering::Relaxed) {
        return;
    }
    let value = info.si_value().sival_ptr as u64;
    let slot_index = (value >> WEIGHT_BITS) as usize;
    if slot_index >= MAX_THREADS {
        return;
    }
    let slot = &SLOTS[slot_index];
    if RECORDING.load(Ordering::Acquire) {
        let recorded = value & WEIGHT_MASK;
        // Only these samples can find their thread waiting: the sampler thread signals a thread
        // wherever it is, a CPU timer only a running one.
        let may_wait = decode_weight(recorded).1 == SampleKind::Cpu;
        take_sample(slot_index, recorded, slot, context, may_wait);
    }
    slot.delivered.fetch_add(1, Ordering::Release);
}

/// Records the interrupted thread's stack with the recorded weight (`encode_value`'s low bits),
/// adding the time it took to [`HANDLER_NS`]. `may_wait`: a sample that may find its thread
/// waiting in the kernel, which its record then says.
#[inline(always)]
unsafe fn take_sample(slot_index: usize, recorded_weight: u64, slot: &super::threads::Slot, context: *mut libc::c_void, may_wait: bool) {
    let started = crate::util::monotonic_ns();
    let at_wait = may_wait && super::syscall_site::at_wait(&super::syscall_site::resume_point(context));
    // The walk runs on the interrupted thread's stack; a thread close to its guard page would be
    // pushed into it (measured: a thread with 12 KiB left died of "stack overflow" at 4999 Hz).
    if stack_room().is_some_and(|room| room < WALK_STACK_RESERVE) {
        record_leaf(slot_index, recorded_weight, slot, context, at_wait);
    } else {
        record(slot_index, recorded_weight, slot, context, at_wait);
    }
    HANDLER_NS.fetch_add(crate::util::monotonic_ns().saturating_sub(started), Ordering::Relaxed);
}

/// A signal from the thread's own CPU timer: one period of its CPU (one more for each expiry the
/// kernel folded into it while it was pending), plus what the sampler thread left it to carry.
///
/// Not weighed by reading the thread's CPU clock here, though that would be exact: the read updates
/// the scheduler's accounting of the running thread, which then often preempts it inside the
/// handler. Measured with 6 busy threads on 2 cores at 999 Hz: 1.6 ms of wall time per handler and
/// 42 µs of extra CPU per sample, against 6 µs for a sampler-thread signal.
unsafe fn handle_timer(slot_index: usize, overrun: u64, context: *mut libc::c_void) {
    let slot = &SLOTS[slot_index];
    // A signal still queued from a timer since closed can name a descriptor reused for another
    // thread's timer: it is a sample only on the thread the slot is for.
    if slot.tid.load(Ordering::Acquire) != libc::gettid() || !RECORDING.load(Ordering::Acquire) {
        return;
    }
    let carry_ns = slot.timer_carry_ns.swap(0, Ordering::Relaxed);
    let weight_ns = TIMER_PERIOD_NS.load(Ordering::Relaxed) * (1 + overrun) + carry_ns;
    let carried = if carry_ns > 0 { CARRIED_FLAG } else { 0 };
    // Counted like a sent signal: each becomes a kept sample or a counted loss.
    TIMER_SIGNALS.fetch_add(1, Ordering::Relaxed);
    take_sample(slot_index, (encode_value(slot_index, weight_ns, SampleKind::Cpu) | carried) & WEIGHT_MASK, slot, context, false);
}

/// Stack a walk may need below the handler's first frame: 18.6 KiB measured for the whole signal
/// (kernel frame, handler, framehop evaluating CFI rows on the stack), with room to spare.
pub const WALK_STACK_RESERVE: u64 = 32 << 10;

/// Bytes between here and the bottom of the stack mapping we run on, when it is a known stack.
#[inline(always)]
fn stack_room() -> Option<u64> {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as u64;
    super::regions::find(here).map(|(lo, _)| here - lo)
}

// Not inlined: its frame (the walk's) must not be reserved before `stack_room` has been checked.
#[inline(never)]
unsafe fn record(slot_index: usize, weight_ns: u64, slot: &super::threads::Slot, context: *mut libc::c_void, at_wait: bool) {
    let Some(mut writer) = Store::global().claim() else { return };
    let regs = start_regs(context);
    let walk = unwind::walk(regs, writer.frames_mut());
    // The main thread's JS frames, from V8, after the native ones (none unless a session takes them).
    let js_depth = if slot.tid.load(Ordering::Relaxed) == PID.load(Ordering::Relaxed) {
        crate::js::jit::sample(&regs, &mut writer.frames_mut()[walk.depth..])
    } else {
        0
    };
    writer.publish(RecordHeader { js_depth: js_depth as u32, at_wait, ..header(slot_index, weight_ns, slot, walk, false) });
}

/// A sample without a walk: the interrupted pc only, flagged so the stats count it.
#[inline(never)]
unsafe fn record_leaf(slot_index: usize, weight_ns: u64, slot: &super::threads::Slot, context: *mut libc::c_void, at_wait: bool) {
    let Some(mut writer) = Store::global().claim() else { return };
    writer.frames_mut()[0] = start_regs(context).pc;
    let walk = unwind::WalkResult { depth: 1, ..Default::default() };
    writer.publish(RecordHeader { at_wait, ..header(slot_index, weight_ns, slot, walk, true) });
}

#[inline(always)]
unsafe fn header(slot_index: usize, weight_ns: u64, slot: &super::threads::Slot, walk: unwind::WalkResult, low_stack: bool) -> RecordHeader {
    let label_word = slot.label_word.load(Ordering::Relaxed);
    let thread_labels = if label_word.is_null() { 0 } else { (*label_word).load(Ordering::Relaxed).max(0) as u32 };
    RecordHeader {
        thread_slot: slot_index as u32,
        time_ns: crate::util::monotonic_ns(),
        weight_ns,
        thread_labels,
        process_labels: labels::process_labels(),
        depth: walk.depth as u32,
        js_depth: 0,
        truncated: walk.truncated,
        cache_busy: walk.cache_busy,
        unknown_region: walk.unknown_region,
        low_stack,
        at_wait: false,
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn start_regs(context: *mut libc::c_void) -> StartRegs {
    let mc = &(*(context as *const libc::ucontext_t)).uc_mcontext;
    StartRegs {
        pc: mc.gregs[libc::REG_RIP as usize] as u64,
        sp: mc.gregs[libc::REG_RSP as usize] as u64,
        fp: mc.gregs[libc::REG_RBP as usize] as u64,
        lr: 0,
    }
}

#[cfg(target_arch = "aarch64")]
unsafe fn start_regs(context: *mut libc::c_void) -> StartRegs {
    let mc = &(*(context as *const libc::ucontext_t)).uc_mcontext;
    StartRegs { pc: mc.pc, sp: mc.sp, fp: mc.regs[29], lr: mc.regs[30] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_weight_round_trip_through_the_signal_value() {
        for kind in [SampleKind::Cpu, SampleKind::WallRunning, SampleKind::WallWaiting] {
            let value = encode_value(4095, 20_408_163, kind);
            assert_eq!((value >> WEIGHT_BITS) as usize, 4095);
            assert_eq!(decode_weight(value & WEIGHT_MASK), (20_408_163, kind));
            assert!(!carries_owed(value & WEIGHT_MASK));
        }
        let carried = (encode_value(7, 30_000_000, SampleKind::Cpu) | CARRIED_FLAG) & WEIGHT_MASK;
        assert_eq!(decode_weight(carried), (30_000_000, SampleKind::Cpu));
        assert!(carries_owed(carried));
    }
}
