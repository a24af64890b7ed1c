//! The modules (ELF objects) loaded in this process, read from the dynamic loader's own list
//! (`dl_iterate_phdr`): load bias, executable segment, build-id, and the unwind sections as they
//! sit in memory, so the unwinder needs no file I/O and no copy of a 44 MB binary's sections.

use std::ffi::CStr;

use framehop::{ExplicitModuleSectionInfo, Module};

use crate::platform::{LoadedModule, MemSlice};
use crate::profile::ModuleInfo;
use crate::util::hex;

/// How many objects the loader has ever loaded: changes exactly when a module is added.
pub fn load_count() -> u64 {
    let mut adds: u64 = 0;
    unsafe extern "C" fn cb(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        *(data as *mut u64) = (*info).dlpi_adds;
        1 // the counters are the same in every entry: stop after the first
    }
    // SAFETY: the callback only reads the entry it is given.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut adds as *mut u64 as *mut libc::c_void) };
    adds
}

struct RawEntry {
    name: String,
    bias: u64,
    phdrs: Vec<libc::Elf64_Phdr>,
}

/// Every loaded module that has executable code.
pub fn loaded_modules() -> Vec<LoadedModule> {
    let mut entries: Vec<RawEntry> = Vec::new();
    unsafe extern "C" fn cb(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        let entries = &mut *(data as *mut Vec<RawEntry>);
        let info = &*info;
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(info.dlpi_name).to_string_lossy().into_owned()
        };
        let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize).to_vec();
        entries.push(RawEntry { name, bias: info.dlpi_addr, phdrs });
        0
    }
    // SAFETY: the callback copies what it reads; nothing escapes the call.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut entries as *mut Vec<RawEntry> as *mut libc::c_void) };
    entries.into_iter().filter_map(module_from_entry).collect()
}

fn module_from_entry(entry: RawEntry) -> Option<LoadedModule> {
    let execs: Vec<&libc::Elf64_Phdr> =
        entry.phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD && p.p_flags & libc::PF_X != 0).collect();
    // The largest executable segment holds .text: framehop reads its bytes for prologue analysis.
    let exec = *execs.iter().max_by_key(|p| p.p_memsz)?;
    let path = if entry.name.is_empty() {
        // The main program: the loader gives it no name.
        std::fs::read_link("/proc/self/exe").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        entry.name.clone()
    };
    let bias = entry.bias;
    // SAFETY: the loader's program headers describe mapped segments of this module.
    let mem = |svma: u64, len: u64| unsafe { MemSlice::new(bias.wrapping_add(svma) as *const u8, len as usize) };

    let text_svma = exec.p_vaddr..exec.p_vaddr + exec.p_memsz;
    let mut section_info = ExplicitModuleSectionInfo::<MemSlice> {
        base_svma: 0,
        text_svma: Some(text_svma.clone()),
        text: Some(mem(exec.p_vaddr, exec.p_filesz)),
        ..Default::default()
    };
    if let Some(hdr) = entry.phdrs.iter().find(|p| p.p_type == libc::PT_GNU_EH_FRAME) {
        let hdr_bytes = mem(hdr.p_vaddr, hdr.p_memsz);
        if let Some(eh_frame_svma) = eh_frame_address(&hdr_bytes, hdr.p_vaddr) {
            // The header says where .eh_frame starts, not how long it is: it runs at most to the
            // end of the loaded segment that holds it, and lookups go through the header's table.
            let segment = entry.phdrs.iter().find(|p| {
                p.p_type == libc::PT_LOAD && (p.p_vaddr..p.p_vaddr + p.p_memsz).contains(&eh_frame_svma)
            });
            if let Some(segment) = segment {
                let end = segment.p_vaddr + segment.p_filesz.min(segment.p_memsz);
                section_info.eh_frame_svma = Some(eh_frame_svma..end);
                section_info.eh_frame = Some(mem(eh_frame_svma, end.saturating_sub(eh_frame_svma)));
                section_info.eh_frame_hdr_svma = Some(hdr.p_vaddr..hdr.p_vaddr + hdr.p_memsz);
                section_info.eh_frame_hdr = Some(hdr_bytes);
            }
        }
    }
    let build_id = entry
        .phdrs
        .iter()
        .filter(|p| p.p_type == libc::PT_NOTE)
        .find_map(|p| build_id_from_notes(&mem(p.p_vaddr, p.p_memsz)));

    let build_id = build_id.map(|b| hex(&b));
    let segments: Vec<ModuleInfo> = execs
        .iter()
        .map(|p| ModuleInfo {
            path: path.clone(),
            base_avma: bias,
            start: bias.wrapping_add(p.p_vaddr),
            limit: bias.wrapping_add(p.p_vaddr + p.p_memsz),
            file_offset: p.p_offset,
            build_id: build_id.clone(),
        })
        .collect();
    // framehop wants one address range per module: it spans every executable segment.
    let start = segments.iter().map(|m| m.start).min()?;
    let limit = segments.iter().map(|m| m.limit).max()?;
    let unwind_module = Module::new(path, start..limit, bias, section_info);
    Some(LoadedModule { segments, unwind_module })
}

/// Decodes `eh_frame_ptr` from an `.eh_frame_hdr` (LSB spec): version 1, then the pointer's
/// encoding byte. Toolchains write pcrel|sdata4 or absolute udata4/udata8/sdata4 forms.
fn eh_frame_address(hdr: &[u8], hdr_svma: u64) -> Option<u64> {
    if hdr.len() < 8 || hdr[0] != 1 {
        return None;
    }
    let enc = hdr[1];
    let field_svma = hdr_svma + 4;
    let value: i64 = match enc & 0x0f {
        0x03 => u32::from_le_bytes(hdr[4..8].try_into().ok()?) as i64,
        0x0b => i32::from_le_bytes(hdr[4..8].try_into().ok()?) as i64,
        0x04 | 0x0c => i64::from_le_bytes(hdr.get(4..12)?.try_into().ok()?),
        _ => return None,
    };
    match enc & 0x70 {
        0x00 => Some(value as u64),
        0x10 => Some(field_svma.wrapping_add(value as u64)),
        _ => None,
    }
}

/// Finds the GNU build-id note (type 3, owner "GNU") in a PT_NOTE segment.
fn build_id_from_notes(notes: &[u8]) -> Option<Vec<u8>> {
    let mut rest = notes;
    let align4 = |n: usize| (n + 3) & !3;
    while rest.len() >= 12 {
        let namesz = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
        let descsz = u32::from_ne_bytes(rest[4..8].try_into().ok()?) as usize;
        let kind = u32::from_ne_bytes(rest[8..12].try_into().ok()?);
        let name_end = 12 + align4(namesz);
        let desc_end = name_end + align4(descsz);
        if desc_end > rest.len() {
            return None;
        }
        if kind == 3 && namesz == 4 && &rest[12..16] == b"GNU\0" {
            return Some(rest[name_end..name_end + descsz].to_vec());
        }
        rest = &rest[desc_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_test_binary_with_unwind_info_and_build_id() {
        let modules = loaded_modules();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let me = modules
            .iter()
            .find(|m| m.segments[0].path == exe.to_string_lossy())
            .expect("the test executable is a loaded module");
        let here = finds_the_test_binary_with_unwind_info_and_build_id as *const () as usize as u64;
        assert!(me.segments.iter().any(|m| m.start <= here && here < m.limit));
        assert!(modules.iter().any(|m| m.segments[0].path.contains("libc")));
        assert!(modules.iter().any(|m| m.segments[0].build_id.is_some()));
    }

    #[test]
    fn decodes_pcrel_eh_frame_pointer() {
        let mut hdr = vec![1u8, 0x1b, 0x03, 0x3b];
        hdr.extend_from_slice(&(0x100i32).to_le_bytes());
        assert_eq!(eh_frame_address(&hdr, 0x1000), Some(0x1000 + 4 + 0x100));
    }

    #[test]
    fn parses_a_build_id_note() {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_ne_bytes());
        note.extend_from_slice(&3u32.to_ne_bytes());
        note.extend_from_slice(&3u32.to_ne_bytes());
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&[0xab, 0xcd, 0xef, 0]);
        assert_eq!(build_id_from_notes(&note), Some(vec![0xab, 0xcd, 0xef]));
    }
}
