//! Making a profile's folder, `<outDir>/<name>-<YYYYMMDD-HHMMSS>-<pid>[-<n>]`, for a stop from JS
//! (the addon's `createProfileDir`) and for the addon's own export when a signal finds the JS thread
//! busy alike. lib/session.js names the folder (the local time is JS's to read); this makes it,
//! and never reuses one. And removing the temp files a writer killed mid-write left in an outDir.

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

/// Removes, in the background at idle priority, the temp files writers that died mid-write left in
/// `out_dir` ([`remove_stale_temps`]); once per outDir in a process (a watch build starts a session
/// per rebuild in the same outDir, which holds one more profile folder each time).
pub fn remove_stale_temps_in_background(out_dir: String) {
    static CLEANED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    {
        let mut cleaned = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
        if cleaned.contains(&out_dir) {
            return;
        }
        cleaned.push(out_dir.clone());
    }
    let _ = crate::platform::spawn_at_idle_priority("perfprobe-clean", out_dir, |out_dir| {
        remove_stale_temps(Path::new(&out_dir));
    });
}

/// Removes the temp files ([`crate::util::temp_path`]: `.<file><TEMP_MARK><pid>`) that writers
/// killed mid-write (kill -9) left in `out_dir` and in its profile folders, and only those of dead
/// pids: a live pid may be another process writing now. Folders not named as profile folders are a
/// user's own and never searched. Returns the paths removed; errors leave a file where it is.
pub fn remove_stale_temps(out_dir: &Path) -> Vec<PathBuf> {
    let entries = |dir: &Path| std::fs::read_dir(dir).into_iter().flatten().flatten();
    let folders = entries(out_dir)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && e.file_name().to_str().is_some_and(is_profile_folder))
        .map(|e| e.path());
    let mut removed = Vec::new();
    for dir in std::iter::once(out_dir.to_path_buf()).chain(folders.collect::<Vec<_>>()) {
        for entry in entries(&dir) {
            let Some(pid) = entry.file_name().to_str().and_then(writer_of_temp) else { continue };
            if pid != std::process::id() as i32 && !pid_alive(pid) && std::fs::remove_file(entry.path()).is_ok() {
                removed.push(entry.path());
            }
        }
    }
    removed
}

/// The writer's pid of a temp file named `.<file><TEMP_MARK><pid>`.
fn writer_of_temp(name: &str) -> Option<i32> {
    let (file, pid) = name.strip_prefix('.')?.rsplit_once(crate::util::TEMP_MARK)?;
    (!file.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.parse().ok())?
}

/// A profile folder as lib/session.js names it: `<name>-<YYYYMMDD>-<HHMMSS>-<pid>[-<n>]`, the name
/// of letters, digits, `.`, `_` and `-`.
fn is_profile_folder(name: &str) -> bool {
    let digits = |s: &str, n: Option<usize>| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && n.is_none_or(|n| s.len() == n);
    let parts: Vec<&str> = name.split('-').collect();
    // With a suffix, the last four parts are date, time, pid, n; else date, time, pid.
    let fits = |k: usize| {
        parts.len() > k && digits(parts[parts.len() - k], Some(8)) && digits(parts[parts.len() - k + 1], Some(6)) && parts[parts.len() - k + 2..].iter().all(|p| digits(p, None))
    };
    let name_ok = |k: usize| {
        let base = parts[..parts.len() - k].join("-");
        !base.is_empty() && base.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    (fits(3) && name_ok(3)) || (fits(4) && name_ok(4))
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    // EPERM: it exists but belongs to someone else.
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temps_of_dead_writers_go_and_everything_else_stays() {
        let out = scratch("stale");
        let old = out.join("build-20240101-000000-4242");
        let again = out.join("my.app_x-20240101-000000-4242-3");
        let mine = out.join("my-stuff");
        for d in [&old, &again, &mine] {
            std::fs::create_dir_all(d).unwrap();
        }
        // A pid no process has: the largest pid_max allows, plus one.
        let dead = 4_194_305;
        let me = std::process::id();
        let mark = crate::util::TEMP_MARK;
        let stale = [old.join(format!(".trace.json{mark}{dead}")), again.join(format!(".summary.json{mark}{dead}")), out.join(format!(".profile.pb.gz{mark}{dead}"))];
        let kept = [
            old.join(format!(".trace.json{mark}{me}")),
            old.join("profile.pb.gz"),
            old.join(format!(".notes.tmp-{dead}")),
            old.join(format!("{mark}{dead}")),
            mine.join(format!(".x{mark}{dead}")),
        ];
        for f in stale.iter().chain(&kept) {
            std::fs::write(f, "x").unwrap();
        }
        let mut removed = remove_stale_temps(&out);
        removed.sort();
        let mut expected = stale.to_vec();
        expected.sort();
        assert_eq!(removed, expected);
        assert!(kept.iter().all(|f| f.exists()));
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn profile_folders_are_known_by_their_names() {
        for yes in ["profile-20261206-224706-4146", "a.b_c-d-20261206-224706-1-12"] {
            assert!(is_profile_folder(yes), "{yes}");
        }
        for no in ["my-stuff", "20261206-224706-4146", "p-2026120-224706-4146", "p q-20261206-224706-4146", "p-20261206-224706-"] {
            assert!(!is_profile_folder(no), "{no}");
        }
    }

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
