//! The process's one running session, kept where both the JS thread (stop) and the signal thread
//! (`signal_export.rs`, which writes it when SIGTERM finds the JS thread busy) can take it. Whoever
//! takes it writes it; the other finds it gone. Ids keep a stale JS handle from taking a later session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use perfprobe_core::session::Session;

/// What the signal thread needs to write the session without asking JS (set by `armSignalExport`).
/// Only the Linux signal relay reads it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub struct SignalPlan {
    /// `<outDir>/<name>-<timestamp>-<pid>`: the folder JS would have created.
    pub folder: String,
    pub out_dir: String,
    pub meta: perfprobe_core::meta::ExportMeta,
    pub announce: crate::exit_export::Announce,
    /// Signals no JS listener but the probe's hears: after the profile, they end the process.
    pub ending: Vec<i32>,
}

pub struct Running {
    pub id: u64,
    pub session: Session,
    pub plan: Option<SignalPlan>,
}

static SLOT: Mutex<Option<Running>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The slot, held for as long as the guard lives: the signal thread holds it through its export,
/// so a JS stop that comes meanwhile waits for the folder instead of racing it.
pub fn lock() -> MutexGuard<'static, Option<Running>> {
    SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts a new session in the slot and returns its id.
pub fn put(session: Session) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    *lock() = Some(Running { id, session, plan: None });
    id
}

/// Takes the session `id` out of the slot, if it is still there.
pub fn take(id: u64) -> Option<Running> {
    let mut slot = lock();
    if slot.as_ref().is_some_and(|r| r.id == id) {
        slot.take()
    } else {
        None
    }
}

/// Runs `f` on session `id` if it is still in the slot.
pub fn with<T>(id: u64, f: impl FnOnce(&mut Running) -> T) -> Option<T> {
    lock().as_mut().filter(|r| r.id == id).map(f)
}
