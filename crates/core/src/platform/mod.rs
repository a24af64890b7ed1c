//! Everything that talks to the operating system, behind one line. Each platform folder has the
//! same shape and is picked with `#[cfg]` (as samply picks `linux/` or `mac/`), never a trait object:
//!
//! | concern                          | `linux/`                                       | `macos/`                                          |
//! |----------------------------------|------------------------------------------------|---------------------------------------------------|
//! | the sampler thread's run         | `mod.rs` (+ `cpu_timer.rs`: perf events)       | `mod.rs`                                          |
//! | thread discovery, names          | `discovery.rs`, `threads.rs` (/proc)           | `discovery.rs`, `threads.rs` (task_threads)       |
//! | per-thread CPU clocks, CPU samples | `cpu.rs` (CPU clock ids)                     | `cpu.rs` (thread_info)                            |
//! | wall samples                     | `wall.rs`                                      | `wall.rs` (Mach run state)                        |
//! | interrupt + registers            | `signal.rs`, `handler.rs` (ucontext), `drain.rs` | `suspend.rs` (thread_suspend, thread_get_state) |
//! | the module list                  | `modules.rs` (dl_iterate_phdr, GNU build-id)   | `modules.rs` (dyld images, LC_UUID)               |
//! | reads that fail, never fault     | `memory.rs` (process_vm_readv)                 | `memory.rs` (mach_vm_read_overwrite)              |
//! | thread roles                     | [`roles`], shared                              | [`roles`], shared                                 |
//!
//! Above the line ([`crate::sampler`], [`crate::unwind`], the store, labels, export) the code only
//! sees the types defined here and the [`crate::profile::RawProfile`] a stopped sampler returns.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use framehop::Module;

use crate::profile::{MemoryPoint, ModuleInfo, RawProfile};
use crate::sampler::{Sampler, StartError};

pub mod roles;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub use linux as os;

#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(target_os = "macos")]
pub use macos as os;

/// The sampler thread's name: also how a second copy of the addon sees that one already runs.
pub const SAMPLER_THREAD_NAME: &str = "perfprobe";

/// Runs `work(input)` on a thread of its own named `name`, at the lowest priority the OS has, so
/// that it runs only on a core nothing else wants (Linux: SCHED_IDLE, which an unprivileged thread
/// may always choose; macOS: the background QoS class): for work that can wait, such as reading
/// symbol tables during a build. Names start with `perfprobe-`: the profile shows them as the probe's.
///
/// Such a thread can wait long for a core while it holds a lock, and whoever waits for that lock
/// waits with it. glibc frees a large block under the lock of the malloc arena it came from: the
/// thread copies `input` and frees the caller's copy before it lowers its priority, so at idle
/// priority it frees only its own (an input whose copies share memory, as a channel's ends do, is
/// freed by whichever holder goes last). `work` should capture nothing else that owns memory.
pub fn spawn_at_idle_priority<I, T>(name: &str, input: I, work: impl FnOnce(I) -> T + Send + 'static) -> std::io::Result<JoinHandle<T>>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
{
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let own = input.clone();
        drop(input);
        lower_to_idle_priority();
        work(own)
    })
}

fn lower_to_idle_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid parameter block.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
    #[cfg(target_os = "macos")]
    // SAFETY: sets the calling thread's own QoS class; no pointers involved.
    unsafe {
        libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_BACKGROUND, 0);
    }
}

/// How often the kernel's scheduler tick runs, where CPU-clock timers fire at it (Linux).
pub fn kernel_tick_hz() -> Option<u32> {
    #[cfg(target_os = "linux")]
    return linux::tick_hz();
    #[cfg(not(target_os = "linux"))]
    None
}

/// How often the sampler thread reads the process's resident memory (the trace's `memory MB`).
pub const MEMORY_INTERVAL_NS: u64 = 100_000_000;

/// The sampler thread's reads of the process's resident memory: a point every
/// [`MEMORY_INTERVAL_NS`], on the thread that wakes anyway, so the JS thread is never woken for it.
#[derive(Default)]
pub struct MemoryReads {
    next_ns: u64,
}

impl MemoryReads {
    /// Adds a point to `profile` if one is due at `now`; `last` takes one whatever the time.
    pub fn take(&mut self, profile: &mut RawProfile, now: u64, last: bool) {
        // A tenth early is on time: a tick as long as the interval may come a little earlier after
        // its deadline than the last one did, and would otherwise skip a point. The next point is
        // due an interval after this one was due (short ticks still take one every interval), and
        // half an interval from now at the soonest (after a late tick).
        if now + MEMORY_INTERVAL_NS / 10 < self.next_ns && !last {
            return;
        }
        let due = if self.next_ns == 0 { now } else { self.next_ns };
        self.next_ns = (due + MEMORY_INTERVAL_NS).max(now + MEMORY_INTERVAL_NS / 2);
        if let Some(rss_bytes) = os::resident_bytes() {
            profile.memory.push(MemoryPoint { time_ns: now, rss_bytes });
        }
    }
}

/// One sampler per process (per copy of the addon).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// A platform's run of the sampler thread, built on that thread.
pub trait Run {
    /// Samples until `stop` is set or a bound is reached (then sets `finished`).
    fn run(self, stop: &AtomicBool, finished: &AtomicBool) -> RawProfile;
}

/// The running sampler thread, whichever platform's run it drives: started once per session,
/// stopped into the profile it returns.
pub struct SamplerThread {
    stop: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
    thread: Option<JoinHandle<RawProfile>>,
    timer_fallback: Option<String>,
}

impl SamplerThread {
    /// Claims the process's sampler, runs `prepare` on the calling thread (checks, and what must
    /// exist before the first sample), then starts the sampler thread, which builds its run with
    /// the function `prepare` returned; returns once that run exists.
    pub fn start<R: Run, F: FnOnce() -> R + Send + 'static>(
        prepare: impl FnOnce() -> Result<(Option<String>, F), StartError>,
    ) -> Result<SamplerThread, StartError> {
        if RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(StartError::AlreadyRunning);
        }
        let started = Self::spawn(prepare);
        if started.is_err() {
            RUNNING.store(false, Ordering::Release);
        }
        started
    }

    fn spawn<R: Run, F: FnOnce() -> R + Send + 'static>(
        prepare: impl FnOnce() -> Result<(Option<String>, F), StartError>,
    ) -> Result<SamplerThread, StartError> {
        let (timer_fallback, make) = prepare()?;
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicBool::new(false));
        let (stop2, finished2) = (stop.clone(), finished.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(SAMPLER_THREAD_NAME.into())
            .spawn(move || {
                let run = make();
                let _ = ready_tx.send(());
                run.run(&stop2, &finished2)
            })
            .map_err(|e| StartError::Os(format!("cannot start the sampler thread: {e}")))?;
        let _ = ready_rx.recv_timeout(Duration::from_secs(5));
        Ok(SamplerThread { stop, finished, thread: Some(thread), timer_fallback })
    }
}

/// The sampler thread's sleep until `deadline_ns` (monotonic), cut short when the session stops:
/// `stop` unparks the thread, so the JS thread that stops a session (in the plugin's `done`, or at
/// exit) never waits for the sampler's next tick. Returns early on any unpark; callers loop.
pub fn sleep_until(deadline_ns: u64) {
    let left = deadline_ns.saturating_sub(crate::util::monotonic_ns());
    if left > 0 {
        std::thread::park_timeout(Duration::from_nanos(left));
    }
}

impl SamplerThread {
    fn stop_and_join(&mut self) -> Option<RawProfile> {
        let thread = self.thread.take()?;
        // Nothing more to name ahead: the export names what is left.
        crate::symbolize::ahead::close();
        self.stop.store(true, Ordering::Release);
        thread.thread().unpark();
        let profile = thread.join().ok();
        RUNNING.store(false, Ordering::Release);
        profile
    }
}

impl Sampler for SamplerThread {
    fn stop(mut self: Box<Self>) -> RawProfile {
        self.stop_and_join().unwrap_or_default()
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn timer_fallback(&self) -> Option<&str> {
        self.timer_fallback.as_deref()
    }
}

impl Drop for SamplerThread {
    fn drop(&mut self) {
        drop(self.stop_and_join());
    }
}

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

/// Reads of this process's memory that fail instead of faulting, through the platform's
/// [`os::memory::read_chunk`]. One aligned chunk is cached, so a walk through memory outside the
/// known stack costs a call per chunk, not per word. Allocation-free and lock-free: used by signal
/// handlers and while a thread is suspended.
pub struct CheckedReader {
    base: u64,
    valid: bool,
    chunk: [u64; CHECKED_CHUNK_WORDS],
}

const CHECKED_CHUNK_WORDS: usize = 128;

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
        let bytes = (CHECKED_CHUNK_WORDS * 8) as u64;
        let base = addr & !(bytes - 1);
        if !self.valid || base != self.base {
            self.valid = os::memory::read_chunk(base, &mut self.chunk);
            self.base = base;
            if !self.valid {
                return Err(());
            }
        }
        Ok(self.chunk[((addr - base) / 8) as usize])
    }
}

/// A module as the platform's loader list describes it: its code ranges for symbolization and
/// pprof mappings, and its unwind sections for framehop.
pub struct LoadedModule {
    /// One entry per executable segment (node on Linux has three: a large-pages stub, .text, another stub).
    pub segments: Vec<ModuleInfo>,
    pub unwind_module: Module<MemSlice>,
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn work_that_can_wait_runs_at_idle_priority_on_a_named_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        super::spawn_at_idle_priority("perfprobe-test", (), move |()| {
            // SAFETY: plain syscall on the calling thread.
            let policy = unsafe { libc::sched_getscheduler(0) };
            tx.send((policy, std::thread::current().name().map(str::to_string))).unwrap();
        })
        .unwrap();
        assert_eq!(rx.recv().unwrap(), (libc::SCHED_IDLE, Some("perfprobe-test".to_string())));
    }
}
