//! The images (Mach-O) loaded in this process, from dyld's image list: slide, `__TEXT` segment,
//! UUID (the pprof build id), and the unwind sections as they sit in memory
//! ([`crate::unwind::macho`] reads the load commands), so the unwinder needs no file I/O.
//!
//! Called on the sampler thread only, never while a thread is suspended: dyld takes locks.

use std::ffi::CStr;

use framehop::Module;

use crate::platform::{LoadedModule, MemSlice};
use crate::profile::ModuleInfo;
use crate::unwind::macho::MachoLayout;
use crate::util::hex;

/// How many images dyld has loaded: changes exactly when one is added (node never unloads any).
pub fn load_count() -> u64 {
    // SAFETY: no preconditions.
    u64::from(unsafe { mach2::dyld::_dyld_image_count() })
}

/// Every loaded image that has a `__TEXT` segment.
pub fn loaded_modules() -> Vec<LoadedModule> {
    (0..load_count() as u32).filter_map(image).collect()
}

fn image(index: u32) -> Option<LoadedModule> {
    // SAFETY: dyld's accessors for an index below the image count; a racing unload (never done by
    // node) would return null, which is checked.
    let (header, slide, name) = unsafe {
        (mach2::dyld::_dyld_get_image_header(index), mach2::dyld::_dyld_get_image_vmaddr_slide(index), mach2::dyld::_dyld_get_image_name(index))
    };
    if header.is_null() || name.is_null() {
        return None;
    }
    // SAFETY: a loaded image's header is mapped and followed by its load commands.
    let commands = unsafe {
        let size = std::mem::size_of::<object::macho::MachHeader64<object::Endianness>>() + (*header).sizeofcmds as usize;
        std::slice::from_raw_parts(header as *const u8, size)
    };
    let layout = MachoLayout::parse(commands)?;
    let slide = slide as u64;
    // SAFETY: the sections of a loaded image are mapped at their address plus the slide for as
    // long as it stays loaded (for the process's life).
    let mem = |svma: std::ops::Range<u64>, _fileoff: u64| unsafe {
        MemSlice::new(svma.start.wrapping_add(slide) as *const u8, (svma.end - svma.start) as usize)
    };
    let section_info = layout.section_info(mem);
    // SAFETY: dyld's image names are NUL-terminated and live as long as the image.
    let path = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
    let start = layout.text_segment.start.wrapping_add(slide);
    let limit = layout.text_segment.end.wrapping_add(slide);
    let info = ModuleInfo {
        path: path.clone(),
        // As for ELF: what is added to an address in the file to find it in memory.
        base_avma: slide,
        start,
        limit,
        file_offset: layout.text_fileoff,
        build_id: layout.uuid.map(|u| hex(&u)),
    };
    let unwind_module = Module::new(path, start..limit, start, section_info);
    Some(LoadedModule { segments: vec![info], unwind_module })
}
