//! Stack walking for the signal handler: framehop's DWARF CFI unwinder over every loaded module,
//! with its frame-pointer rule wherever a module has no unwind info (V8 JIT code, node's own frames),
//! reading stack memory only inside the stack region that holds the interrupted stack pointer.
//!
//! Everything the handler touches is built beforehand by the sampler thread and published through
//! atomics: the unwinder (rebuilt when a module is loaded), a pool of preallocated unwinder caches
//! and the table of stack regions.

pub mod modules;
pub mod regions;

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock};

use framehop::{CacheNative, MustNotAllocateDuringUnwind, Unwinder, UnwindRegsNative, UnwinderNative};

pub use modules::MemSlice;

type NativeUnwinder = UnwinderNative<MemSlice, MustNotAllocateDuringUnwind>;
type NativeCache = CacheNative<MustNotAllocateDuringUnwind>;

/// The registers a walk starts from, read from the interrupted context.
#[derive(Clone, Copy, Debug)]
pub struct StartRegs {
    pub pc: u64,
    pub sp: u64,
    pub fp: u64,
    /// Link register (aarch64); unused on x86_64.
    pub lr: u64,
}

/// What a walk produced besides the frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkResult {
    pub depth: usize,
    pub truncated: bool,
    pub cache_busy: bool,
    pub unknown_region: bool,
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
pub fn prepare() -> Vec<crate::profile::ModuleInfo> {
    cache_pool();
    refresh_modules();
    known_modules()
}

struct ModuleState {
    unwinder: NativeUnwinder,
    modules: Vec<crate::profile::ModuleInfo>,
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
        if state.modules.iter().any(|m| m.start == loaded.info.start) {
            continue;
        }
        state.unwinder.add_module(loaded.unwind_module);
        state.modules.push(loaded.info);
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
pub fn known_modules() -> Vec<crate::profile::ModuleInfo> {
    module_state().lock().unwrap_or_else(|e| e.into_inner()).modules.clone()
}

/// Walks the interrupted stack into `frames` (leaf first). Async-signal-safe: atomics, reads of
/// memory proven mapped, framehop with a preallocated cache; no allocation, no lock.
pub fn walk(start: StartRegs, frames: &mut [u64]) -> WalkResult {
    let mut result = WalkResult::default();
    if frames.is_empty() {
        return result;
    }
    frames[0] = start.pc;
    result.depth = 1;

    let unwinder = UNWINDER.load(Ordering::Acquire);
    let Some((stack_lo, stack_hi)) = regions::find(start.sp) else {
        result.unknown_region = true;
        return result;
    };
    // SAFETY: published unwinders are never freed (see publish_modules).
    let Some(unwinder) = (unsafe { unwinder.as_ref() }) else { return result };
    let Some(slot) = cache_pool().iter().find(|s| {
        s.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }) else {
        result.cache_busy = true;
        return result;
    };
    // SAFETY: we own the slot until we clear `busy`.
    let cache = unsafe { &mut *slot.cache.get() };

    let mut read_stack = |addr: u64| -> Result<u64, ()> {
        if addr < stack_lo || addr.checked_add(8).is_none_or(|end| end > stack_hi) || addr % 8 != 0 {
            return Err(());
        }
        // SAFETY: the address lies in a mapped, readable stack region and is aligned.
        Ok(unsafe { std::ptr::read_volatile(addr as *const u64) })
    };
    let mut iter = unwinder.iter_frames(start.pc, native_regs(start), cache, &mut read_stack);
    // The first item is the pc we already stored.
    let _ = iter.next();
    loop {
        match iter.next() {
            Ok(Some(frame)) => {
                if result.depth == frames.len() {
                    result.truncated = true;
                    break;
                }
                frames[result.depth] = frame.address();
                result.depth += 1;
            }
            // Err: the first frame that cannot be unwound; stop cleanly with what we have.
            Ok(None) | Err(_) => break,
        }
    }
    drop(iter);
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

#[cfg(test)]
mod tests {
    use super::*;

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
        prepare();
        regions::refresh();
        let mut frames = [0u64; 128];
        let r = nested_a(&mut frames);
        assert!(!r.unknown_region && !r.cache_busy);
        // walk_here, nested_a, this test, the test harness, std's thread start...
        assert!(r.depth >= 5, "only {} frames", r.depth);
        let caller = nested_a as usize as u64;
        assert!(
            frames[1..r.depth].iter().any(|&ra| ra > caller && ra < caller + 256),
            "nested_a's return address not found in {:x?}",
            &frames[..r.depth]
        );
    }

    #[test]
    fn a_short_buffer_truncates_cleanly() {
        prepare();
        regions::refresh();
        let mut frames = [0u64; 3];
        let r = nested_a(&mut frames);
        assert_eq!(r.depth, 3);
        assert!(r.truncated);
    }
}
