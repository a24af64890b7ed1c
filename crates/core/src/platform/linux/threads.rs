//! The threads of this process, as the sampler thread and the signal handler share them.
//!
//! A fixed table of slots lives for the whole process: the handler finds its slot by the index the
//! sampler put in the signal's value, so it needs neither `gettid` nor thread-local storage (TLS of
//! a dlopen'ed addon can allocate on first touch). Slots are recycled only after their thread is
//! gone and every record it published has been drained.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};

pub const MAX_THREADS: usize = 4096;

/// What the handler reads of its thread.
pub struct Slot {
    pub tid: AtomicI32,
    /// Signals sent to and handled by this thread; equal when none is in flight.
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    /// The word holding this thread's current label-set id (the JS thread's shared memory), or null.
    pub label_word: AtomicPtr<AtomicI32>,
    /// With a CPU timer: CPU its next timer sample carries beyond one period (what the thread used
    /// during the session before its timer was opened); taken by the handler.
    pub timer_carry_ns: AtomicU64,
}

pub static SLOTS: [Slot; MAX_THREADS] = [const {
    Slot {
        tid: AtomicI32::new(0),
        sent: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        label_word: AtomicPtr::new(std::ptr::null_mut()),
        timer_carry_ns: AtomicU64::new(0),
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
    let mut tids = HashSet::new();
    if let Ok(mut list) = TaskList::open() {
        list.read(&mut tids);
    }
    tids
}

/// `/proc/self/task`, kept open and read again from its start at each discovery.
///
/// Written by hand over getdents64 because `std::fs::read_dir` cannot rewind: opening the directory
/// again 100 times a second (a path walk each time) was a third of the sampler thread's CPU.
pub struct TaskList {
    dir: std::fs::File,
    buf: Vec<u8>,
}

impl TaskList {
    pub fn open() -> std::io::Result<TaskList> {
        Ok(TaskList { dir: std::fs::File::open("/proc/self/task")?, buf: vec![0; 16 << 10] })
    }

    /// How many threads the process has now: the directory's link count is 2 plus that, and a stat
    /// of it costs a microsecond where reading it costs tens.
    pub fn thread_count(&self) -> Option<u64> {
        use std::os::fd::AsRawFd;
        // Plain fstat: std's metadata() goes through statx, which walked an (empty) path each time.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: our own descriptor and a stat buffer of the right type.
        (unsafe { libc::fstat(self.dir.as_raw_fd(), &mut st) } == 0).then(|| (st.st_nlink as u64).saturating_sub(2))
    }

    /// Replaces `tids` by the threads listed now (left empty if the directory cannot be read).
    pub fn read(&mut self, tids: &mut HashSet<i32>) {
        use std::os::fd::AsRawFd;
        tids.clear();
        let fd = self.dir.as_raw_fd();
        // SAFETY: our own descriptor; getdents64 writes at most `buf.len()` bytes into `buf`.
        if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } != 0 {
            return;
        }
        loop {
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, self.buf.as_mut_ptr(), self.buf.len()) };
            if n <= 0 {
                return;
            }
            parse_dirents(&self.buf[..n as usize], |name| {
                if let Some(tid) = std::str::from_utf8(name).ok().and_then(|n| n.parse().ok()) {
                    tids.insert(tid);
                }
            });
        }
    }
}

/// Calls `each` with the name of every `linux_dirent64` record in `buf`: d_ino (8 bytes), d_off
/// (8), d_reclen (2), d_type (1), then the NUL-terminated name.
fn parse_dirents(buf: &[u8], mut each: impl FnMut(&[u8])) {
    const NAME_AT: usize = 19;
    let mut at = 0;
    while at + NAME_AT <= buf.len() {
        let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
        if reclen < NAME_AT || at + reclen > buf.len() {
            return;
        }
        let name = &buf[at + NAME_AT..at + reclen];
        each(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]);
        at += reclen;
    }
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

/// Whether thread `tid` of process `pid` still runs (a null signal reaches it).
pub fn is_alive(pid: i32, tid: i32) -> bool {
    // SAFETY: signal 0 only checks that the thread exists and may be signalled.
    unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0) == 0 }
}

/// The Linux CPU clock of another thread of this process: what glibc's `pthread_getcpuclockid`
/// returns for it (CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED, tid in the upper bits).
pub fn cpu_clock_of(tid: i32) -> libc::clockid_t {
    ((!tid) << 3) | 6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_task_list_sees_threads_come_and_go() {
        let mut list = TaskList::open().unwrap();
        let mut tids = HashSet::new();
        list.read(&mut tids);
        let own = unsafe { libc::gettid() };
        assert!(tids.contains(&own));
        let (tell, told) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            tell.send(unsafe { libc::gettid() }).unwrap();
            wait.recv().unwrap();
        });
        let other_tid = told.recv().unwrap();
        list.read(&mut tids);
        assert!(tids.contains(&other_tid) && tids.contains(&own));
        // Other tests' threads come and go meanwhile: the count matches a list read just before it.
        let matched = (0..50).any(|_| {
            list.read(&mut tids);
            list.thread_count() == Some(tids.len() as u64)
        });
        assert!(matched, "the directory's link count never matched its listing");
        release.send(()).unwrap();
        other.join().unwrap();
        // join returns when the kernel clears the thread's tid word, a moment before the exited
        // task leaves /proc: wait for that, up to a second.
        let gone = (0..1000).any(|_| {
            list.read(&mut tids);
            !tids.contains(&other_tid) || {
                std::thread::sleep(std::time::Duration::from_millis(1));
                false
            }
        });
        assert!(gone && tids.contains(&own), "an exited thread stayed listed");
        assert!(list_tids().contains(&own));
    }

    #[test]
    fn a_new_thread_started_after_a_moment_ago() {
        let before = crate::util::clock_ns(libc::CLOCK_BOOTTIME).unwrap();
        let started = std::thread::spawn(|| start_time_ns(unsafe { libc::gettid() })).join().unwrap().unwrap();
        // Clock ticks are 10 ms wide.
        assert!(started + 20_000_000 >= before, "{started} vs {before}");
    }

    #[test]
    fn a_thread_is_alive_until_it_has_exited() {
        let pid = unsafe { libc::getpid() };
        assert!(is_alive(pid, unsafe { libc::gettid() }));
        let tid = std::thread::spawn(|| unsafe { libc::gettid() }).join().unwrap();
        // join returns when the kernel clears the thread's tid word, a moment before it is reaped.
        let gone = (0..1000).any(|_| !is_alive(pid, tid) || {
            std::thread::sleep(std::time::Duration::from_millis(1));
            false
        });
        assert!(gone, "an exited thread still took signals");
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
