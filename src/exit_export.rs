//! Writing a profile while node tears down at exit. After the `exit` event nothing the user wrote
//! runs any more, but node still frees its environment and every addon drops its objects (Rspack
//! its compiler and module graph): that is CPU on the JS thread, and the export can run beside it
//! instead of before it. The export threads are joined from an `atexit` handler, which runs on every
//! way out that runs `exit()`: the event loop running dry and `process.exit()`. A signal that kills
//! the process runs none, so the JS side writes synchronously then.

use std::path::Path;
use std::sync::{Mutex, Once};
use std::thread::JoinHandle;

use perfprobe_core::export::{write_profile, ExportMeta, Written};
use perfprobe_core::profile::RawProfile;

static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());
static JOIN_AT_EXIT: Once = Once::new();

/// Writes the profile on a thread of its own, joined before the process ends; on the calling
/// thread if no thread can be started.
pub fn write_during_teardown(dir: String, raw: RawProfile, meta: ExportMeta, quiet: bool) {
    let job = std::sync::Arc::new(Mutex::new(Some((raw, meta))));
    let for_thread = job.clone();
    let dir_for_thread = dir.clone();
    let spawned = std::thread::Builder::new().name("perfprobe-export".into()).spawn(move || {
        let taken = for_thread.lock().ok().and_then(|mut j| j.take());
        if let Some((raw, meta)) = taken {
            write(&dir_for_thread, raw, &meta, quiet);
        }
    });
    match spawned {
        Ok(handle) => {
            // SAFETY: registers a plain extern "C" function with no arguments.
            JOIN_AT_EXIT.call_once(|| unsafe {
                libc::atexit(join_pending);
            });
            PENDING.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
        }
        Err(_) => {
            let taken = job.lock().ok().and_then(|mut j| j.take());
            if let Some((raw, meta)) = taken {
                write(&dir, raw, &meta, quiet);
            }
        }
    }
}

fn write(dir: &str, raw: RawProfile, meta: &ExportMeta, quiet: bool) {
    let written = write_profile(Path::new(dir), raw, meta);
    if !quiet {
        for warning in warnings(&written) {
            eprintln!("[perfprobe] warning: {warning}");
        }
    }
    if written.pprof.is_none() && written.trace.is_none() && written.flamegraph.is_none() && written.summary.is_none() {
        // Nothing could be written (a full disk, say): leave no empty folder behind.
        let _ = std::fs::remove_dir(dir);
    }
}

/// What `Session._result` in lib/session.js warns about, for a write no JS will see the end of.
fn warnings(written: &Written) -> Vec<String> {
    let mut out: Vec<String> = written.errors.iter().map(|e| format!("could not write {e}")).collect();
    let summary = &written.summary_json;
    if let Some(error) = summary.pointer("/jsProfiler/error").and_then(|e| e.as_str()) {
        out.push(format!("JS stacks are missing: {error}"));
    }
    for module in summary.get("modules").and_then(|m| m.as_array()).into_iter().flatten() {
        if let Some(warning) = module.get("warning").and_then(|w| w.as_str()) {
            out.push(warning.to_string());
        }
    }
    out
}

extern "C" fn join_pending() {
    // Unwinding out of an atexit handler would abort the process: a panic ends the wait instead.
    let _ = std::panic::catch_unwind(|| {
        let handles = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            let _ = handle.join();
        }
    });
}
