//! Making a profile's folder, `<outDir>/<name>-<YYYYMMDD-HHMMSS>-<pid>[-<n>]`, for a stop from JS
//! (the addon's `createProfileDir`) and for the addon's own export when a signal finds the JS thread
//! busy alike. lib/session.js names the folder (the local time is JS's to read); this makes it,
//! and never reuses one.

use std::io;
use std::path::{Path, PathBuf};

use crate::util::describe_io;

/// `-<n>` suffixes tried before giving up (as many profiles of one name in one second).
const MAX_SUFFIX: u32 = 10_000;

/// Creates `out_dir` (with its missing parents), then `folder` in it, or `folder-<n>` if taken;
/// returns the folder made. The error is the warning to show, the same from JS and from the
/// signal thread: `cannot create a profile folder under <out_dir>: ENOENT: ...`.
pub fn create(out_dir: &str, folder: &str) -> Result<String, String> {
    let failed = |e: io::Error| format!("cannot create a profile folder under {out_dir}: {}", describe_io(&e));
    mkdirp(Path::new(out_dir)).map_err(failed)?;
    for n in 0..MAX_SUFFIX {
        let dir = if n == 0 { folder.to_string() } else { format!("{folder}-{n}") };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(failed(io::Error::other(format!("too many profile folders named {folder}-*"))))
}

/// `mkdir -p` that cannot loop and whose errors say what is wrong. Node's recursive mkdir retries
/// forever where mkdir keeps answering ENOENT for a parent that exists (/proc/x/y, Node 20 and 24),
/// and Rust's `create_dir_all` calls a file in the way `EEXIST`: here the path is climbed once to
/// the deepest existing folder, then each missing one is made once.
fn mkdirp(dir: &Path) -> io::Result<()> {
    let mut at: PathBuf = std::path::absolute(dir)?;
    let mut missing = Vec::new();
    loop {
        match std::fs::metadata(&at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("ENOTDIR: {} is a file, not a folder", at.display()))),
            // NotADirectory: a file further up; climbing finds it and says so.
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                let Some(parent) = at.parent().map(Path::to_path_buf) else { return Err(e) };
                missing.push(std::mem::replace(&mut at, parent));
            }
            Err(e) => return Err(e),
        }
    }
    for folder in missing.iter().rev() {
        match std::fs::create_dir(folder) {
            Ok(()) => {}
            // Made meanwhile by another process writing to the same outDir.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && folder.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("perfprobe-profile-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn makes_the_missing_parents_then_numbers_a_taken_folder() {
        let root = scratch("numbers");
        let out = root.join("a/b");
        let out_dir = out.to_str().unwrap();
        let folder = format!("{out_dir}/profile-20260101-120000-42");
        assert_eq!(create(out_dir, &folder), Ok(folder.clone()));
        assert_eq!(create(out_dir, &folder), Ok(format!("{folder}-1")));
        assert_eq!(create(out_dir, &folder), Ok(format!("{folder}-2")));
        assert!(Path::new(&format!("{folder}-2")).is_dir());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_named_as_such() {
        let dir = scratch("file");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "x").unwrap();
        let at = file.to_str().unwrap();
        let expected = format!("cannot create a profile folder under {at}: ENOTDIR: {at} is a file, not a folder");
        assert_eq!(create(at, &format!("{at}/p")), Err(expected.clone()));
        let under = format!("{at}/sub");
        assert_eq!(create(&under, &format!("{under}/p")), Err(expected.replacen(at, &under, 1)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_their_errno_and_nothing_loops() {
        let long = scratch("long").join("d".repeat(4000));
        let long = long.to_str().unwrap();
        assert!(create(long, &format!("{long}/p")).unwrap_err().starts_with(&format!("cannot create a profile folder under {long}: ENAMETOOLONG: ")));
        #[cfg(target_os = "linux")]
        assert_eq!(create("/proc/x/y", "/proc/x/y/p"), Err("cannot create a profile folder under /proc/x/y: ENOENT: No such file or directory (os error 2)".to_string()));
    }
}
