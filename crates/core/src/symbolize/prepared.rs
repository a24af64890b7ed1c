//! Module files read ahead of the export, while the session runs: where their function symbols lie
//! and their DWARF, parsed on a thread at the lowest priority the OS has, so the export that names
//! a profile only looks addresses up (and the names of the few symbols that cover one).
//!
//! Why: the export runs on the build's critical path (the plugin's `done` hook, or node's exit),
//! and parsing is most of it: node's DWARF took 3-10 ms and its 86k symbols 4-8 ms at the export
//! (libs build, 2 cores), for a few dozen addresses. Symbols are sorted here too, so the export's
//! lookup is a binary search. (The probe's own addon is named from its symbols alone: see
//! `symbolize::set_probe_code`.)
//! At idle priority the same work runs only on a core the build leaves idle.
//!
//! Tables stay here once read, for the process's later sessions (a watch build exports once per
//! rebuild). An export takes a file's tables while it reads them and gives them back after; one
//! that finds none (not read yet, or in use) parses the file itself, as without this module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use super::elf::FileTables;
use crate::profile::ModuleInfo;

/// Thread name: `perfprobe-` marks the probe's own threads (their role is `perfprobe`).
const THREAD_NAME: &str = "perfprobe-prep";

/// Whether a reader thread is running: one at a time, whatever the sessions.
static READING: AtomicBool = AtomicBool::new(false);

/// The tables read, by file path.
fn tables() -> &'static Mutex<HashMap<String, FileTables>> {
    static TABLES: OnceLock<Mutex<HashMap<String, FileTables>>> = OnceLock::new();
    TABLES.get_or_init(Default::default)
}

/// Reads the tables of `modules`' files not read yet, on a background thread at idle priority.
/// Returns at once; does nothing if a reader already runs. The thread ends when it has read them.
pub fn read_ahead(modules: Vec<ModuleInfo>) {
    if READING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = crate::platform::spawn_at_idle_priority(THREAD_NAME, modules, |modules| {
        let mut seen: Vec<&str> = Vec::new();
        for module in &modules {
            let path = module.path.as_str();
            if seen.contains(&path) || !path.starts_with('/') {
                continue;
            }
            seen.push(path);
            if lock().contains_key(path) {
                continue;
            }
            if let Some(read) = FileTables::read(module) {
                lock().entry(module.path.clone()).or_insert(read);
            }
        }
        READING.store(false, Ordering::Release);
    });
    if spawned.is_err() {
        READING.store(false, Ordering::Release);
    }
}

/// Whether a reader thread is still reading tables.
pub(super) fn reading() -> bool {
    READING.load(Ordering::Acquire)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, FileTables>> {
    tables().lock().unwrap_or_else(|e| e.into_inner())
}

/// The tables read for `path`, taken out for one reader at a time (see [`give_back`]).
pub(super) fn take(path: &str) -> Option<FileTables> {
    lock().remove(path)
}

/// Returns tables taken with [`take`], for the next export.
pub(super) fn give_back(path: &str, read: FileTables) {
    lock().entry(path.to_string()).or_insert(read);
}

/// Whether `path`'s tables are read and not in use (tests wait on it).
#[cfg(test)]
pub(super) fn is_read(path: &str) -> bool {
    lock().contains_key(path)
}
