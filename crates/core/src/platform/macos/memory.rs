//! Reads of this process's memory that fail instead of faulting: `mach_vm_read_overwrite` on our
//! own task returns an error for unmapped or protected pages. A Mach call that allocates nothing
//! and takes no lock a suspended thread could hold, so the sampler thread may use it while a thread
//! is suspended.

use mach2::kern_return::KERN_SUCCESS;
use mach2::traps::mach_task_self;
use mach2::vm::mach_vm_read_overwrite;

/// Fills `chunk` from `addr` (this process), or returns false.
pub fn read_chunk(addr: u64, chunk: &mut [u64]) -> bool {
    let len = std::mem::size_of_val(chunk) as u64;
    let mut copied = 0;
    // SAFETY: the kernel copies into our own buffer, of the size given.
    let kr = unsafe { mach_vm_read_overwrite(mach_task_self(), addr, len, chunk.as_mut_ptr() as u64, &mut copied) };
    kr == KERN_SUCCESS && copied == len
}
