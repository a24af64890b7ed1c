//! Addresses named while the session runs (`symbolize::ahead`) read exactly as the export names them
//! itself. Its own test binary: the namer is process-wide.

use std::collections::HashMap;

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

#[test]
fn names_found_during_the_session_are_the_exports_own() {
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
