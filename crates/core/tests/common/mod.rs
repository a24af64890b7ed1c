//! Shared by the tests whose code runs in signal handlers: an allocator that counts the allocations
//! made on one watched thread, so a handler that allocates is caught.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

pub struct CountingAllocator;
/// The thread whose allocations are counted (0: none).
pub static WATCHED_TID: AtomicI32 = AtomicI32::new(0);
pub static ALLOCATIONS_ON_WATCHED: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let watched = WATCHED_TID.load(Ordering::Relaxed);
        if watched != 0 && libc::gettid() == watched {
            ALLOCATIONS_ON_WATCHED.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}
