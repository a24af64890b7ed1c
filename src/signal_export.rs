//! SIGINT and SIGTERM heard without the JS thread. The probe's JS listener (lib/exit-guard.js)
//! needs the event loop, which a busy or hung JS thread never reaches: a CI timeout's SIGTERM to a
//! hung build would go unheard and the profile showing where it hangs would never be written. The
//! relay (`perfprobe_core::signal_relay`) reports the signal to a thread of the probe's own, which
//! gives JS a moment to take the session through its listener, else writes it from the native
//! samples alone, then ends the process as the signal would have. During the export at exit
//! (`exit_export.rs`) the same thread waits for the folder before the process dies.

use std::sync::Once;
use std::time::{Duration, Instant};

use perfprobe_core::meta::ExportMeta;
use perfprobe_core::js::jit;
use perfprobe_core::profile_dir;
use perfprobe_core::signal_relay;

use crate::exit_export;
use crate::running::{self, Running};

/// How long the JS thread gets to take the session through its own listener (it does within
/// milliseconds when its loop is free) before this thread writes it.
const JS_GRACE: Duration = Duration::from_millis(500);

static THREAD: Once = Once::new();

/// Relays SIGINT/SIGTERM to this module's thread and on to node's listeners while a session runs.
pub fn arm_for_session() -> std::io::Result<()> {
    start_thread()?;
    signal_relay::arm(true)
}

/// Relays them to this module's thread alone while the profile is written at exit: no JS runs
/// any more, and the process must not die before the folder is complete.
pub fn arm_for_teardown() -> std::io::Result<()> {
    start_thread()?;
    signal_relay::arm(false)
}

pub fn disarm() {
    signal_relay::disarm();
}

/// Ends the process as the signal relayed since the last arm would have, if one was.
pub fn end_if_signalled() {
    if let Some(signal) = signal_relay::received() {
        signal_relay::end_process_as(signal);
    }
}

fn start_thread() -> std::io::Result<()> {
    let mut result = Ok(());
    THREAD.call_once(|| {
        result = std::thread::Builder::new().name("perfprobe-signals".into()).spawn(run).map(drop);
    });
    result
}

fn run() {
    while let Ok(signal) = signal_relay::wait() {
        on_signal(signal);
    }
}

fn planned(slot: &Option<Running>) -> bool {
    slot.as_ref().is_some_and(|r| r.plan.is_some())
}

fn on_signal(signal: i32) {
    if exit_export::pending() {
        exit_export::wait_pending();
        signal_relay::end_process_as(signal);
    }
    let deadline = Instant::now() + JS_GRACE;
    while Instant::now() < deadline && planned(&running::lock()) && !exit_export::pending() {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Held through the export: a JS stop arriving meanwhile waits for the folder.
    let mut slot = running::lock();
    if !planned(&slot) {
        drop(slot);
        // JS took the session: its listener writes it and ends the process, or the exit export does.
        if exit_export::pending() {
            exit_export::wait_pending();
            signal_relay::end_process_as(signal);
        }
        // Not handed on (armed for the teardown, the export done): nobody else will act on it.
        if !signal_relay::chained() {
            signal_relay::end_process_as(signal);
        }
        return;
    }
    let Some(Running { session, plan: Some(plan), .. }) = slot.take() else { return };
    let code_events = jit::naming().then(jit::take_code_log);
    let raw = session.stop_with_code_events(code_events);
    let meta = ExportMeta { partial_reason: Some(format!("the process received {} while its JS thread was busy", name(signal))), ..plan.meta };
    match profile_dir::create(&plan.out_dir, &plan.folder) {
        Ok(dir) => exit_export::write(&dir, raw, meta, &plan.announce),
        Err(warning) => plan.announce.warn(&warning),
    }
    drop(slot);
    if plan.ending.contains(&signal) {
        signal_relay::end_process_as(signal);
    }
}

fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a termination signal",
    }
}
