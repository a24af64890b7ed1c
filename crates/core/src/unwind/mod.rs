//! Stack walking for the signal handler: framehop's DWARF CFI unwinder over every loaded module,
//! with its frame-pointer rule wherever a module has no unwind info (V8 JIT code, node's own frames),
//! reading stack memory only inside the stack region that holds the interrupted stack pointer.
//!
//! Everything the handler touches is built beforehand by the sampler thread and published through
//! atomics: the unwinder (rebuilt when a module is loaded), a pool of preallocated unwinder caches
//! and the table of stack regions.

pub mod macho;

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use framehop::{CacheNative, FrameAddress, MustNotAllocateDuringUnwind, Unwinder, UnwindRegsNative, UnwinderNative};

pub use crate::platform::MemSlice;
use crate::platform::CheckedReader;
use crate::platform::os::modules;
use crate::profile::ModuleInfo;
pub use crate::profile::StartRegs;
#[cfg(target_os = "linux")]
pub use crate::platform::os::regions;

type NativeUnwinder = UnwinderNative<MemSlice, MustNotAllocateDuringUnwind>;
type NativeCache = CacheNative<MustNotAllocateDuringUnwind>;

/// What a walk produced besides the frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkResult {
    pub depth: usize,
    pub truncated: bool,
    pub cache_busy: bool,
    pub unknown_region: bool,
}

/// The `rt_sigreturn` trampoline signal handlers return to (glibc's `__restore_rt`), 0 if unknown.
static SIGRETURN_TRAMPOLINE: AtomicU64 = AtomicU64::new(0);

/// Learns the trampoline from a handler installed with libc's `sigaction` (which sets
/// `sa_restorer`; every handler installed through the same libc, V8's included, shares it).
///
/// A walk that reaches it continues in the interrupted context saved on the stack. It matters
/// because signals nest: when V8's profiler signal and ours are both pending as a thread is
/// scheduled, ours is delivered at the first instruction of V8's handler, and a walk that stopped
/// at the signal frame lost 9% of the JS thread's stacks in a loader-heavy build.
pub fn learn_sigreturn_trampoline(signal: libc::c_int) {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    // SAFETY: reads the current action into a zeroed struct.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut action) == 0 {
            if let Some(restorer) = action.sa_restorer {
                SIGRETURN_TRAMPOLINE.store(restorer as usize as u64, Ordering::Relaxed);
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let _ = signal; // aarch64 returns through the vDSO's __kernel_rt_sigreturn: not handled yet.
}

/// The interrupted registers (pc, sp, fp) in the `ucontext_t` a signal frame holds at `uc`.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn interrupted_context(uc: u64, read: &mut impl FnMut(u64) -> Result<u64, ()>) -> Option<(u64, u64, u64)> {
    let gregs = (std::mem::offset_of!(libc::ucontext_t, uc_mcontext) + std::mem::offset_of!(libc::mcontext_t, gregs)) as u64;
    let reg = |r: libc::c_int| uc + gregs + r as u64 * 8;
    Some((read(reg(libc::REG_RIP)).ok()?, read(reg(libc::REG_RSP)).ok()?, read(reg(libc::REG_RBP)).ok()?))
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn interrupted_context(_uc: u64, _read: &mut impl FnMut(u64) -> Result<u64, ()>) -> Option<(u64, u64, u64)> {
    None
}

/// Published unwinder; replaced (never freed: see [`publish_modules`]) when modules are added.
static UNWINDER: AtomicPtr<NativeUnwinder> = AtomicPtr::new(std::ptr::null_mut());

/// Several handlers can run at once on different threads and each needs a cache of its own.
const CACHE_POOL: usize = 16;

struct CacheSlot {
    busy: AtomicBool,
    cache: UnsafeCell<NativeCache>,
}

// SAFETY: a slot's cache is used only by the party that flipped `busy` from false to true.
unsafe impl Sync for CacheSlot {}

fn cache_pool() -> &'static [CacheSlot] {
    static POOL: OnceLock<Box<[CacheSlot]>> = OnceLock::new();
    POOL.get_or_init(|| {
        (0..CACHE_POOL)
            .map(|_| CacheSlot { busy: AtomicBool::new(false), cache: UnsafeCell::new(NativeCache::new_in()) })
            .collect()
    })
}

/// Builds what the handler needs: the cache pool, and the unwinder for the modules loaded now.
/// Must run before the handler can fire. Returns the modules known.
pub fn prepare() -> Vec<ModuleInfo> {
    cache_pool();
    refresh_modules();
    known_modules()
}

struct ModuleState {
    unwinder: NativeUnwinder,
    modules: Vec<ModuleInfo>,
    loads_seen: u64,
}

fn module_state() -> &'static Mutex<ModuleState> {
    static STATE: OnceLock<Mutex<ModuleState>> = OnceLock::new();
    STATE.get_or_init(|| Mutex::new(ModuleState { unwinder: NativeUnwinder::new(), modules: Vec::new(), loads_seen: u64::MAX }))
}

/// Adds modules loaded since the last call (dlopen'ed addons, rspack's binding) to the unwinder.
/// Cheap when nothing was loaded: the dynamic loader keeps a load counter. Sampler thread only.
pub fn refresh_modules() -> bool {
    let mut state = module_state().lock().unwrap_or_else(|e| e.into_inner());
    let loads = modules::load_count();
    if loads == state.loads_seen {
        return false;
    }
    state.loads_seen = loads;
    let mut added = false;
    for loaded in modules::loaded_modules() {
        if state.modules.iter().any(|m| m.start == loaded.segments[0].start) {
            continue;
        }
        state.unwinder.add_module(loaded.unwind_module);
        state.modules.extend(loaded.segments);
        added = true;
    }
    if added {
        publish_modules(state.unwinder.clone());
    }
    added
}

/// Swaps in a new unwinder. The old one is leaked on purpose: a handler on another thread may still
/// be walking with it, and there is no lock-free way to know when it is done. It costs a vector of
/// reference-counted module handles per dlopen, a few dozen per process lifetime.
fn publish_modules(unwinder: NativeUnwinder) {
    UNWINDER.store(Box::into_raw(Box::new(unwinder)), Ordering::Release);
}

/// The modules the unwinder knows, for symbolization and pprof mappings.
pub fn known_modules() -> Vec<ModuleInfo> {
    module_state().lock().unwrap_or_else(|e| e.into_inner()).modules.clone()
}

/// Walks the interrupted stack into `frames` (leaf first), reading directly inside the stack region
/// that holds its stack pointer. Async-signal-safe: atomics, reads of memory proven mapped, framehop
/// with a preallocated cache; no allocation, no lock.
#[cfg(target_os = "linux")]
pub fn walk(start: StartRegs, frames: &mut [u64]) -> WalkResult {
    walk_in(start, regions::find(start.sp), frames)
}

/// Walks a stack whose mapped bounds `stack` (low, high) the caller knows, or `None`: then every
/// read goes through the platform's checked reads. Safe for a handler and for a sampler thread
/// walking a suspended thread: no allocation, no lock.
pub fn walk_in(start: StartRegs, stack: Option<(u64, u64)>, frames: &mut [u64]) -> WalkResult {
    let mut result = WalkResult::default();
    if frames.is_empty() {
        return result;
    }
    frames[0] = start.pc;
    result.depth = 1;

    let unwinder = UNWINDER.load(Ordering::Acquire);
    // SAFETY: published unwinders are never freed (see publish_modules).
    let Some(unwinder) = (unsafe { unwinder.as_ref() }) else { return result };
    // Outside the known stack regions (a segment `stacker` mapped for deep recursion since the last
    // refresh, say), memory is read through the kernel, which fails instead of faulting.
    let region = stack;
    result.unknown_region = region.is_none();
    let (stack_lo, stack_hi) = region.unwrap_or((start.sp, start.sp));
    let Some(slot) = cache_pool().iter().find(|s| {
        s.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }) else {
        result.cache_busy = true;
        return result;
    };
    // SAFETY: we own the slot until we clear `busy`.
    let cache = unsafe { &mut *slot.cache.get() };

    let mut checked = CheckedReader::new();
    let mut read_stack = |addr: u64| -> Result<u64, ()> {
        if addr % 8 != 0 {
            return Err(());
        }
        if addr >= stack_lo && addr.checked_add(8).is_some_and(|end| end <= stack_hi) {
            // SAFETY: the address lies in a mapped, readable stack region and is aligned.
            return Ok(unsafe { std::ptr::read_volatile(addr as *const u64) });
        }
        checked.read(addr)
    };
    let trampoline = SIGRETURN_TRAMPOLINE.load(Ordering::Relaxed);
    let mut regs = native_regs(start);
    let mut address = FrameAddress::InstructionPointer(start.pc);
    // framehop's iterator, by hand, to see the registers at a signal frame.
    loop {
        // Err: the first frame that cannot be unwound; stop cleanly with what we have.
        let Ok(Some(return_address)) = unwinder.unwind_frame(address, &mut regs, cache, &mut read_stack) else { break };
        let next = if return_address == trampoline && trampoline != 0 {
            // The handler's caller is the kernel's signal frame: sp points at its ucontext.
            let Some((pc, sp, fp)) = interrupted_context(regs.sp(), &mut read_stack) else { break };
            regs = native_regs(StartRegs { pc, sp, fp, lr: 0 });
            address = FrameAddress::InstructionPointer(pc);
            if result.depth == 1 {
                // Interrupted at the handler's first instruction (delivered together with ours):
                // the handler has not run, so the sample belongs to the code it interrupted.
                frames[0] = pc;
                continue;
            }
            address
        } else {
            match FrameAddress::from_return_address(return_address) {
                Some(a) => a,
                None => break,
            }
        };
        // A caller outside all code is a guess that failed (a frame pointer that held data, CFI
        // that did not fit): the stack ends there, counted as truncated, rather than invent frames.
        if result.depth == frames.len() || !crate::platform::os::is_code(next.address_for_lookup()) {
            result.truncated = true;
            break;
        }
        frames[result.depth] = next.address();
        result.depth += 1;
        address = next;
    }
    slot.busy.store(false, Ordering::Release);
    result
}

#[cfg(target_arch = "x86_64")]
fn native_regs(start: StartRegs) -> UnwindRegsNative {
    UnwindRegsNative::new(start.pc, start.sp, start.fp)
}

#[cfg(target_arch = "aarch64")]
fn native_regs(start: StartRegs) -> UnwindRegsNative {
    UnwindRegsNative::new(start.lr, start.sp, start.fp)
}

/// Tests that publish region tables take turns: the table is process-wide.
#[cfg(all(test, target_os = "linux"))]
pub(crate) static TEST_LOCK: Mutex<()> = Mutex::new(());

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn lock() -> std::sync::MutexGuard<'static, ()> {
        TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[inline(never)]
    fn walk_here(frames: &mut [u64]) -> WalkResult {
        let (pc, sp, fp): (u64, u64, u64);
        // SAFETY: reads three registers; no memory is touched.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            std::arch::asm!("lea {pc}, [rip]", "mov {sp}, rsp", "mov {fp}, rbp", pc = out(reg) pc, sp = out(reg) sp, fp = out(reg) fp);
            #[cfg(target_arch = "aarch64")]
            std::arch::asm!("adr {pc}, .", "mov {sp}, sp", "mov {fp}, x29", pc = out(reg) pc, sp = out(reg) sp, fp = out(reg) fp);
        }
        walk(StartRegs { pc, sp, fp, lr: 0 }, frames)
    }

    #[inline(never)]
    fn nested_a(frames: &mut [u64]) -> WalkResult {
        std::hint::black_box(walk_here(frames))
    }

    #[test]
    fn walks_its_own_stack_through_dwarf_cfi() {
        let _guard = lock();
        prepare();
        regions::refresh();
        let mut frames = [0u64; 128];
        let r = nested_a(&mut frames);
        assert!(!r.unknown_region && !r.cache_busy);
        // Without a region for sp, the walk goes through checked reads and still gets the chain.
        let mut frames2 = [0u64; 128];
        super::regions::publish_for_test(&[]);
        let r2 = nested_a(&mut frames2);
        regions::refresh();
        assert!(r2.unknown_region);
        assert!(r2.depth >= 5, "only {} frames through checked reads", r2.depth);
        // walk_here, nested_a, this test, the test harness, std's thread start...
        assert!(r.depth >= 5, "only {} frames", r.depth);
        let caller = nested_a as *const () as usize as u64;
        assert!(
            frames[1..r.depth].iter().any(|&ra| ra > caller && ra < caller + 256),
            "nested_a's return address not found in {:x?}",
            &frames[..r.depth]
        );
    }

    static IN_HANDLER: std::sync::Mutex<Option<(Vec<u64>, usize)>> = std::sync::Mutex::new(None);

    extern "C" fn walking_handler(_: libc::c_int) {
        let mut frames = [0u64; 128];
        let r = walk_here(&mut frames);
        // Test only: the lock is free (the raising thread holds nothing), the Vec is fine here.
        *IN_HANDLER.lock().unwrap() = Some((frames.to_vec(), r.depth));
    }

    #[inline(never)]
    fn raise_here(signal: libc::c_int) {
        // SAFETY: delivers the signal to this thread; the handler returns.
        unsafe { libc::raise(signal) };
        std::hint::black_box(());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn walks_through_a_signal_frame_into_the_interrupted_code() {
        let _guard = lock();
        prepare();
        regions::refresh();
        // SAFETY: installs a handler for SIGUSR2 in this test process.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = walking_handler as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()), 0);
        }
        learn_sigreturn_trampoline(libc::SIGUSR2);
        raise_here(libc::SIGUSR2);
        let (frames, depth) = IN_HANDLER.lock().unwrap().take().unwrap();
        let raiser = raise_here as *const () as usize as u64;
        assert!(
            frames[1..depth].iter().any(|&ra| ra > raiser && ra < raiser + 256),
            "raise_here's return address not found past the signal frame in {:x?}",
            &frames[..depth]
        );
    }

    /// Walks from a pc in no module (as in JIT code), whose caller framehop finds by the frame-pointer
    /// rule in the two-word frame `[caller's fp, return address]` on this stack.
    fn walk_from_fake_frame(return_address: u64) -> WalkResult {
        let frame = [0u64, return_address];
        let fp = frame.as_ptr() as u64;
        let mut frames = [0u64; 16];
        let r = walk(StartRegs { pc: 0x10, sp: fp, fp, lr: 0 }, &mut frames);
        assert_eq!(frames[0], 0x10);
        if r.depth > 1 {
            assert_eq!(frames[1], return_address);
        }
        std::hint::black_box(frame);
        r
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_caller_outside_all_code_ends_the_stack_as_truncated() {
        let _guard = lock();
        prepare();
        regions::refresh();
        // A return address into this test's own code is kept (what its CFI finds beyond it, on a
        // stack that is no real one, is not this test's concern).
        let into_code = walk_from_fake_frame(nested_a as *const () as usize as u64 + 8);
        assert!(into_code.depth >= 2, "{into_code:?}");
        // Values a frame pointer or misfit CFI yields: no user-space address, 1, a heap address.
        let heap = Box::new(0u64);
        for garbage in [0xddb4_2990_0851_4a5f, 1, &*heap as *const u64 as u64] {
            let r = walk_from_fake_frame(garbage);
            assert_eq!((r.depth, r.truncated), (1, true), "{garbage:#x}");
        }
    }

    #[test]
    fn checked_reads_fail_instead_of_faulting() {
        let mut reader = CheckedReader::new();
        let value = 0x1234_5678_u64;
        assert_eq!(reader.read(&value as *const u64 as u64), Ok(value));
        assert_eq!(reader.read(8), Err(()));
    }

    #[test]
    fn a_short_buffer_truncates_cleanly() {
        let _guard = lock();
        prepare();
        regions::refresh();
        let mut frames = [0u64; 3];
        let r = nested_a(&mut frames);
        assert_eq!(r.depth, 3);
        assert!(r.truncated);
    }
}
