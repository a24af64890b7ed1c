//! Mach-O symbolization and unwinding, run on any host against the cross-built fixture in
//! fixtures/macho (built from its C sources by `bash scripts/apple-check.sh --fixture`): the code
//! the macOS sampler and symbolizer use, given a real Apple linker's output.
//!
//! Each unwinding test lays out a synthetic stack as the fixture's own code would have left it
//! (its prologues are quoted beside each layout) and walks it with framehop's unwinder for that
//! architecture, built from the image's sections by `unwind::macho` exactly as the macOS module
//! list builds it from dyld's images.

use std::collections::HashMap;
use std::path::PathBuf;

use framehop::aarch64::{CacheAarch64, UnwindRegsAarch64, UnwinderAarch64};
use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{Module, Unwinder};
use object::{Object, ObjectSymbol};
use perfprobe_core::profile::ModuleInfo;
use perfprobe_core::symbolize::elf::ModuleSymbolizer;
use perfprobe_core::unwind::macho::MachoLayout;

struct Fixture {
    arch: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
    layout: MachoLayout,
    symbols: HashMap<String, u64>,
}

fn fixture(arch: &'static str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/macho/fixture-{arch}.dylib"));
    let bytes = std::fs::read(&path).expect("the committed Mach-O fixture");
    let layout = MachoLayout::parse(&bytes).expect("a 64-bit Mach-O image");
    let file = object::File::parse(&*bytes).unwrap();
    let symbols = file
        .symbols()
        .filter_map(|s| Some((s.name().ok()?.strip_prefix('_')?.to_string(), s.address())))
        .collect();
    Fixture { arch, path, bytes, layout, symbols }
}

impl Fixture {
    fn addr(&self, name: &str) -> u64 {
        self.symbols[&format!("perfprobe_fixture_{name}")]
    }

    /// framehop's module for the image loaded at its stated addresses (slide 0), with or without
    /// its unwind sections.
    fn module(&self, with_unwind_info: bool) -> Module<Vec<u8>> {
        let bytes = |svma: std::ops::Range<u64>, off: u64| {
            let end = (off + (svma.end - svma.start)).min(self.bytes.len() as u64);
            self.bytes[off as usize..end as usize].to_vec()
        };
        let mut info = self.layout.section_info(bytes);
        if !with_unwind_info {
            (info.unwind_info, info.eh_frame, info.eh_frame_svma) = (None, None, None);
        }
        let text = self.layout.text_segment.clone();
        Module::new(self.path.display().to_string(), text.clone(), text.start, info)
    }

    /// The return address of `caller`'s call to `callee` (the instruction after it).
    fn return_into(&self, caller: &str, callee: &str) -> u64 {
        let (text, off) = self.layout.section("__text").unwrap();
        let code = &self.bytes[off as usize..(off + text.end - text.start) as usize];
        let (from, target) = (self.addr(caller), self.addr(callee));
        let at = |a: u64| (a - text.start) as usize;
        if self.arch == "aarch64" {
            // BL: 0b100101 imm26, word offset.
            (from..text.end).step_by(4).find_map(|pc| {
                let word = u32::from_le_bytes(code[at(pc)..at(pc) + 4].try_into().unwrap());
                let imm = ((word & 0x03ff_ffff) << 6) as i32 >> 4;
                (word >> 26 == 0b100101 && pc.wrapping_add(imm as i64 as u64) == target).then_some(pc + 4)
            })
        } else {
            // CALL rel32: E8 imm32, relative to the next instruction.
            (from..text.end - 5).find_map(|pc| {
                let rel = i32::from_le_bytes(code[at(pc) + 1..at(pc) + 5].try_into().unwrap());
                (code[at(pc)] == 0xe8 && (pc + 5).wrapping_add(rel as i64 as u64) == target).then_some(pc + 5)
            })
        }
        .unwrap_or_else(|| panic!("no call from {caller} to {callee}"))
    }
}

/// A stack of 64 words ending at `TOP`, written word by word; reads outside it fail.
struct Stack(HashMap<u64, u64>);
const TOP: u64 = 0x7ff0_0002_0000;

impl Stack {
    fn read(&self, addr: u64) -> Result<u64, ()> {
        (addr % 8 == 0 && (TOP - 512..TOP).contains(&addr)).then(|| self.0.get(&addr).copied().unwrap_or(0)).ok_or(())
    }
}

/// The frames (pc, then return addresses) framehop's `unwinder` finds from `regs` on `stack`.
fn walk_with<U: Unwinder<Module = Module<Vec<u8>>>>(
    mut unwinder: U,
    module: Module<Vec<u8>>,
    pc: u64,
    regs: U::UnwindRegs,
    mut cache: U::Cache,
    stack: &Stack,
) -> Vec<u64> {
    unwinder.add_module(module);
    let mut read = |a| stack.read(a);
    let mut iter = unwinder.iter_frames(pc, regs, &mut cache, &mut read);
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = iter.next() {
        frames.push(frame.address());
    }
    frames
}

fn symbolizer(f: &Fixture, addresses: &[u64]) -> ModuleSymbolizer {
    let text = f.layout.text_segment.clone();
    let module = ModuleInfo {
        path: f.path.display().to_string(),
        base_avma: 0,
        start: text.start,
        limit: text.end,
        file_offset: f.layout.text_fileoff,
        build_id: f.layout.uuid.map(|u| perfprobe_core::util::hex(&u)),
    };
    ModuleSymbolizer::open(&module, addresses)
}

fn names(f: &Fixture, frames: &[u64]) -> Vec<String> {
    // Callers are looked up at return address - 1, inside the call, as the symbolizer does.
    let lookups: Vec<u64> = frames.iter().enumerate().map(|(i, &a)| if i == 0 { a } else { a - 1 }).collect();
    let s = symbolizer(f, &lookups);
    lookups.iter().map(|&a| s.frames(a)[0].function.clone()).collect()
}

#[test]
fn functions_of_both_architectures_resolve_to_their_names() {
    for arch in ["aarch64", "x86_64"] {
        let f = fixture(arch);
        let names_of = ["leaf", "middle", "outer", "entry", "frameless"];
        // An address inside each function (past its first instruction, before the next function):
        // nlist symbols have no size, so each must end where the next one starts.
        let inside: Vec<u64> = names_of.iter().map(|n| f.addr(n) + 4).collect();
        let s = symbolizer(&f, &inside);
        for (name, addr) in names_of.iter().zip(&inside) {
            assert_eq!(s.frames(*addr)[0].function, format!("perfprobe_fixture_{name}"), "{arch} {addr:#x}");
        }
        assert!(f.layout.uuid.is_some(), "{arch}: LC_UUID is the pprof build id");
        assert!(f.layout.section("__unwind_info").is_some(), "{arch}: the linker wrote __unwind_info");
    }
}

#[test]
fn aarch64_frame_records_give_the_callers_and_unwind_info_the_frameless_leafs() {
    let f = fixture("aarch64");
    // entry:  stp x20, x19, [sp, #-32]!; stp x29, x30, [sp, #16]; add x29, sp, #16
    // outer:  stp x29, x30, [sp, #-16]!; mov x29, sp
    // middle: stp x20, x19, [sp, #-32]!; stp x29, x30, [sp, #16]; add x29, sp, #16
    // leaf:   no frame (its return address stays in lr)
    let fp_entry = TOP - 16;
    let fp_outer = TOP - 48;
    let sp_middle = TOP - 80;
    let fp_middle = sp_middle + 16;
    let mut stack = Stack(HashMap::new());
    stack.0.insert(fp_entry, 0);
    stack.0.insert(fp_entry + 8, 0); // entry's caller: the end of the walk
    stack.0.insert(fp_outer, fp_entry);
    stack.0.insert(fp_outer + 8, f.return_into("entry", "outer"));
    stack.0.insert(fp_middle, fp_outer);
    stack.0.insert(fp_middle + 8, f.return_into("outer", "middle"));
    let pc = f.addr("leaf") + 4;
    let lr = f.return_into("middle", "leaf");
    let expected = vec![pc, lr, f.return_into("outer", "middle"), f.return_into("entry", "outer")];

    let walk = |with_unwind_info: bool| {
        let regs = UnwindRegsAarch64::new(lr, sp_middle, fp_middle);
        walk_with(UnwinderAarch64::new(), f.module(with_unwind_info), pc, regs, CacheAarch64::new(), &stack)
    };
    let through_unwind_info = walk(true);
    assert_eq!(through_unwind_info, expected);
    assert_eq!(
        names(&f, &through_unwind_info),
        ["perfprobe_fixture_leaf", "perfprobe_fixture_middle", "perfprobe_fixture_outer", "perfprobe_fixture_entry"]
    );
    // The frame records alone give every framed caller, but not the leaf's caller, whose return
    // address is only in lr: `__unwind_info` marks the leaf frameless.
    let through_frame_pointers = walk(false);
    assert_eq!(through_frame_pointers, vec![pc, expected[2], expected[3]]);
}

#[test]
fn x86_64_frameless_caller_is_stepped_over_by_unwind_info_and_lost_by_frame_pointers() {
    let f = fixture("x86_64");
    // entry:     push rbp; mov rbp, rsp; push r14; push rbx; ... call frameless
    // frameless: push rax; ... call leaf            (no frame record: built without frame pointers)
    // leaf:      push rbp; mov rbp, rsp; <pc>
    let rbp_entry = TOP - 16;
    let ret_into_entry = f.return_into("entry", "frameless");
    let ret_into_frameless = f.return_into("frameless", "leaf");
    let mut stack = Stack(HashMap::new());
    stack.0.insert(rbp_entry, 0);
    stack.0.insert(rbp_entry + 8, 0); // entry's caller: the end of the walk
    stack.0.insert(rbp_entry - 24, ret_into_entry);
    stack.0.insert(rbp_entry - 40, ret_into_frameless);
    stack.0.insert(rbp_entry - 48, rbp_entry); // leaf's push rbp
    let rbp_leaf = rbp_entry - 48;
    let pc = f.addr("leaf") + 4;

    let walk = |with_unwind_info: bool| {
        let regs = UnwindRegsX86_64::new(pc, rbp_leaf, rbp_leaf);
        walk_with(UnwinderX86_64::new(), f.module(with_unwind_info), pc, regs, CacheX86_64::new(), &stack)
    };
    let through_unwind_info = walk(true);
    assert_eq!(through_unwind_info, vec![pc, ret_into_frameless, ret_into_entry]);
    assert_eq!(
        names(&f, &through_unwind_info),
        ["perfprobe_fixture_leaf", "perfprobe_fixture_frameless", "perfprobe_fixture_entry"]
    );
    // Frame pointers alone go from leaf's record straight to entry's caller: entry is lost.
    let through_frame_pointers = walk(false);
    assert!(!through_frame_pointers.contains(&ret_into_entry), "{through_frame_pointers:x?}");
}
