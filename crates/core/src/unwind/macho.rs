//! framehop's view of a Mach-O image: the `__TEXT` segment and the sections the arm64 and x86_64
//! unwinders read (`__unwind_info`, `__eh_frame`, `__text`, `__stubs`, `__stub_helper`, `__got`),
//! found through the image's load commands with `object`'s Mach-O reader. The same code serves the
//! dyld images of a macOS process (read in memory, no file I/O) and Mach-O files (the tests'
//! cross-built fixture), so the part that runs on a Mac is the part tested here.

use std::ops::Range;

use framehop::ExplicitModuleSectionInfo;
use object::macho::MachHeader64;
use object::read::macho::{MachHeader, Section as _, Segment as _};
use object::Endianness;

/// Where an image's code and unwind sections are, in its own (unslid) addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MachoLayout {
    /// The `__TEXT` segment's address range and file offset: what a pprof mapping covers.
    pub text_segment: Range<u64>,
    pub text_fileoff: u64,
    /// `LC_UUID`: the build id a symbol server (and `pprof`) finds the image's symbols by.
    pub uuid: Option<[u8; 16]>,
    /// (segment, section, address range, file offset)
    pub sections: Vec<(String, String, Range<u64>, u64)>,
}

impl MachoLayout {
    /// Reads the load commands of a 64-bit little-endian Mach-O image whose header starts `data`
    /// (the commands follow the header, in a file and in memory alike).
    pub fn parse(data: &[u8]) -> Option<MachoLayout> {
        let header = MachHeader64::<Endianness>::parse(data, 0).ok()?;
        let endian = header.endian().ok()?;
        let mut commands = header.load_commands(endian, data, 0).ok()?;
        let mut layout = MachoLayout::default();
        while let Ok(Some(command)) = commands.next() {
            if let Ok(Some(uuid)) = command.uuid() {
                layout.uuid = Some(uuid.uuid);
            }
            let Ok(Some((segment, section_data))) = command.segment_64() else { continue };
            let segname = name(segment.name());
            if segname == "__TEXT" {
                let start = segment.vmaddr.get(endian);
                layout.text_segment = start..start + segment.vmsize.get(endian);
                layout.text_fileoff = segment.fileoff.get(endian);
            }
            for section in segment.sections(endian, section_data).ok()? {
                let addr = section.addr.get(endian);
                layout.sections.push((
                    segname.clone(),
                    name(section.name()),
                    addr..addr + section.size.get(endian),
                    u64::from(section.offset.get(endian)),
                ));
            }
        }
        (!layout.text_segment.is_empty()).then_some(layout)
    }

    /// The address range and file offset of section `sectname` (in any segment).
    pub fn section(&self, sectname: &str) -> Option<(Range<u64>, u64)> {
        self.sections.iter().find(|s| s.1 == sectname).map(|s| (s.2.clone(), s.3))
    }

    /// framehop's section info, with each section's bytes from `bytes(address range, file offset)`.
    pub fn section_info<D: Default>(&self, mut bytes: impl FnMut(Range<u64>, u64) -> D) -> ExplicitModuleSectionInfo<D> {
        let mut data = |sectname: &str| self.section(sectname).map(|(svma, off)| bytes(svma, off));
        let range = |sectname: &str| self.section(sectname).map(|(svma, _)| svma);
        ExplicitModuleSectionInfo {
            base_svma: self.text_segment.start,
            text_svma: range("__text"),
            text: data("__text"),
            stubs_svma: range("__stubs"),
            stub_helper_svma: range("__stub_helper"),
            got_svma: range("__got"),
            unwind_info: data("__unwind_info"),
            eh_frame_svma: range("__eh_frame"),
            eh_frame: data("__eh_frame"),
            text_segment_svma: Some(self.text_segment.clone()),
            text_segment: Some(bytes(self.text_segment.clone(), self.text_fileoff)),
            ..Default::default()
        }
    }
}

fn name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
}
