//! Addresses named while the session runs (`symbolize::ahead`) read exactly as the export names them
//! itself. Its own test binary: the namer is process-wide.

use std::collections::HashMap;
use std::sync::Mutex;
#[cfg(target_os = "linux")]
use std::{
    sync::atomic::{AtomicBool, Ordering},
    sync::Arc,
    time::{Duration, Instant},
};

use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::symbolize::{ahead, symbolize_with, Frame, Symbolized};
use perfprobe_core::util::thread_cpu_ns;

#[inline(never)]
fn burn_where_the_namer_sees_it(ms: u64) -> u64 {
    let until = thread_cpu_ns() + ms * 1_000_000;
    let mut x = 1u64;
    while thread_cpu_ns() < until {
        x = std::hint::black_box(x.rotate_left(7) ^ 0x9e37_79b9);
    }
    x
}

/// Each location as (module path, frames), by address.
fn by_address(sym: &Symbolized) -> HashMap<u64, (Option<String>, Vec<Frame>)> {
    sym.locations.iter().map(|l| (l.address, (l.module.map(|m| sym.modules[m].module.path.clone()), l.frames.clone()))).collect()
}

/// The namer is process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn names_found_during_the_session_are_the_exports_own() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let session = Session::start(SessionOptions { frequency: 999, ..Default::default() }).unwrap();
    // One core burns, the other is left to the namer (idle priority) after the tables are read.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2500) {
        burn_where_the_namer_sees_it(50);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let raw = session.stop();
    let named = ahead::finish();
    assert!(!named.is_empty(), "the namer named addresses during a 2.5 s session with a core to spare");

    let with = symbolize_with(&raw, named);
    let without = symbolize_with(&raw, ahead::NamedAhead::default());
    assert_eq!(with.stacks, without.stacks);
    assert_eq!(by_address(&with), by_address(&without), "every address reads the same either way");
    let statuses = |s: &Symbolized| s.modules.iter().map(|m| (m.module.path.clone(), m.symbols, m.module.build_id.clone(), m.warning.clone())).collect::<Vec<_>>();
    assert_eq!(statuses(&with), statuses(&without));
    let burner = with.locations.iter().filter(|l| l.frames.iter().any(|f| f.function.contains("burn_where_the_namer_sees_it"))).count();
    assert!(burner > 0, "the burner is named");
    // A later session starts its own namer; the last one's names do not carry over.
    assert!(ahead::finish().is_empty());
}

#[cfg(target_os = "linux")]
fn pin_to_cpu0(tid: i32) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the call reads it only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set), 0);
    }
}

#[cfg(target_os = "linux")]
fn namer_tids() -> Vec<i32> {
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten();
    tasks
        .filter_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            (comm.trim() == "perfprobe-names").then(|| t.file_name().to_str()?.parse().ok()).flatten()
        })
        .collect()
}

/// At idle priority the namer may get no core for long while other work keeps them busy; the
/// export then names everything itself instead of waiting for it, and the next session's namer
/// is not joined by the one left behind.
#[cfg(target_os = "linux")]
#[test]
fn the_export_does_not_wait_for_a_namer_that_gets_no_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let session = Session::start(SessionOptions { frequency: 99, ..Default::default() }).unwrap();
    // The thread names itself once it runs.
    let found = Instant::now();
    let namer = loop {
        match namer_tids()[..] {
            [tid] => break tid,
            _ if found.elapsed() < Duration::from_secs(5) => std::thread::sleep(Duration::from_millis(1)),
            _ => panic!("the session started no namer"),
        }
    };
    pin_to_cpu0(namer);
    // Four busy threads on its CPU: at idle priority it gets a turn every few hundred ms.
    let burning = Arc::new(AtomicBool::new(true));
    let burners: Vec<_> = (0..4)
        .map(|_| {
            let burning = burning.clone();
            std::thread::spawn(move || {
                pin_to_cpu0(0);
                while burning.load(Ordering::Relaxed) {
                    std::hint::black_box(burn_where_the_namer_sees_it(1));
                }
            })
        })
        .collect();
    // The namer wakes every 200 ms: let it fall behind the burners on the one CPU it may use.
    std::thread::sleep(Duration::from_millis(500));
    let raw = session.stop();
    let waited = Instant::now();
    let named = ahead::finish();
    let waited = waited.elapsed();
    // The next session starts while the namer left behind still has no core; once it has one, it
    // stops, although a namer runs again.
    let session = Session::start(SessionOptions { frequency: 99, ..Default::default() }).unwrap();
    burning.store(false, Ordering::Relaxed);
    for burner in burners {
        burner.join().unwrap();
    }
    assert!(waited < Duration::from_millis(150), "the export waited {waited:?} for a namer without a core");
    // Whatever it had named or not, the export names the rest.
    let sym = symbolize_with(&raw, named);
    assert_eq!(sym.stacks.len(), raw.stacks.node_count());
    let alone = Instant::now();
    while namer_tids().len() != 1 && alone.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let namers = namer_tids();
    drop(session.stop());
    drop(ahead::finish());
    assert_eq!(namers.len(), 1, "namers running in the next session: {namers:?}");
    assert_ne!(namers[0], namer, "the next session's namer is a new one");
}
