//! Where stacks live: the readable, writable, non-file mappings of this process, as a table the
//! signal handler searches to bound every stack read. A thread's stack is one such mapping; the
//! handler only reads between the interrupted stack pointer and the end of the mapping holding it,
//! so a corrupt frame pointer can never make it touch unmapped memory.
//!
//! The table is a seqlock: the sampler thread (the only writer) bumps the sequence to odd, rewrites,
//! bumps to even; a handler copies the one entry it needs and retries if the sequence moved. Readers
//! never block, and the writer never waits for them.

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Mappings kept; a node process running Rspack has 1-3 thousand mappings in all, fewer are stacks.
const CAPACITY: usize = 16384;
/// How far below its top the main thread's stack may grow when RLIMIT_STACK does not say.
const MAIN_STACK_EXTENT: u64 = 8 << 20;

/// The main thread's stack limit: the handler measures the room a walk has against it, so a smaller
/// `ulimit -s` must not read as 8 MiB.
fn main_stack_extent() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid out-pointer.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } == 0;
    if known && limit.rlim_cur != libc::RLIM_INFINITY && limit.rlim_cur > 0 {
        limit.rlim_cur
    } else {
        MAIN_STACK_EXTENT
    }
}

struct Table {
    seq: AtomicU64,
    len: AtomicUsize,
    starts: [AtomicU64; CAPACITY],
    ends: [AtomicU64; CAPACITY],
}

static TABLE: Table = Table {
    seq: AtomicU64::new(0),
    len: AtomicUsize::new(0),
    starts: [const { AtomicU64::new(0) }; CAPACITY],
    ends: [const { AtomicU64::new(0) }; CAPACITY],
};

/// The region `[start, end)` holding `sp`, if any. Async-signal-safe: atomics only.
pub fn find(sp: u64) -> Option<(u64, u64)> {
    for _attempt in 0..4 {
        let seq = TABLE.seq.load(Ordering::Acquire);
        if seq % 2 == 1 {
            continue;
        }
        let len = TABLE.len.load(Ordering::Relaxed).min(CAPACITY);
        // Binary search for the last start <= sp.
        let (mut lo, mut hi) = (0usize, len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if TABLE.starts[mid].load(Ordering::Relaxed) <= sp {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let found = (lo > 0).then(|| {
            (TABLE.starts[lo - 1].load(Ordering::Relaxed), TABLE.ends[lo - 1].load(Ordering::Relaxed))
        });
        fence(Ordering::Acquire);
        if TABLE.seq.load(Ordering::Relaxed) != seq {
            continue;
        }
        return found.filter(|&(start, end)| start <= sp && sp < end);
    }
    None
}

/// Reads `/proc/self/maps` and republishes the table if it changed. Sampler thread only.
pub fn refresh() -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return false };
    let regions = parse_maps(&maps, main_stack_extent());
    publish(&regions)
}

#[cfg(test)]
pub(crate) fn publish_for_test(regions: &[(u64, u64)]) {
    publish(regions);
}

fn publish(regions: &[(u64, u64)]) -> bool {
    let len = regions.len().min(CAPACITY);
    let current = TABLE.len.load(Ordering::Relaxed);
    let unchanged = current == len
        && regions[..len].iter().enumerate().all(|(i, &(s, e))| {
            TABLE.starts[i].load(Ordering::Relaxed) == s && TABLE.ends[i].load(Ordering::Relaxed) == e
        });
    if unchanged {
        return false;
    }
    let seq = TABLE.seq.load(Ordering::Relaxed);
    TABLE.seq.store(seq + 1, Ordering::Relaxed);
    fence(Ordering::Release);
    for (i, &(s, e)) in regions[..len].iter().enumerate() {
        TABLE.starts[i].store(s, Ordering::Relaxed);
        TABLE.ends[i].store(e, Ordering::Relaxed);
    }
    TABLE.len.store(len, Ordering::Relaxed);
    TABLE.seq.store(seq + 2, Ordering::Release);
    true
}

/// Sorted, merged `[start, end)` ranges of private read-write mappings with no file behind them
/// (thread stacks, `[stack]`). Adjacent ranges merge: a stack may sit right below another mapping.
fn parse_maps(maps: &str, main_stack_extent: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        let path = fields.nth(3).unwrap_or("");
        if !perms.starts_with("rw") || !(path.is_empty() || path.starts_with("[stack")) {
            continue;
        }
        let Some((s, e)) = range.split_once('-') else { continue };
        let (Ok(mut s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) else { continue };
        if path.starts_with("[stack") {
            // The main thread's stack grows down on demand: by the time a sample lands, its mapping
            // may reach below what we read here. Whatever lies between a running thread's sp and
            // the stack's top is mapped, so admit sp anywhere in the stack's maximum extent.
            s = s.min(e.saturating_sub(main_stack_extent));
        }
        match out.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stacks_and_skips_files_and_guard_pages() {
        let maps = "\
7f0000000000-7f0000001000 ---p 00000000 00:00 0 \n\
7f0000001000-7f0000801000 rw-p 00000000 00:00 0 \n\
7f0000801000-7f0000802000 rw-p 00000000 00:00 0 \n\
7f1000000000-7f1000100000 r--p 00000000 08:01 123 /usr/lib/libc.so.6\n\
7f2000000000-7f2000100000 rw-p 00000000 08:01 124 /usr/lib/libc.so.6\n\
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]\n";
        assert_eq!(
            parse_maps(maps, 8 << 20),
            vec![(0x7f0000001000, 0x7f0000802000), (0x7ffc00021000 - (8 << 20), 0x7ffc00021000)]
        );
    }

    #[test]
    fn finds_the_region_of_a_live_stack() {
        let _guard = crate::unwind::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        refresh();
        let local = 0u64;
        let sp = &local as *const u64 as u64;
        let (start, end) = find(sp).expect("this thread's stack is a known region");
        assert!(start <= sp && sp < end);
        assert_eq!(find(8), None);
    }
}
