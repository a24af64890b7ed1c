//! The signal handler: the only code that runs inside an interrupted thread.
//!
//! Async-signal-safe by construction: it reads the interrupted registers, walks the stack with
//! [`crate::unwind::walk`] (preallocated cache, bounded reads), copies two label-set ids, and
//! publishes one record of the preallocated [`Store`]. No allocation, no lock, no TLS, errno kept.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use super::threads::{MAX_THREADS, SLOTS};
use crate::labels;
use crate::store::{RecordHeader, Store};
use crate::unwind::{self, StartRegs};

/// Whether handled signals record samples (a signal still in flight after stop is only counted).
pub static RECORDING: AtomicBool = AtomicBool::new(false);
/// This process's pid: only signals we queued ourselves are samples.
pub static PID: AtomicI32 = AtomicI32::new(0);
/// Time spent inside the handler, all threads: the probe's cost in the threads it samples.
pub static HANDLER_NS: AtomicU64 = AtomicU64::new(0);

/// The value a sample signal carries: slot index in the top 16 bits, weight in ns below.
pub const WEIGHT_BITS: u32 = 48;
pub const WEIGHT_MASK: u64 = (1 << WEIGHT_BITS) - 1;

pub fn encode_value(slot: usize, weight_ns: u64) -> u64 {
    ((slot as u64) << WEIGHT_BITS) | weight_ns.min(WEIGHT_MASK)
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
        let started = crate::util::monotonic_ns();
        record(slot_index, value & WEIGHT_MASK, slot, context);
        HANDLER_NS.fetch_add(crate::util::monotonic_ns().saturating_sub(started), Ordering::Relaxed);
    }
    slot.delivered.fetch_add(1, Ordering::Release);
}

unsafe fn record(slot_index: usize, weight_ns: u64, slot: &super::threads::Slot, context: *mut libc::c_void) {
    let Some(mut writer) = Store::global().claim() else { return };
    let walk = unwind::walk(start_regs(context), writer.frames_mut());
    let label_word = slot.label_word.load(Ordering::Relaxed);
    let thread_labels = if label_word.is_null() { 0 } else { (*label_word).load(Ordering::Relaxed).max(0) as u32 };
    writer.publish(RecordHeader {
        thread_slot: slot_index as u32,
        time_ns: crate::util::monotonic_ns(),
        weight_ns,
        thread_labels,
        process_labels: labels::process_labels(),
        depth: walk.depth as u32,
        truncated: walk.truncated,
        cache_busy: walk.cache_busy,
        unknown_region: walk.unknown_region,
    });
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
