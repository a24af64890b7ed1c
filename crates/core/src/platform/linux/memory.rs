//! Reads of this process's memory that fail instead of faulting: `process_vm_readv` on our own pid
//! answers EFAULT for unmapped or protected pages instead of delivering SIGSEGV.

/// One chunk is cached, so a walk through an unknown stack costs a syscall per chunk, not per word.
/// Async-signal-safe: one syscall, no allocation.
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
            let local = libc::iovec { iov_base: self.chunk.as_mut_ptr().cast(), iov_len: CHECKED_CHUNK_BYTES as usize };
            let remote = libc::iovec { iov_base: base as *mut libc::c_void, iov_len: CHECKED_CHUNK_BYTES as usize };
            // SAFETY: a syscall (async-signal-safe) writing only into our own buffer.
            let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
            if n != CHECKED_CHUNK_BYTES as isize {
                return Err(());
            }
            self.base = base;
            self.valid = true;
        }
        Ok(self.chunk[((addr - base) / 8) as usize])
    }
}
