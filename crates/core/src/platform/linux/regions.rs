//! Where stacks and code live: from `/proc/self/maps`, two tables the signal handler searches.
//! Stacks: the readable, writable, non-file mappings; a thread's stack is one of them, and the
//! handler only reads between the interrupted stack pointer and the end of the mapping holding it,
//! so a corrupt frame pointer can never make it touch unmapped memory. Code: the executable
//! mappings, which every return address a walk records must point into.
//!
//! Each table is a seqlock: the sampler thread (the only writer) bumps the sequence to odd, rewrites,
//! bumps to even; a handler copies the one entry it needs and retries if the sequence moved. Readers
//! never block, and the writer never waits for them.

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Stack candidates kept; a node process running Rspack has 1-3 thousand mappings in all, fewer are stacks.
const CAPACITY: usize = 16384;
/// Code ranges kept: the text of each loaded module, V8's code range, the vDSO (a few hundred).
const CODE_CAPACITY: usize = 4096;
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

/// Sorted `[start, end)` ranges behind a seqlock.
struct Table<const N: usize> {
    seq: AtomicU64,
    len: AtomicUsize,
    starts: [AtomicU64; N],
    ends: [AtomicU64; N],
}

impl<const N: usize> Table<N> {
    const fn new() -> Self {
        Table { seq: AtomicU64::new(0), len: AtomicUsize::new(0), starts: [const { AtomicU64::new(0) }; N], ends: [const { AtomicU64::new(0) }; N] }
    }

    /// The range holding `addr`, if any; Err if the table could not be read (a writer kept it busy).
    /// Async-signal-safe: atomics only.
    fn find(&self, addr: u64) -> Result<Option<(u64, u64)>, ()> {
        for _attempt in 0..4 {
            let seq = self.seq.load(Ordering::Acquire);
            if seq % 2 == 1 {
                continue;
            }
            let len = self.len.load(Ordering::Relaxed).min(N);
            // Binary search for the last start <= addr.
            let (mut lo, mut hi) = (0usize, len);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.starts[mid].load(Ordering::Relaxed) <= addr {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let found = (lo > 0).then(|| (self.starts[lo - 1].load(Ordering::Relaxed), self.ends[lo - 1].load(Ordering::Relaxed)));
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != seq {
                continue;
            }
            return Ok(found.filter(|&(start, end)| start <= addr && addr < end));
        }
        Err(())
    }

    fn publish(&self, ranges: &[(u64, u64)]) -> bool {
        let len = ranges.len().min(N);
        let current = self.len.load(Ordering::Relaxed);
        let unchanged = current == len
            && ranges[..len].iter().enumerate().all(|(i, &(s, e))| {
                self.starts[i].load(Ordering::Relaxed) == s && self.ends[i].load(Ordering::Relaxed) == e
            });
        if unchanged {
            return false;
        }
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (i, &(s, e)) in ranges[..len].iter().enumerate() {
            self.starts[i].store(s, Ordering::Relaxed);
            self.ends[i].store(e, Ordering::Relaxed);
        }
        self.len.store(len, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
        true
    }
}

static STACKS: Table<CAPACITY> = Table::new();
static CODE: Table<CODE_CAPACITY> = Table::new();
static READABLE_CODE: Table<CODE_CAPACITY> = Table::new();

/// The region `[start, end)` holding `sp`, if any. Async-signal-safe: atomics only.
pub fn find(sp: u64) -> Option<(u64, u64)> {
    STACKS.find(sp).ok().flatten()
}

/// Whether `addr` may be an instruction: it lies in an executable mapping, or in the reservation an
/// anonymous executable mapping grows into (V8 commits its code range page by page after the last
/// read of the maps). True while the maps were never read or the table is being rewritten: only
/// what is known not to be code is refused. Async-signal-safe: atomics only.
pub fn is_code(addr: u64) -> bool {
    CODE.seq.load(Ordering::Acquire) == 0 || CODE.find(addr).map_or(true, |found| found.is_some())
}

/// Reads `/proc/self/maps` and republishes the tables that changed. Sampler thread only.
pub fn refresh() -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return false };
    let tables = parse(&maps, main_stack_extent());
    let code = CODE.publish(&tables.code);
    READABLE_CODE.publish(&tables.readable_code);
    STACKS.publish(&tables.stacks) | code
}

/// Whether the instruction bytes at `addr` are known to be readable: it lies in a mapping both
/// readable and executable. False when not known (the maps not read, or being rewritten).
/// Async-signal-safe: atomics only.
pub fn is_readable_code(addr: u64) -> bool {
    matches!(READABLE_CODE.find(addr), Ok(Some(_)))
}

#[cfg(test)]
pub(crate) fn publish_for_test(regions: &[(u64, u64)]) {
    STACKS.publish(regions);
}

/// One line of `/proc/self/maps`.
struct Mapping<'a> {
    start: u64,
    end: u64,
    perms: &'a [u8],
    /// Empty for anonymous memory.
    path: &'a str,
}

impl Mapping<'_> {
    fn executable(&self) -> bool {
        self.perms.get(2) == Some(&b'x')
    }
}

fn mappings(maps: &str) -> impl Iterator<Item = Mapping<'_>> {
    maps.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (range, perms) = (fields.next()?, fields.next()?);
        let path = fields.nth(3).unwrap_or("");
        let (s, e) = range.split_once('-')?;
        Some(Mapping { start: u64::from_str_radix(s, 16).ok()?, end: u64::from_str_radix(e, 16).ok()?, perms: perms.as_bytes(), path })
    })
}

/// What the sampler needs from the maps, each sorted, adjacent ranges merged.
#[derive(Default)]
struct Tables {
    /// Private read-write mappings with no file behind them (thread stacks, `[stack]`). A stack
    /// may sit right below another such mapping.
    stacks: Vec<(u64, u64)>,
    /// Where code may run: every executable mapping, and the inaccessible anonymous reservations
    /// next to an anonymous executable one (V8's code range is a `---p` reservation whose pages
    /// turn `rwx`/`r-x` as it compiles).
    code: Vec<(u64, u64)>,
    /// Code that may also be read (`r-x`, `rwx`): with protection keys, a mapping made executable
    /// only cannot be read, and a read of it would fault.
    readable_code: Vec<(u64, u64)>,
}

fn parse(maps: &str, main_stack_extent: u64) -> Tables {
    let lines: Vec<Mapping> = mappings(maps).collect();
    let anonymous_code = |j: Option<usize>| j.and_then(|j| lines.get(j)).is_some_and(|m| m.executable() && m.path.is_empty());
    let mut tables = Tables::default();
    for (i, m) in lines.iter().enumerate() {
        if m.perms.starts_with(b"rw") && m.path.is_empty() {
            push_merged(&mut tables.stacks, m.start, m.end);
        } else if m.perms.starts_with(b"rw") && m.path.starts_with("[stack") {
            // The main thread's stack grows down on demand: by the time a sample lands, its mapping
            // may reach below what we read here. Whatever lies between a running thread's sp and
            // the stack's top is mapped, so admit sp anywhere in the stack's maximum extent.
            push_merged(&mut tables.stacks, m.start.min(m.end.saturating_sub(main_stack_extent)), m.end);
        }
        let reservation = m.perms.starts_with(b"---") && m.path.is_empty();
        if m.executable() || (reservation && (anonymous_code(i.checked_sub(1)) || anonymous_code(Some(i + 1)))) {
            push_merged(&mut tables.code, m.start, m.end);
        }
        if m.executable() && m.perms.starts_with(b"r") {
            push_merged(&mut tables.readable_code, m.start, m.end);
        }
    }
    tables.stacks.sort_unstable();
    tables.code.sort_unstable();
    tables.readable_code.sort_unstable();
    tables
}

fn push_merged(out: &mut Vec<(u64, u64)>, s: u64, e: u64) {
    match out.last_mut() {
        Some(last) if last.1 == s => last.1 = e,
        _ => out.push((s, e)),
    }
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
            parse(maps, 8 << 20).stacks,
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
        let code = walk_here as *const () as usize as u64;
        assert!(is_code(code) && !is_code(sp) && !is_code(0xddb4_2990_0851_4a5f) && !is_code(1));
    }

    #[inline(never)]
    fn walk_here() {}

    #[test]
    fn code_is_every_executable_mapping_and_the_reservation_v8_grows_its_code_into() {
        // V8's code range in node 20.20: a guard page, the committed part, the rest reserved.
        let maps = "\
00400000-00401000 r--p 00000000 08:01 7 /usr/bin/node\n\
00401000-02000000 r-xp 00001000 08:01 7 /usr/bin/node\n\
05000000-05100000 rw-p 00000000 00:00 0 [heap]\n\
7f0000000000-7f0010000000 ---p 00000000 00:00 0 \n\
7fbedb7c2000-7fbedb7c3000 ---p 00000000 00:00 0 \n\
7fbedb7c3000-7fbedb7ff000 rwxp 00000000 00:00 0 \n\
7fbedb7ff000-7fbefb600000 ---p 00000000 00:00 0 \n\
7fbefb600000-7fbefb700000 rw-p 00000000 00:00 0 \n\
7fbf02bc1000-7fbf02bc3000 r-xp 00000000 00:00 0 [vdso]\n";
        assert_eq!(parse(maps, 8 << 20).code, vec![(0x401000, 0x2000000), (0x7fbedb7c2000, 0x7fbefb600000), (0x7fbf02bc1000, 0x7fbf02bc3000)]);
        // Only what may be read: no reservation, and no execute-only mapping.
        let maps = format!("{maps}7fbf03000000-7fbf03001000 --xp 00000000 08:01 9 /opt/xom.so\n");
        assert_eq!(parse(&maps, 8 << 20).readable_code, vec![(0x401000, 0x2000000), (0x7fbedb7c3000, 0x7fbedb7ff000), (0x7fbf02bc1000, 0x7fbf02bc3000)]);
    }
}
