//! Reads of this process's memory that fail instead of faulting: `mach_vm_read_overwrite` on our
//! own task returns an error for unmapped or protected pages. It is a Mach call that allocates
//! nothing and takes no lock a suspended thread could hold, so the sampler thread may use it while
//! a thread is suspended.

use mach2::kern_return::KERN_SUCCESS;
use mach2::traps::mach_task_self;
use mach2::vm::mach_vm_read_overwrite;

/// One chunk is cached, so a walk through an unknown stack costs a call per chunk, not per word.
pub struct CheckedReader {
    base: u64,
    valid: bool,
    chunk: [u64; CHECKED_CHUNK_WORDS],
}

const CHECKED_CHUNK_WORDS: usize = 128;
const CHECKED_CHUNK_BYTES: u64 = (CHECKED_CHUNK_WORDS * 8) as u64;

impl Default for CheckedReader {
    fn default() -> Self {
        CheckedReader::new()
    }
}

impl CheckedReader {
    pub fn new() -> CheckedReader {
        CheckedReader { base: 0, valid: false, chunk: [0; CHECKED_CHUNK_WORDS] }
    }

    pub fn read(&mut self, addr: u64) -> Result<u64, ()> {
        let base = addr & !(CHECKED_CHUNK_BYTES - 1);
        if !self.valid || base != self.base {
            self.valid = false;
            let mut copied = 0;
            // SAFETY: the kernel copies into our own buffer, of the size given.
            let kr = unsafe {
                mach_vm_read_overwrite(mach_task_self(), base, CHECKED_CHUNK_BYTES, self.chunk.as_mut_ptr() as u64, &mut copied)
            };
            if kr != KERN_SUCCESS || copied != CHECKED_CHUNK_BYTES {
                return Err(());
            }
            self.base = base;
            self.valid = true;
        }
        Ok(self.chunk[((addr - base) / 8) as usize])
    }
}
