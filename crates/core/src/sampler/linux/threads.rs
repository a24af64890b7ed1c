//! The threads of this process, as the sampler thread and the signal handler share them.
//!
//! A fixed table of slots lives for the whole process: the handler finds its slot by the index the
//! sampler put in the signal's value, so it needs neither `gettid` nor thread-local storage (TLS of
//! a dlopen'ed addon can allocate on first touch). Slots are recycled only after their thread is
//! gone and every record it published has been drained.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};

use crate::profile::ThreadRole;

pub const MAX_THREADS: usize = 4096;

/// What the handler reads of its thread.
pub struct Slot {
    pub tid: AtomicI32,
    /// Signals sent to and handled by this thread; equal when none is in flight.
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    /// The word holding this thread's current label-set id (the JS thread's shared memory), or null.
    pub label_word: AtomicPtr<AtomicI32>,
}

pub static SLOTS: [Slot; MAX_THREADS] = [const {
    Slot {
        tid: AtomicI32::new(0),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        label_word: AtomicPtr::new(std::ptr::null_mut()),
    }
}; MAX_THREADS];

impl Slot {
    /// Signals sent and not yet handled: 0 or 1, since the sampler keeps at most one in flight.
    pub fn in_flight(&self) -> u64 {
        self.sent.load(Ordering::Acquire).saturating_sub(self.delivered.load(Ordering::Acquire))
    }
}

/// Hands out slot indexes; owned by the sampler thread.
#[derive(Default)]
pub struct SlotAllocator {
    free: Vec<usize>,
    next: usize,
}

impl SlotAllocator {
    pub fn allocate(&mut self, tid: i32, label_word: *mut AtomicI32) -> Option<usize> {
        let index = self.free.pop().or_else(|| (self.next < MAX_THREADS).then(|| {
            self.next += 1;
            self.next - 1
        }))?;
        let slot = &SLOTS[index];
        slot.sent.store(0, Ordering::Relaxed);
        slot.delivered.store(0, Ordering::Relaxed);
        slot.label_word.store(label_word, Ordering::Relaxed);
        slot.tid.store(tid, Ordering::Release);
        Some(index)
    }

    pub fn release(&mut self, index: usize) {
        SLOTS[index].tid.store(0, Ordering::Release);
        SLOTS[index].label_word.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.free.push(index);
    }
}

/// The tids listed in `/proc/self/task` now.
pub fn list_tids() -> HashSet<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// A thread's name (`comm`), empty if it is gone.
pub fn thread_name(tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// When a thread started, in CLOCK_BOOTTIME nanoseconds (field 22 of its `stat`, in clock ticks).
pub fn start_time_ns(tid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after_name.split_ascii_whitespace().nth(19)?.parse().ok()?;
    // SAFETY: sysconf has no side effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * (1_000_000_000 / hz))
}

/// The Linux CPU clock of another thread of this process: what glibc's `pthread_getcpuclockid`
/// returns for it (CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED, tid in the upper bits).
pub fn cpu_clock_of(tid: i32) -> libc::clockid_t {
    ((!tid) << 3) | 6
}

/// Guesses a thread's role from how it was first seen. A name shared with an older live thread was
/// inherited at clone time (rayon pool threads are unnamed and show their spawner's `tokio-N`), so
/// such a thread is marked as a guess for the stacks to settle later.
pub fn initial_role(tid: i32, pid: i32, name: &str, older_names: &HashMap<String, i32>) -> (ThreadRole, bool) {
    if tid == pid {
        return (ThreadRole::JsMain, false);
    }
    let inherited = older_names.get(name).is_some_and(|&older| older < tid);
    if name.starts_with("rayon") {
        return (ThreadRole::Rayon, false);
    }
    if name.starts_with("tokio") {
        return if inherited { (ThreadRole::Rayon, true) } else { (ThreadRole::Tokio, false) };
    }
    if name.starts_with("libuv") {
        return (ThreadRole::Libuv, false);
    }
    if name.starts_with("V8 ") || name.starts_with("v8:") {
        return (ThreadRole::V8, false);
    }
    // node's platform workers and libuv's pool both show `node`: let the stacks decide.
    (ThreadRole::Other, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_tokio_names_are_rayon_guesses() {
        let mut older = HashMap::new();
        older.insert("tokio-0".to_string(), 100);
        assert_eq!(initial_role(100, 1, "tokio-0", &HashMap::new()), (ThreadRole::Tokio, false));
        assert_eq!(initial_role(140, 1, "tokio-0", &older), (ThreadRole::Rayon, true));
        assert_eq!(initial_role(1, 1, "node", &older), (ThreadRole::JsMain, false));
        assert_eq!(initial_role(7, 1, "libuv-worker", &older), (ThreadRole::Libuv, false));
        assert_eq!(initial_role(8, 1, "node", &older), (ThreadRole::Other, true));
    }

    #[test]
    fn a_new_thread_started_after_a_moment_ago() {
        let before = crate::util::clock_ns(libc::CLOCK_BOOTTIME).unwrap();
        let started = std::thread::spawn(|| start_time_ns(unsafe { libc::gettid() })).join().unwrap().unwrap();
        // Clock ticks are 10 ms wide.
        assert!(started + 20_000_000 >= before, "{started} vs {before}");
    }

    #[test]
    fn cpu_clock_of_self_matches_the_thread_clock() {
        let tid = unsafe { libc::gettid() };
        let mut spin = 0u64;
        for i in 0..5_000_000u64 {
            spin = spin.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(spin);
        let own = crate::util::thread_cpu_ns();
        let via_tid = crate::util::clock_ns(cpu_clock_of(tid)).unwrap();
        assert!(via_tid >= own && via_tid - own < 50_000_000, "{own} vs {via_tid}");
    }
}
