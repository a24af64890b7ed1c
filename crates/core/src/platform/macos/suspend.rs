//! Taking one sample of another thread: suspend it, read its registers, walk its stack, resume it.
//!
//! Between `thread_suspend` and `thread_resume` the suspended thread may hold any lock of the
//! process (malloc's, dyld's, libpthread's, the ObjC runtime's): nothing here allocates, locks,
//! logs or calls into dyld. The walk uses framehop's allocation-free path with a preallocated cache
//! ([`crate::unwind::walk_in`]), reads the stack inside bounds taken when the thread was found and
//! anything else with `mach_vm_read_overwrite`, which fails instead of faulting. This is the model
//! of V8's own macOS sampler and of samply.

use std::sync::atomic::{AtomicU64, Ordering};

use mach2::kern_return::KERN_SUCCESS;
use mach2::message::mach_msg_type_number_t;
use mach2::thread_act::{thread_get_state, thread_resume, thread_suspend};

use super::threads::ThreadPort;
use crate::unwind::{self, StartRegs, WalkResult};

/// The id of the sampler thread while it holds a thread suspended, else 0: what a test's counting
/// allocator checks to prove that nothing is allocated in that window (tests/macos_sampler.rs).
pub static SUSPENDING_THREAD: AtomicU64 = AtomicU64::new(0);

/// Why no sample was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum NotTaken {
    /// `thread_suspend` failed: the thread exited.
    Suspend,
    /// The thread was suspended but its registers could not be read.
    State,
}

/// Samples the thread behind `port` (from the sampler thread, `own_id`) into `frames` (leaf first). `during` runs while the thread is
/// suspended, for what must be read at the same instant (its label word): it must not allocate or
/// lock either.
pub fn sample(
    own_id: u64,
    port: ThreadPort,
    stack: Option<(u64, u64)>,
    frames: &mut [u64],
    during: impl FnOnce(),
) -> Result<WalkResult, NotTaken> {
    // SAFETY: suspending a thread of our own task; the guard resumes it on every path.
    if unsafe { thread_suspend(port) } != KERN_SUCCESS {
        return Err(NotTaken::Suspend);
    }
    let _resume = Resume { port };
    SUSPENDING_THREAD.store(own_id, Ordering::Relaxed);
    let walked = start_regs(port).map(|regs| unwind::walk_in(regs, stack, frames)).ok_or(NotTaken::State);
    during();
    walked
}

/// Resumes a suspended thread when dropped, on return and on unwinding alike: a panic between
/// suspend and resume (a bug in a walk) must not leave the thread, perhaps the JS thread, stopped
/// for good.
struct Resume {
    port: ThreadPort,
}

impl Drop for Resume {
    fn drop(&mut self) {
        SUSPENDING_THREAD.store(0, Ordering::Relaxed);
        // SAFETY: resumes what `sample` suspended.
        unsafe { thread_resume(self.port) };
    }
}

#[cfg(target_arch = "aarch64")]
fn start_regs(port: ThreadPort) -> Option<StartRegs> {
    let mut state = mach2::structs::arm_thread_state64_t::new();
    let mut count: mach_msg_type_number_t = mach2::structs::arm_thread_state64_t::count();
    // SAFETY: the kernel writes at most `count` words into the struct.
    let kr = unsafe {
        thread_get_state(port, mach2::thread_status::ARM_THREAD_STATE64, &mut state as *mut _ as *mut u32, &mut count)
    };
    (kr == KERN_SUCCESS).then_some(StartRegs { pc: state.__pc, sp: state.__sp, fp: state.__fp, lr: state.__lr })
}

#[cfg(target_arch = "x86_64")]
fn start_regs(port: ThreadPort) -> Option<StartRegs> {
    let mut state = mach2::structs::x86_thread_state64_t::new();
    let mut count: mach_msg_type_number_t = mach2::structs::x86_thread_state64_t::count();
    // SAFETY: the kernel writes at most `count` words into the struct.
    let kr = unsafe {
        thread_get_state(port, mach2::thread_status::x86_THREAD_STATE64, &mut state as *mut _ as *mut u32, &mut count)
    };
    (kr == KERN_SUCCESS).then_some(StartRegs { pc: state.__rip, sp: state.__rsp, fp: state.__rbp, lr: 0 })
}
