//! The process's resident memory, for the trace's memory counter: `/proc/self/statm`, opened once
//! and read again at offset 0 (a pread, no allocation), its second field in pages.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

static STATM: OnceLock<Option<File>> = OnceLock::new();

/// Resident set size in bytes, or None where `/proc` cannot be read.
pub fn resident_bytes() -> Option<u64> {
    let file = STATM.get_or_init(|| File::open("/proc/self/statm").ok()).as_ref()?;
    let mut buf = [0u8; 128];
    let n = file.read_at(&mut buf, 0).ok()?;
    let pages: u64 = std::str::from_utf8(&buf[..n]).ok()?.split_ascii_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_grows_with_touched_pages() {
        let before = super::resident_bytes().unwrap();
        let touched = std::hint::black_box(vec![1u8; 64 << 20]);
        let after = super::resident_bytes().unwrap();
        assert!(after >= before + (48 << 20), "{before} -> {after}");
        drop(touched);
    }
}
