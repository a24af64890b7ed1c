//! Everything that talks to the operating system, behind one line. Each platform folder has the
//! same shape and is picked with `#[cfg]` (as samply picks `linux/` or `mac/`), never a trait object:
//!
//! | concern                          | `linux/`                                  | `macos/`                                      |
//! |----------------------------------|-------------------------------------------|-----------------------------------------------|
//! | the sampler (start, stop)        | `mod.rs`: a sampler thread + a signal     | `mod.rs`: a sampler thread + thread_suspend   |
//! | thread discovery, names, roles   | `threads.rs`, `discovery.rs` (/proc)      | `threads.rs` (task_threads, pthread names)    |
//! | per-thread CPU clocks            | `threads.rs` (CPU clock ids)              | `threads.rs` (thread_info)                    |
//! | interrupt + registers            | `signal.rs`, `handler.rs` (ucontext)      | `suspend.rs` (thread_get_state)               |
//! | the module list                  | `modules.rs` (dl_iterate_phdr)            | `modules.rs` (dyld image list)                |
//! | reads that fail, never fault     | `memory.rs` (process_vm_readv)            | `memory.rs` (mach_vm_read_overwrite)          |
//!
//! Above the line ([`crate::sampler`], [`crate::unwind`], the store, labels, export) the code only
//! sees the types defined here and the [`crate::profile::RawProfile`] a stopped sampler returns.

use std::ops::Deref;

use framehop::Module;

use crate::profile::ModuleInfo;

pub mod roles;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub use linux as os;

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(target_os = "macos")]
pub use macos as os;

/// A slice of a loaded module's mapped memory. Modules are never unloaded by node (addons cannot be
/// unloaded), so the memory outlives every walk that reads it.
#[derive(Clone, Copy)]
pub struct MemSlice {
    ptr: *const u8,
    len: usize,
}

impl MemSlice {
    /// # Safety
    /// `ptr..ptr+len` must be mapped, readable module memory that is never unmapped.
    pub unsafe fn new(ptr: *const u8, len: usize) -> MemSlice {
        MemSlice { ptr, len }
    }
}

// SAFETY: read-only view of mapped, never-unmapped module memory.
unsafe impl Send for MemSlice {}
unsafe impl Sync for MemSlice {}

// framehop's section-info struct derives Default over its data type.
impl Default for MemSlice {
    fn default() -> Self {
        MemSlice { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 }
    }
}

impl Deref for MemSlice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: see the constructor's contract; ptr/len describe mapped module memory.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A module as the platform's loader list describes it: its code ranges for symbolization and
/// pprof mappings, and its unwind sections for framehop.
pub struct LoadedModule {
    /// One entry per executable segment (node on Linux has three: a large-pages stub, .text, another stub).
    pub segments: Vec<ModuleInfo>,
    pub unwind_module: Module<MemSlice>,
}
