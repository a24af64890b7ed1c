//! Names from one ELF or Mach-O module: its symbol tables (sized, so a stripped binary's lone export
//! does not swallow every address after it) and, where present, DWARF lines and inline frames through
//! addr2line. Addresses are looked up as stated in the file (SVMA = runtime address - load bias).
//!
//! `object` reads both formats; what Mach-O needs on top is here: `nlist` symbols carry no size
//! (a function ends where the next one starts) and C-level names carry a leading underscore.
//! samply-symbols/wholesym would add dSYM and OSO lookups too, at the cost of an async stack and
//! a second object/addr2line version; lines on macOS need a `.dSYM` beside the image (not read yet).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ops::{Deref, Range};
use std::sync::Arc;

use memmap2::Mmap;
use object::{Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, SymbolKind};

use super::demangle::demangle;
use super::{Frame, SymbolStatus};
use crate::profile::ModuleInfo;

pub struct ModuleSymbolizer {
    module: ModuleInfo,
    status: SymbolStatus,
    /// Breakpad's code id for a module without a GNU build-id (see [`text_hash_id`]).
    pub fallback_id: Option<String>,
    /// For each address announced at open (as an SVMA, sorted): the name offset and length in
    /// `map` of the function symbol that covers it, demangled when asked for. Names stay in the
    /// mapped file: node's 86k symbols as Strings cost 10 MB of heap when the build's memory peaks.
    symbols: Vec<(u64, Option<(u32, u32)>)>,
    map: Option<Arc<Mmap>>,
    dwarf: Option<addr2line::Context<DwarfReader>>,
    /// Set when a reader panicked on this file's DWARF: lookups go on with the symbol table only.
    dwarf_failed: Cell<bool>,
    warning: RefCell<Option<String>>,
    /// The symbol tables read ahead ([`super::prepared`]), given back with the map and DWARF on drop.
    read_ahead: Option<(SortedSymbols, SortedSymbols)>,
}

impl ModuleSymbolizer {
    /// Reads the module's symbols for `addresses` (runtime addresses: the ones [`frames`] will be
    /// asked about; others get DWARF names only) and opens its DWARF. Never panics: a file damaged
    /// so that a reader (object, gimli, addr2line) panics on it reads as
    /// [`SymbolStatus::Unreadable`], with a [`warning`](Self::warning) naming the file and the panic.
    ///
    /// [`frames`]: Self::frames
    pub fn open(module: &ModuleInfo, addresses: &[u64]) -> ModuleSymbolizer {
        match catch_quietly(|| ModuleSymbolizer::open_unguarded(module, addresses)) {
            Ok(me) => me,
            Err(panic) => {
                let me = ModuleSymbolizer::empty(module);
                me.warn(format!("{}: unreadable, its frames stay unnamed (the ELF reader failed: {panic})", module.path));
                me
            }
        }
    }

    fn empty(module: &ModuleInfo) -> ModuleSymbolizer {
        ModuleSymbolizer {
            module: module.clone(),
            status: SymbolStatus::Unreadable,
            fallback_id: None,
            symbols: Vec::new(),
            map: None,
            dwarf: None,
            dwarf_failed: Cell::new(false),
            warning: RefCell::new(None),
            read_ahead: None,
        }
    }

    fn open_unguarded(module: &ModuleInfo, addresses: &[u64]) -> ModuleSymbolizer {
        let mut me = ModuleSymbolizer::empty(module);
        let read_ahead = super::prepared::take(&module.path);
        let Some(map) = read_ahead.as_ref().map(|t| t.map.clone()).or_else(|| map_file(&module.path).map(Arc::new)) else { return me };
        let Ok(file) = object::File::parse(&map[..]) else { return me };
        // The file at the path may have been rebuilt since it was loaded (a dev server, an addon
        // rebuilt by copy and rename): its names would be another binary's, so none beat wrong ones.
        if let (Some(loaded), Ok(Some(on_disk))) = (&module.build_id, file.build_id()) {
            let on_disk = crate::util::hex(on_disk);
            if *loaded != on_disk {
                me.warn(format!(
                    "{}: the file changed on disk since it was loaded (build-id {on_disk}, loaded {loaded}); its frames stay unnamed",
                    module.path
                ));
                return me;
            }
        }
        me.status = status_of_object(&file);
        if module.build_id.is_none() {
            me.fallback_id = text_hash_id(&file);
        }
        let mut svmas: Vec<u64> = addresses.iter().map(|a| a.wrapping_sub(module.base_avma)).collect();
        svmas.sort_unstable();
        svmas.dedup();
        match read_ahead {
            Some(FileTables { symtab, dynsym, dwarf, .. }) => {
                let (file, map) = (&file, &map[..]);
                me.symbols = covering_sorted(&symtab, &dynsym, &svmas, |dynamic, index| symbol_name(file, map, dynamic, index));
                me.dwarf = dwarf;
                me.read_ahead = Some((symtab, dynsym));
            }
            None => {
                me.symbols = covering_symbols(candidates(&file, &map, false), || candidates(&file, &map, true), &svmas);
                if me.status == SymbolStatus::Dwarf && super::reads_dwarf(module) {
                    me.dwarf = dwarf_context(&file, &map);
                }
            }
        }
        drop(file);
        me.map = Some(map);
        me
    }

    pub fn status(&self) -> SymbolStatus {
        self.status
    }

    /// What went wrong reading the file, if it was damaged beyond what the readers handle.
    pub fn warning(&self) -> Option<String> {
        self.warning.borrow().clone()
    }

    fn warn(&self, message: String) {
        self.warning.borrow_mut().get_or_insert(message);
    }

    /// The frames of `address` (a runtime address), innermost first; never empty, never panics:
    /// if the DWARF reader panics, this and later lookups use the symbol table alone.
    pub fn frames(&self, address: u64) -> Vec<Frame> {
        if self.dwarf.is_some() && !self.dwarf_failed.get() {
            match catch_quietly(|| self.frames_unguarded(address, true)) {
                Ok(frames) => return frames,
                Err(panic) => {
                    self.dwarf_failed.set(true);
                    self.warn(format!(
                        "{}: DWARF unreadable at {address:#x}, its frames have no lines from here on (the DWARF reader failed: {panic})",
                        self.module.path
                    ));
                }
            }
        }
        self.frames_unguarded(address, false)
    }

    /// The frame the symbol tables alone give `address`: its function, without lines or inlines.
    pub fn symbol_frames(&self, address: u64) -> Vec<Frame> {
        self.frames_unguarded(address, false)
    }

    fn frames_unguarded(&self, address: u64, use_dwarf: bool) -> Vec<Frame> {
        let svma = address.wrapping_sub(self.module.base_avma);
        let symbol = self.symbol(svma).map(demangle);
        let mut frames = Vec::new();
        if let Some(dwarf) = self.dwarf.as_ref().filter(|_| use_dwarf) {
            // Split DWARF (.dwo, .dwp) is not followed: release builds of node, Rspack and addons
            // keep their DWARF, if any, in the file.
            if let Ok(mut iter) = dwarf.find_frames(svma).skip_all_loads() {
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
        let i = self.symbols.binary_search_by_key(&svma, |s| s.0).ok()?;
        let (offset, len) = self.symbols[i].1?;
        let bytes = self.map.as_ref()?.get(offset as usize..offset as usize + len as usize)?;
        std::str::from_utf8(bytes).ok()
    }
}

impl Drop for ModuleSymbolizer {
    fn drop(&mut self) {
        let (Some((symtab, dynsym)), Some(map)) = (self.read_ahead.take(), self.map.take()) else { return };
        // DWARF a reader panicked on stays behind: the next export parses the file afresh.
        let dwarf = if self.dwarf_failed.get() { None } else { self.dwarf.take() };
        super::prepared::give_back(&self.module.path, FileTables { map, symtab, dynsym, dwarf });
    }
}

/// What [`super::prepared`] reads of a module's file ahead of the export: its mapping, its function
/// symbols (both tables) and its DWARF context.
pub(super) struct FileTables {
    pub(super) map: Arc<Mmap>,
    symtab: SortedSymbols,
    dynsym: SortedSymbols,
    dwarf: Option<addr2line::Context<DwarfReader>>,
}

impl FileTables {
    /// Reads `module`'s file; None if it cannot be read or parsed (the export then says why).
    pub(super) fn read(module: &ModuleInfo) -> Option<FileTables> {
        catch_quietly(|| {
            let map = Arc::new(map_file(&module.path)?);
            let file = object::File::parse(&map[..]).ok()?;
            let dwarf = if status_of_object(&file) == SymbolStatus::Dwarf && super::reads_dwarf(module) { dwarf_context(&file, &map) } else { None };
            let (symtab, dynsym) = (SortedSymbols::new(text_symbols(&file, &map, false)), SortedSymbols::new(text_symbols(&file, &map, true)));
            drop(file);
            Some(FileTables { map, symtab, dynsym, dwarf })
        })
        .ok()
        .flatten()
    }
}

/// A DWARF section's bytes as gimli reads them: a range of the module's mapped file, or the
/// decompressed copy of a compressed section.
///
/// addr2line's `Loader` would map the file a second time and build a sorted map of every symbol in
/// it (node's 86k: 27 ms of every profile's post-processing), which [`covering_symbols`] has done for
/// the few addresses wanted; a `Context` over these readers parses only the DWARF.
#[derive(Clone, Debug)]
enum SectionBytes {
    Mapped(Arc<Mmap>, Range<usize>),
    Owned(Arc<[u8]>),
}

impl Deref for SectionBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SectionBytes::Mapped(map, range) => &map[range.clone()],
            SectionBytes::Owned(bytes) => bytes,
        }
    }
}

// SAFETY: the bytes live in the mapping or the Arc's allocation, which neither moving nor cloning
// the handle moves.
unsafe impl gimli::StableDeref for SectionBytes {}
unsafe impl gimli::CloneStableDeref for SectionBytes {}

type DwarfReader = gimli::EndianReader<gimli::RunTimeEndian, SectionBytes>;

/// The DWARF of `file`, parsed from `map` (the mapping `file` was parsed from).
fn dwarf_context(file: &object::File, map: &Arc<Mmap>) -> Option<addr2line::Context<DwarfReader>> {
    let endian = if file.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
    let base = map.as_ptr() as usize;
    let load = |id: gimli::SectionId| -> Result<DwarfReader, gimli::Error> {
        let bytes = match file.section_by_name(id.name()).map(|s| s.uncompressed_data()) {
            Some(Ok(Cow::Borrowed(data))) => match (data.as_ptr() as usize).checked_sub(base) {
                Some(start) if start + data.len() <= map.len() => SectionBytes::Mapped(map.clone(), start..start + data.len()),
                _ => SectionBytes::Owned(data.into()),
            },
            Some(Ok(Cow::Owned(data))) => SectionBytes::Owned(data.into()),
            // Absent or undecodable: read as empty, as addr2line's loader does.
            None | Some(Err(_)) => SectionBytes::Owned(Arc::from(&[][..])),
        };
        Ok(gimli::EndianReader::new(bytes, endian))
    };
    let mut dwarf = gimli::Dwarf::load(load).ok()?;
    dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
    addr2line::Context::from_dwarf(dwarf).ok()
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

/// What a module on disk can tell without symbolizing anything.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskStatus {
    pub status: SymbolStatus,
    /// Breakpad's id (see [`text_hash_id`]), for a module without a GNU build-id.
    pub fallback_id: Option<String>,
    /// Set when the file was damaged so that the reader panicked (the status is then unreadable).
    pub warning: Option<String>,
}

/// How much a module on disk can tell without symbolizing anything, and its fallback id; never
/// panics (see [`ModuleSymbolizer::open`]).
pub fn status_of(path: &str) -> DiskStatus {
    let read = || {
        map_file(path)
            .and_then(|m| object::File::parse(&*m).ok().map(|f| (status_of_object(&f), text_hash_id(&f))))
            .unwrap_or((SymbolStatus::Unreadable, None))
    };
    match catch_quietly(read) {
        Ok((status, fallback_id)) => DiskStatus { status, fallback_id, warning: None },
        Err(panic) => DiskStatus {
            status: SymbolStatus::Unreadable,
            fallback_id: None,
            warning: Some(format!("{path}: unreadable (the ELF reader failed: {panic})")),
        },
    }
}

/// Runs a reader over a file that may be damaged in any way, turning a panic into its message.
///
/// The decision: the ELF/DWARF readers are dependencies (object, gimli, addr2line) whose handling
/// of every corrupt input we cannot prove (our fuzzing found none that panics), and a panic here
/// would reach the user's build through the Node-API boundary. So the module boundary catches it
/// and the module degrades to unreadable, with a warning. The panic's message goes into that
/// warning instead of the default hook's stderr output. With `panic = "abort"` nothing can be
/// caught; the crate is built with unwinding. Not for the signal handler, which never panics.
fn catch_quietly<T>(read: impl FnOnce() -> T) -> Result<T, String> {
    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
        static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.try_with(Cell::get).unwrap_or(false) {
                let _ = MESSAGE.try_with(|m| *m.borrow_mut() = Some(info.to_string().replace('\n', " ")));
            } else {
                previous(info);
            }
        }));
    });
    let was_quiet = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    QUIET.with(|q| q.set(was_quiet));
    result.map_err(|payload| {
        MESSAGE.with(|m| m.borrow_mut().take()).unwrap_or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string())
        })
    })
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

/// A function symbol of a table read ahead: its range (a Mach-O symbol has no size and ends where
/// the next text symbol or its section does) and its index in its table. Its name is looked up only
/// when it covers an address: node's 86k function names lie in a 7.5 MB string table, and finding
/// each one's end (a scan for its NUL) ahead of time made the whole table resident and took half
/// of node's read (21-25 ms of the reading thread's CPU then, 11-13 ms without; libs build).
#[derive(Clone, Copy, Debug)]
struct TextSymbol {
    start: u64,
    size: u64,
    index: usize,
}

/// A function symbol's range, its index in its table, and how to find its name: only the symbols
/// that cover an address are named, since finding a name is a scan for its NUL.
struct Candidate<N> {
    start: u64,
    size: u64,
    index: usize,
    name: N,
}

/// The name of symbol `index` of `.symtab` (`dynamic`: of `.dynsym`), as its offset and length in
/// the mapped file `file` was parsed from.
fn symbol_name(file: &object::File, map: &[u8], dynamic: bool, index: usize) -> Option<(u32, u32)> {
    let index = object::SymbolIndex(index);
    let symbol = if dynamic { file.dynamic_symbol_table()?.symbol_by_index(index).ok()? } else { file.symbol_by_index(index).ok()? };
    name_in_map(file, map, symbol.name_bytes().ok()?)
}

/// Where `name`, a slice of the mapped file `map`, lies in it (Mach-O's leading `_` left out).
fn name_in_map(file: &object::File, map: &[u8], name: &[u8]) -> Option<(u32, u32)> {
    let name = if file.format() == object::BinaryFormat::MachO { name.strip_prefix(b"_").unwrap_or(name) } else { name };
    let offset = (name.as_ptr() as usize).checked_sub(map.as_ptr() as usize)?;
    (!name.is_empty() && offset + name.len() <= map.len()).then_some((u32::try_from(offset).ok()?, u32::try_from(name.len()).ok()?))
}

/// The function symbols of `.symtab` (`dynamic`: of `.dynsym`), in table order.
fn candidates<'data: 'file, 'file>(
    file: &'file object::File<'data>,
    map: &'file [u8],
    dynamic: bool,
) -> impl Iterator<Item = Candidate<impl FnOnce() -> Option<(u32, u32)> + 'file>> + 'file {
    let macho = file.format() == object::BinaryFormat::MachO;
    let mut macho_ends: Vec<u64> = Vec::new();
    if macho {
        macho_ends.extend(file.symbols().filter(|s| s.kind() == SymbolKind::Text && s.address() != 0).map(|s| s.address()));
        macho_ends.extend(file.sections().filter(|s| s.kind() == object::SectionKind::Text).map(|s| s.address() + s.size()));
        macho_ends.sort_unstable();
        macho_ends.dedup();
    }
    let size_of = move |start: u64, size: u64| -> u64 {
        if size != 0 || !macho {
            return size;
        }
        let next = macho_ends.partition_point(|&e| e <= start);
        macho_ends.get(next).map_or(0, |&end| end - start)
    };
    let symbols = if dynamic { file.dynamic_symbols() } else { file.symbols() };
    symbols.filter(|s| s.kind() == SymbolKind::Text && s.address() != 0).filter_map(move |s| {
        let (start, size) = (s.address(), size_of(s.address(), s.size()));
        if size == 0 || start.checked_add(size).is_none() {
            return None;
        }
        Some(Candidate { start, size, index: s.index().0, name: move || name_in_map(file, map, s.name_bytes().ok()?) })
    })
}

/// The function symbols of `.symtab` (`dynamic`: of `.dynsym`), in table order, unnamed.
fn text_symbols(file: &object::File, map: &[u8], dynamic: bool) -> Vec<TextSymbol> {
    candidates(file, map, dynamic).map(|c| TextSymbol { start: c.start, size: c.size, index: c.index }).collect()
}

/// For each of `svmas` (sorted, distinct), the function symbol covering it, as the offset and
/// length of its name in the mapped file. Symbols can nest (aliases, local labels): the innermost
/// named one wins, i.e. the latest start, then the smallest size; between equal ranges the first
/// seen (`.symtab` before `.dynsym`). `.dynsym`, the exported subset of `.symtab`, is asked for only
/// when `.symtab` left an address unnamed, or there is none (a stripped file).
///
/// One pass over the tables, looking up the few addresses a profile holds, instead of sorting every
/// symbol: node has 86k of them, and sorting and naming them all was 60 ms of the post-processing
/// of every profile, however small.
fn covering_symbols<N, D>(
    symtab: impl IntoIterator<Item = Candidate<N>>,
    dynsym: impl FnOnce() -> D,
    svmas: &[u64],
) -> Vec<(u64, Option<(u32, u32)>)>
where
    N: FnOnce() -> Option<(u32, u32)>,
    D: IntoIterator<Item = Candidate<N>>,
{
    fn cover<N: FnOnce() -> Option<(u32, u32)>>(best: &mut Best, svmas: &[u64], symbols: impl IntoIterator<Item = Candidate<N>>) {
        for Candidate { start, size, name, .. } in symbols {
            let end = start + size;
            let first = svmas.partition_point(|&a| a < start);
            let (mut name, mut named) = (Some(name), None);
            for i in (first..svmas.len()).take_while(|&i| svmas[i] < end) {
                if inner(start, size, best[i]) {
                    if let Some(found) = *named.get_or_insert_with(|| name.take().and_then(|n| n())) {
                        best[i] = Some((start, size, found));
                    }
                }
            }
        }
    }
    symtab_then_dynsym(svmas, |best| cover(best, svmas, symtab), |best| cover(best, svmas, dynsym()))
}

/// Per address: (start, size, name) of the best symbol so far.
type Best = [Option<(u64, u64, (u32, u32))>];

/// Each of `svmas` with its symbol's name: `.symtab`'s first, and `.dynsym`'s only where `.symtab`
/// left an address unnamed (each `cover_*` improves the best symbol of each address).
fn symtab_then_dynsym(svmas: &[u64], cover_symtab: impl FnOnce(&mut Best), cover_dynsym: impl FnOnce(&mut Best)) -> Vec<(u64, Option<(u32, u32)>)> {
    let mut best = vec![None; svmas.len()];
    cover_symtab(&mut best);
    if best.iter().any(Option::is_none) {
        cover_dynsym(&mut best);
    }
    svmas.iter().zip(best).map(|(&a, b)| (a, b.map(|(_, _, name)| name))).collect()
}

/// Whether a symbol at `start` of `size` names an address it covers rather than `best`: the
/// innermost wins, i.e. the latest start, then the smallest size.
fn inner(start: u64, size: u64, best: Option<(u64, u64, (u32, u32))>) -> bool {
    best.is_none_or(|(s, z, _)| start > s || (start == s && size < z))
}

/// A table's function symbols sorted by start, for the session's later exports: each address's
/// covering symbol is then a binary search away, not a pass over the table (node's 86k symbols:
/// 0.6-0.8 ms of every export for its ~100 addresses, on the critical path).
pub(super) struct SortedSymbols {
    /// By start; among equal starts, table order last, so a scan back from an address meets the
    /// first in table order first (the one [`covering_symbols`] picks among equal ranges).
    list: Vec<TextSymbol>,
    /// `reach[i]`: the furthest end of `list[..=i]`; a scan back stops where it falls short.
    reach: Vec<u64>,
}

impl SortedSymbols {
    fn new(mut list: Vec<TextSymbol>) -> SortedSymbols {
        list.sort_unstable_by_key(|s| (s.start, std::cmp::Reverse(s.index)));
        let reach = list
            .iter()
            .scan(0u64, |furthest, s| {
                *furthest = (*furthest).max(s.start + s.size);
                Some(*furthest)
            })
            .collect();
        SortedSymbols { list, reach }
    }
}

/// [`covering_symbols`] over tables sorted ahead; `name(dynamic, index)` names a symbol.
fn covering_sorted(symtab: &SortedSymbols, dynsym: &SortedSymbols, svmas: &[u64], name: impl Fn(bool, usize) -> Option<(u32, u32)>) -> Vec<(u64, Option<(u32, u32)>)> {
    fn cover(best: &mut Best, svmas: &[u64], table: &SortedSymbols, name: impl Fn(usize) -> Option<(u32, u32)>) {
        for (i, &a) in svmas.iter().enumerate() {
            let mut at = table.list.partition_point(|s| s.start <= a);
            while at > 0 && table.reach[at - 1] > a {
                at -= 1;
                let s = table.list[at];
                // This one and all before it start before the best: none can be inner.
                if best[i].is_some_and(|(start, _, _)| s.start < start) {
                    break;
                }
                if a < s.start + s.size && inner(s.start, s.size, best[i]) {
                    if let Some(found) = name(s.index) {
                        best[i] = Some((s.start, s.size, found));
                    }
                }
            }
        }
    }
    symtab_then_dynsym(svmas, |best| cover(best, svmas, symtab, |index| name(false, index)), |best| cover(best, svmas, dynsym, |index| name(true, index)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function of this file with a symbol of its own: a test function may be inlined into the
    /// harness's closure, as this one was once another module's tests changed.
    #[inline(never)]
    fn rebuilt_file_marker() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn a_file_rebuilt_since_it_was_loaded_is_not_used_for_names() {
        assert_eq!(rebuilt_file_marker(), 7);
        let exe = std::env::current_exe().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&exe).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let Some(real) = file.build_id().unwrap().map(crate::util::hex) else { return };
        // An address as stated in the file (base_avma 0 below): the marker's.
        let here = file
            .symbols()
            .find(|s| s.name().is_ok_and(|n| n.contains("rebuilt_file_marker")))
            .map(|s| s.address() + 1)
            .unwrap();
        let module = |build_id: &str| ModuleInfo {
            path: exe.clone(),
            base_avma: 0,
            start: 0,
            limit: u64::MAX,
            file_offset: 0,
            build_id: Some(build_id.to_string()),
        };
        let same = ModuleSymbolizer::open(&module(&real), &[here]);
        assert_eq!(same.warning(), None);
        assert!(same.frames(here).iter().any(|f| f.function.contains("rebuilt_file_marker")));
        let other = ModuleSymbolizer::open(&module("0123456789abcdef"), &[here]);
        assert_eq!(other.status(), SymbolStatus::Unreadable);
        assert!(other.warning().unwrap().contains("changed on disk since it was loaded"), "{:?}", other.warning());
        assert!(other.frames(here)[0].function.contains("+0x"));
    }

    /// A symbol's stand-in name: some are unreadable, and both lookups must pass over those alike.
    fn made_up_name(dynamic: bool, index: usize) -> Option<(u32, u32)> {
        (index % 7 != 3).then_some((index as u32, dynamic as u32))
    }

    fn made_up_candidate(s: &TextSymbol, dynamic: bool) -> Candidate<impl FnOnce() -> Option<(u32, u32)>> {
        let index = s.index;
        Candidate { start: s.start, size: s.size, index, name: move || made_up_name(dynamic, index) }
    }

    #[test]
    fn tables_sorted_ahead_name_each_address_as_one_pass_over_them_does() {
        // Nested, overlapping, equal and repeated ranges in random table order, some names unreadable.
        let state = Cell::new(0x9e37_79b9_7f4a_7c15u64);
        let next = |bound: u64| {
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x % bound
        };
        let (mut named, mut asked) = (0, 0);
        for round in 0..300 {
            let table = |n: u64| -> Vec<TextSymbol> {
                let mut symbols: Vec<TextSymbol> = Vec::new();
                for index in 0..n as usize {
                    let (start, size) = match symbols.get(next(symbols.len() as u64 + 1) as usize) {
                        // An alias: the range of a symbol already in the table.
                        Some(s) if next(4) == 0 => (s.start, s.size),
                        _ => (next(300), 1 + next(if next(8) == 0 { 200 } else { 20 })),
                    };
                    symbols.push(TextSymbol { start, size, index });
                }
                symbols
            };
            let (symtab, dynsym) = (table(next(40)), table(next(12)));
            let mut svmas: Vec<u64> = (0..60).map(|_| next(350)).collect();
            svmas.sort_unstable();
            svmas.dedup();
            let one_pass = covering_symbols(symtab.iter().map(|s| made_up_candidate(s, false)), || dynsym.iter().map(|s| made_up_candidate(s, true)), &svmas);
            let sorted = covering_sorted(&SortedSymbols::new(symtab.clone()), &SortedSymbols::new(dynsym.clone()), &svmas, made_up_name);
            assert_eq!(sorted, one_pass, "round {round}");
            (named, asked) = (named + one_pass.iter().filter(|(_, n)| n.is_some()).count(), asked + svmas.len());
        }
        assert!(named > asked / 4 && named < asked, "{named} of {asked} addresses named: the cases are not all alike");
    }

    #[test]
    fn tables_read_ahead_name_as_a_fresh_read_does_and_are_given_back_after_use() {
        assert_eq!(rebuilt_file_marker(), 7);
        // A copy of this test binary: no other test reads it, so none takes its tables meanwhile.
        let exe = std::env::current_exe().unwrap();
        let copy = std::env::temp_dir().join(format!("perfprobe-read-ahead-{}", std::process::id()));
        std::fs::copy(&exe, &copy).unwrap();
        let path = copy.to_string_lossy().into_owned();
        let bytes = std::fs::read(&copy).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let marker = file.symbols().find(|s| s.name().is_ok_and(|n| n.contains("rebuilt_file_marker"))).unwrap();
        let other = file.symbols().filter(|s| s.kind() == SymbolKind::Text && s.size() > 0).nth(100).unwrap();
        let wanted = [marker.address() + 1, other.address() + 1, 0x10];
        let module = ModuleInfo { path: path.clone(), base_avma: 0, start: 0, limit: u64::MAX, file_offset: 0, build_id: file.build_id().unwrap().map(crate::util::hex) };
        let frames = |s: &ModuleSymbolizer| wanted.iter().map(|&a| s.frames(a)).collect::<Vec<_>>();
        let fresh = frames(&ModuleSymbolizer::open(&module, &wanted));
        assert!(fresh[0].iter().any(|f| f.function.contains("rebuilt_file_marker") && f.line.is_some()), "{:?}", fresh[0]);

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !super::super::prepared::is_read(&path) {
            // Another test's session may be reading its own modules: ask again once it is done.
            super::super::prepared::read_ahead(vec![module.clone()]);
            assert!(std::time::Instant::now() < deadline, "the tables were not read ahead");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let ahead = ModuleSymbolizer::open(&module, &wanted);
        assert!(ahead.read_ahead.is_some() && ahead.dwarf.is_some(), "the export used the tables read ahead");
        assert!(!super::super::prepared::is_read(&path), "one reader at a time holds them");
        assert_eq!(frames(&ahead), fresh);
        drop(ahead);
        assert!(super::super::prepared::is_read(&path), "given back for the next export");
        std::fs::remove_file(&copy).ok();
    }

    #[test]
    fn a_reader_panic_becomes_a_message_and_later_panics_still_report() {
        let caught = catch_quietly(|| -> u32 { panic!("bad abbreviation {}", 7) });
        assert!(caught.as_ref().unwrap_err().contains("bad abbreviation 7"), "{caught:?}");
        assert_eq!(catch_quietly(|| 5), Ok(5));
        // Outside the guard, the previous hook runs again: a real bug still shows as usual.
        let outside = std::thread::spawn(|| panic!("not quiet")).join();
        assert!(outside.is_err());
    }

    /// The names of `svmas` in `path` as `covering_symbols` finds them.
    #[cfg(target_os = "linux")]
    fn names_in(path: &str, svmas: &[u64]) -> Vec<Option<String>> {
        let map = map_file(path).unwrap();
        let file = object::File::parse(&map[..]).unwrap();
        covering_symbols(candidates(&file, &map, false), || candidates(&file, &map, true), svmas)
            .into_iter()
            .map(|(_, n)| n.map(|(at, len)| String::from_utf8_lossy(&map[at as usize..][..len as usize]).into_owned()))
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_without_a_symbol_table_is_named_from_its_exports_and_one_with_it_from_the_table() {
        // This test binary has `.symtab`; its marker is a local function, in no export table.
        let exe = std::env::current_exe().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&exe).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let marker = file.symbols().find(|s| s.name().is_ok_and(|n| n.contains("rebuilt_file_marker"))).unwrap();
        assert!(names_in(&exe, &[marker.address()])[0].as_deref().unwrap().contains("rebuilt_file_marker"));
        // A distribution's libc keeps only `.dynsym`: its exports are still named.
        let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(libc) = libc else { return };
        let bytes = std::fs::read(libc).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        if file.section_by_name(".symtab").is_some() {
            return;
        }
        let malloc = file.dynamic_symbols().find(|s| s.name() == Ok("malloc")).unwrap();
        let inside = malloc.address() + malloc.size() / 2;
        let named = names_in(libc, &[inside])[0].clone().unwrap();
        assert!(named.contains("malloc"), "{named}");
    }
}
