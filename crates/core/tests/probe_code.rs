//! The probe's own module is named from its symbol tables alone (its own test binary: which module
//! is the probe's is process-wide). Here this test binary plays the addon.

use perfprobe_core::session::{Session, SessionOptions};
use perfprobe_core::symbolize::{set_probe_code, symbolize};
use perfprobe_core::util::thread_cpu_ns;

#[inline(never)]
fn burn_in_the_probes_code(ms: u64) -> u64 {
    let until = thread_cpu_ns() + ms * 1_000_000;
    let mut x = 1u64;
    while thread_cpu_ns() < until {
        x = std::hint::black_box(x.rotate_left(7) ^ 0x9e37_79b9);
    }
    x
}

#[test]
fn the_probes_own_frames_have_names_and_no_lines() {
    let code = burn_in_the_probes_code as fn(u64) -> u64 as usize as u64;
    set_probe_code(code);
    let session = Session::start(SessionOptions { frequency: 999, ..Default::default() }).unwrap();
    burn_in_the_probes_code(300);
    let raw = session.stop();
    let sym = symbolize(&raw);
    let module = sym.modules.iter().position(|m| (m.module.start..m.module.limit).contains(&code)).unwrap();
    let own: Vec<_> = sym.locations.iter().filter(|l| l.module == Some(module)).collect();
    let burner = own.iter().filter(|l| l.frames.iter().any(|f| f.function.contains("burn_in_the_probes_code"))).count();
    assert!(burner > 0, "the burner is named: {:?}", own.iter().map(|l| &l.frames).collect::<Vec<_>>());
    for l in &own {
        assert_eq!(l.frames.len(), 1, "no inline frames: {:?}", l.frames);
        assert!(l.frames[0].file.is_none() && l.frames[0].line.is_none(), "no lines: {:?}", l.frames);
    }
    // Other modules keep their DWARF: this binary's own file says it has some.
    assert_eq!(sym.modules[module].symbols, perfprobe_core::symbolize::SymbolStatus::Dwarf);
}
