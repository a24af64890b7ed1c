//! Writing a profile while node tears down at exit. After the `exit` event nothing the user wrote
//! runs any more, but node still frees its environment and every addon drops its objects (Rspack
//! its compiler and module graph): that is CPU on the JS thread, and the export can run beside it
//! instead of before it. The export threads are joined from an `atexit` handler, which runs on every
//! way out that runs `exit()`: the event loop running dry and `process.exit()`. A SIGINT or SIGTERM
//! meanwhile is held by `signal_export.rs` until the folder is complete, then ends the process.
//! The folder is announced ("profile written to", PERFPROBE_REPORT_FILE) only once its files are in place.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::thread::JoinHandle;

use perfprobe_core::export::write_profile;
use perfprobe_core::meta::ExportMeta;
use perfprobe_core::profile::RawProfile;
use perfprobe_core::util::describe_io;

static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
/// Exports at exit not finished yet: counted apart from PENDING, which the atexit join empties.
static UNFINISHED: AtomicUsize = AtomicUsize::new(0);
static JOIN_AT_EXIT: Once = Once::new();

/// Who hears about a written folder: stderr unless quiet, or a line in `report_file`.
#[derive(Clone, Debug, Default)]
pub struct Announce {
    pub quiet: bool,
    /// PERFPROBE_REPORT_FILE: each folder's path is appended to it, a line each, instead of printed.
    pub report_file: Option<String>,
}

impl Announce {
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            say(&format!("[perfprobe] warning: {message}"));
        }
    }

    /// Tells the owner's reader where the profile is; a report file that cannot take the line is
    /// warned about and the path printed instead, so it is never lost.
    pub fn written(&self, dir: &str) {
        if let Some(file) = &self.report_file {
            let appended = std::fs::OpenOptions::new().append(true).create(true).open(file).and_then(|mut f| f.write_all(format!("{dir}\n").as_bytes()));
            match appended {
                Ok(()) => return,
                // The path must reach the user even when quiet: it is the one thing they asked for.
                Err(e) => say(&format!("[perfprobe] warning: cannot append to PERFPROBE_REPORT_FILE {file}: {}", describe_io(&e))),
            }
        } else if self.quiet {
            return;
        }
        say(&format!("[perfprobe] profile written to {dir}"));
    }
}

/// One line to stderr. `eprintln!` panics when stderr cannot take it (a reader that went away, a
/// file over its size limit): the line is lost instead, and the folder is still finished or removed.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes the profile on a thread of its own, joined before the process ends; on the calling
/// thread if no thread can be started. `meta` is JS's JSON text, read there too: with a build's
/// spans in it, reading took 3-4 ms of the JS thread at `exit` (libs build).
pub fn write_during_teardown(dir: String, raw: RawProfile, meta: String, announce: Announce) {
    // A SIGINT/SIGTERM from now on waits for the folder (no JS listener can run any more).
    if let Err(e) = crate::signal_export::arm_for_teardown() {
        announce.warn(&format!("a signal during the export at exit would lose the profile: {e}"));
    }
    let job = std::sync::Arc::new(Mutex::new(Some((raw, meta))));
    let for_thread = job.clone();
    let dir_for_thread = dir.clone();
    let announce_for_thread = announce.clone();
    UNFINISHED.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new().name("perfprobe-export".into()).spawn(move || {
        // Counted down however the export ends, a panic included.
        let _finished = Finished;
        let taken = for_thread.lock().ok().and_then(|mut j| j.take());
        if let Some((raw, meta)) = taken {
            write_with_text(&dir_for_thread, raw, &meta, &announce_for_thread);
        }
    });
    match spawned {
        Ok(handle) => {
            // SAFETY: registers a plain extern "C" function with no arguments.
            JOIN_AT_EXIT.call_once(|| unsafe {
                libc::atexit(join_at_exit);
            });
            PENDING.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
        }
        Err(_) => {
            let taken = job.lock().ok().and_then(|mut j| j.take());
            if let Some((raw, meta)) = taken {
                write_with_text(&dir, raw, &meta, &announce);
            }
            UNFINISHED.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

struct Finished;

impl Drop for Finished {
    fn drop(&mut self) {
        UNFINISHED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// [`write`] with the metadata as JS's JSON text; metadata that does not read costs the folder
/// (as it did when JS's stop threw), with one warning saying why.
fn write_with_text(dir: &str, raw: RawProfile, meta: &str, announce: &Announce) {
    match ExportMeta::from_json_text(meta) {
        Ok(meta) => write(dir, raw, ExportMeta { during_teardown: true, ..meta }, announce),
        Err(e) => {
            announce.warn(&format!("the profile was not written: {e}"));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Writes the folder, warns about what could not be written, and announces it once its files are in place.
pub fn write(dir: &str, raw: RawProfile, meta: ExportMeta, announce: &Announce) {
    let written = write_profile(Path::new(dir), raw, meta);
    for warning in &written.warnings {
        announce.warn(warning);
    }
    if written.pprof.is_none() && written.trace.is_none() && written.flamegraph.is_none() && written.summary.is_none() {
        // Nothing could be written (a full disk, say): leave no empty folder behind, announce none.
        let _ = std::fs::remove_dir(dir);
        return;
    }
    announce.written(dir);
}

/// Whether an export at exit is still being written (asked by the signal relay's thread, Linux).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn pending() -> bool {
    UNFINISHED.load(Ordering::SeqCst) > 0
}

/// Waits until the exports at exit have finished (their threads are joined at exit).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn wait_pending() {
    while pending() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

extern "C" fn join_at_exit() {
    // Unwinding out of an atexit handler would abort the process: a panic ends the wait instead.
    let _ = std::panic::catch_unwind(|| {
        let handles = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            let _ = handle.join();
        }
        // A signal that came during the export ends the process as it would have, not with exit's code.
        crate::signal_export::end_if_signalled();
    });
}
