//! The process's resident memory, for the trace's memory counter: `task_info`'s
//! `MACH_TASK_BASIC_INFO` (what Activity Monitor and `ps` report as RSS).

use mach2::kern_return::KERN_SUCCESS;
use mach2::message::mach_msg_type_number_t;
use mach2::task::task_info;
use mach2::task_info::{mach_task_basic_info, MACH_TASK_BASIC_INFO, MACH_TASK_BASIC_INFO_COUNT};
use mach2::traps::mach_task_self;

/// Resident set size in bytes, or None if the kernel refuses.
pub fn resident_bytes() -> Option<u64> {
    // SAFETY: a zeroed plain-data struct and its size in natural_t words, as task_info expects.
    unsafe {
        let mut info: mach_task_basic_info = std::mem::zeroed();
        let mut count: mach_msg_type_number_t = MACH_TASK_BASIC_INFO_COUNT;
        let kr = task_info(mach_task_self(), MACH_TASK_BASIC_INFO, (&mut info as *mut mach_task_basic_info).cast(), &mut count);
        (kr == KERN_SUCCESS).then_some(info.resident_size)
    }
}
