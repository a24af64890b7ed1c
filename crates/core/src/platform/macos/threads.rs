//! The threads of this process as Mach sees them: the list (`task_threads`), each thread's unique
//! id, CPU time and run state (`thread_info`), name and stack bounds (through its pthread).
//!
//! Names and stack bounds go through `pthread_from_mach_thread_np`, which takes libpthread's list
//! lock: they are read when a thread is found, never while any thread is suspended.

use mach2::kern_return::KERN_SUCCESS;
use mach2::mach_port::mach_port_deallocate;
use mach2::mach_types::thread_act_array_t;
use mach2::message::mach_msg_type_number_t;
use mach2::port::mach_port_t;
use mach2::task::task_threads;
use mach2::traps::mach_task_self;
use mach2::vm::mach_vm_deallocate;

/// A thread's send right, as `task_threads` returns it (one user reference per listing).
pub type ThreadPort = mach_port_t;

/// Every thread of this process as (unique id, port). Each listed port holds a reference the
/// caller keeps (for a thread it tracks) or gives back with [`release`].
pub fn list(out: &mut Vec<(u64, ThreadPort)>) -> bool {
    out.clear();
    let mut threads: thread_act_array_t = std::ptr::null_mut();
    let mut count: mach_msg_type_number_t = 0;
    // SAFETY: the kernel fills in an array it allocated in our address space.
    if unsafe { task_threads(mach_task_self(), &mut threads, &mut count) } != KERN_SUCCESS || threads.is_null() {
        return false;
    }
    // SAFETY: `count` ports at `threads`, ours until the array is deallocated below.
    let ports = unsafe { std::slice::from_raw_parts(threads, count as usize) };
    for &port in ports {
        match thread_id(port) {
            Some(id) => out.push((id, port)),
            None => release(port),
        }
    }
    // SAFETY: the array task_threads allocated, of that size.
    unsafe {
        mach_vm_deallocate(mach_task_self(), threads as u64, (count as usize * std::mem::size_of::<ThreadPort>()) as u64)
    };
    true
}

/// Gives back one reference to a thread's port.
pub fn release(port: ThreadPort) {
    // SAFETY: drops a reference we hold.
    unsafe { mach_port_deallocate(mach_task_self(), port) };
}

/// The system-wide unique id of a thread (what `pthread_threadid_np` returns), None if it exited.
pub fn thread_id(port: ThreadPort) -> Option<u64> {
    // SAFETY: a zeroed plain-data struct filled by the kernel, with its size in words.
    unsafe {
        let mut info: libc::thread_identifier_info = std::mem::zeroed();
        let mut count = libc::THREAD_IDENTIFIER_INFO_COUNT;
        let kr = libc::thread_info(port, libc::THREAD_IDENTIFIER_INFO as u32, &mut info as *mut _ as libc::thread_info_t, &mut count);
        (kr == KERN_SUCCESS).then_some(info.thread_id)
    }
}

/// A thread's CPU time (user + system, µs resolution) and whether it is running now; None once
/// it has exited. A Mach call without locks: safe to make about any thread at any time.
pub fn cpu_and_state(port: ThreadPort) -> Option<(u64, bool)> {
    // SAFETY: as in `thread_id`.
    unsafe {
        let mut info: libc::thread_basic_info = std::mem::zeroed();
        let mut count = libc::THREAD_BASIC_INFO_COUNT;
        let kr = libc::thread_info(port, libc::THREAD_BASIC_INFO as u32, &mut info as *mut _ as libc::thread_info_t, &mut count);
        if kr != KERN_SUCCESS {
            return None;
        }
        let us = |t: libc::time_value_t| t.seconds as u64 * 1_000_000 + t.microseconds as u64;
        Some(((us(info.user_time) + us(info.system_time)) * 1000, info.run_state == libc::TH_STATE_RUNNING))
    }
}

/// A thread's name (`pthread_setname_np`), empty if it has none or has no pthread.
pub fn name(port: ThreadPort) -> String {
    // SAFETY: pthread_from_mach_thread_np returns null for a thread without a pthread; the name is
    // copied into our buffer, NUL-terminated.
    unsafe {
        let thread = libc::pthread_from_mach_thread_np(port);
        if thread == 0 as libc::pthread_t {
            return String::new();
        }
        let mut buf = [0 as libc::c_char; 64];
        if libc::pthread_getname_np(thread, buf.as_mut_ptr(), buf.len()) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// A thread's stack as (lowest, highest) address: walks read inside it directly, elsewhere through
/// checked reads. None for a thread without a pthread.
pub fn stack_bounds(port: ThreadPort) -> Option<(u64, u64)> {
    // SAFETY: as in `name`; the stack of a live pthread is described by its address (the top,
    // stacks grow down) and size.
    unsafe {
        let thread = libc::pthread_from_mach_thread_np(port);
        if thread == 0 as libc::pthread_t {
            return None;
        }
        let top = libc::pthread_get_stackaddr_np(thread) as u64;
        let size = libc::pthread_get_stacksize_np(thread) as u64;
        (top > size && size > 0).then(|| (top - size, top))
    }
}
