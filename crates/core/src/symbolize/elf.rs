//! Names from one ELF module: its symbol tables (sized, so a stripped binary's lone export does
//! not swallow every address after it) and, where present, DWARF lines and inline frames through
//! addr2line. Addresses are looked up as stated in the file (SVMA = runtime address - load bias).

use memmap2::Mmap;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use super::demangle::demangle;
use super::{Frame, SymbolStatus};
use crate::profile::ModuleInfo;

pub struct ModuleSymbolizer {
    module: ModuleInfo,
    status: SymbolStatus,
    /// Breakpad's code id for a module without a GNU build-id (see [`text_hash_id`]).
    pub fallback_id: Option<String>,
    /// (start, end, raw name), sorted by start; demangled when hit (most symbols never are).
    symbols: Vec<(u64, u64, String)>,
    dwarf: Option<addr2line::Loader>,
}

impl ModuleSymbolizer {
    pub fn open(module: &ModuleInfo) -> ModuleSymbolizer {
        let mut me = ModuleSymbolizer { module: module.clone(), status: SymbolStatus::Unreadable, fallback_id: None, symbols: Vec::new(), dwarf: None };
        let Some(map) = map_file(&module.path) else { return me };
        let Ok(file) = object::File::parse(&*map) else { return me };
        me.status = status_of_object(&file);
        if module.build_id.is_none() {
            me.fallback_id = text_hash_id(&file);
        }
        me.symbols = function_symbols(&file);
        if me.status == SymbolStatus::Dwarf {
            me.dwarf = addr2line::Loader::new(&module.path).ok();
        }
        me
    }

    pub fn status(&self) -> SymbolStatus {
        self.status
    }

    /// The frames of `address` (a runtime address), innermost first; never empty.
    pub fn frames(&self, address: u64) -> Vec<Frame> {
        let svma = address.wrapping_sub(self.module.base_avma);
        let symbol = self.symbol(svma).map(demangle);
        let mut frames = Vec::new();
        if let Some(dwarf) = &self.dwarf {
            if let Ok(mut iter) = dwarf.find_frames(svma) {
                while let Ok(Some(f)) = iter.next() {
                    let function = f
                        .function
                        .as_ref()
                        .and_then(|n| n.raw_name().ok())
                        .map(|n| demangle(&n))
                        .or_else(|| symbol.clone());
                    let Some(function) = function else { continue };
                    let (file, line) = f.location.map(|l| (l.file.map(str::to_string), l.line)).unwrap_or((None, None));
                    frames.push(Frame { function, short: String::new(), file, line });
                }
            }
        }
        // The outermost frame is the function that holds the address: its symbol is the fully
        // qualified name (line-tables-only DWARF names functions without their path).
        if let (Some(outer), Some(name)) = (frames.last_mut(), symbol.as_ref()) {
            outer.function = name.clone();
        }
        if frames.is_empty() {
            let function = match symbol {
                Some(name) => name,
                None => format!("{}+{:#x}", self.module.file_name(), svma),
            };
            frames.push(Frame { function, short: String::new(), file: None, line: None });
        }
        frames
    }

    fn symbol(&self, svma: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|s| s.0 <= svma);
        // Symbols can nest (aliases, local labels): walk back a little for one that covers svma.
        self.symbols[..i].iter().rev().take(8).find(|s| svma < s.1).map(|s| s.2.as_str())
    }
}

fn map_file(path: &str) -> Option<Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: read-only map of a loaded module; modules are not rewritten while loaded.
    unsafe { Mmap::map(&file) }.ok()
}

fn status_of_object(file: &object::File) -> SymbolStatus {
    let has_dwarf = file.section_by_name(".debug_info").is_some_and(|s| s.size() > 0);
    let has_symtab = file.symbols().filter(|s| s.kind() == SymbolKind::Text).nth(16).is_some();
    if has_dwarf {
        SymbolStatus::Dwarf
    } else if has_symtab {
        SymbolStatus::Symbols
    } else {
        SymbolStatus::Stripped
    }
}

/// How much a module on disk can tell without symbolizing anything, and its fallback id.
pub fn status_of(path: &str) -> (SymbolStatus, Option<String>) {
    map_file(path)
        .and_then(|m| object::File::parse(&*m).ok().map(|f| (status_of_object(&f), text_hash_id(&f))))
        .unwrap_or((SymbolStatus::Unreadable, None))
}

/// An identifier for an ELF file that has no GNU build-id (Rspack's npm binding has none): Breakpad's
/// convention, the first 4096 bytes of `.text` XOR-folded into 16 bytes, which symbol servers and
/// samply also use, so a profile still names the exact binary it came from.
pub fn text_hash_id(file: &object::File) -> Option<String> {
    let text = file.section_by_name(".text")?.data().ok()?;
    let mut id = [0u8; 16];
    for (i, b) in text.iter().take(4096).enumerate() {
        id[i % 16] ^= b;
    }
    Some(crate::util::hex(&id))
}

fn function_symbols(file: &object::File) -> Vec<(u64, u64, String)> {
    let mut out: Vec<(u64, u64, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0 && s.address() > 0)
        .filter_map(|s| Some((s.address(), s.address() + s.size(), s.name().ok()?)))
        .filter(|(_, _, name)| !name.is_empty())
        .map(|(start, end, name)| (start, end, name.to_string()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    out
}
