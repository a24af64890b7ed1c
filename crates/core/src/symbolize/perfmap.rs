//! V8's JIT symbol file, `/tmp/perf-<pid>.map` (written with `--perf-basic-prof[-only-functions]`):
//! lines `START SIZE name`, hex without `0x`. Later lines win for the same range (code is reused).

pub struct PerfMap {
    /// (start, end, name), sorted by start.
    entries: Vec<(u64, u64, String)>,
}

/// Where V8 writes the map of process `pid`.
pub fn path_for_pid(pid: u32) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/tmp/perf-{pid}.map"))
}

/// The folder V8 writes its per-isolate logs into: the process's working folder when the session
/// started (V8 opened them at start-up, relative to it).
static LOG_DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Removes this process's map when the process ends through `exit()`, if the map is the probe's:
/// `perfprobe --mixed` asks V8 for it (and sets `PERFPROBE_MIXED=1`) only so the probe can name JIT
/// code, and V8 never removes it (about 600 KB a build). On V8 13.6 and 14.6 (Node 24, 26) the same
/// flag also makes V8 write `isolate-0x<isolate>-<pid>-v8.log` into the working folder (measured:
/// `node --perf-basic-prof-only-functions -e 1`; Node 22 does not), and `--logfile` cannot be set
/// through `NODE_OPTIONS`: those go too. Files asked for by the user (`node --perf-basic-prof` for
/// `perf`) are theirs and stay. Registered once; an `atexit` handler, so it runs after the profile
/// written at exit (its writer is joined by a handler registered later, which runs first).
pub fn remove_at_exit_if_ours() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if ours() {
        LOG_DIR.get_or_init(|| std::env::current_dir().ok());
        // SAFETY: registers a plain extern "C" function with no arguments.
        ONCE.call_once(|| unsafe {
            libc::atexit(remove_own_map);
        });
    }
}

/// Removes this process's map now, if it is the probe's: for a process about to die of a signal,
/// where no `atexit` handler runs.
pub fn remove_if_ours() {
    if ours() {
        remove_own_map();
    }
}

fn ours() -> bool {
    std::env::var_os("PERFPROBE_MIXED").is_some_and(|v| v == "1")
}

extern "C" fn remove_own_map() {
    let pid = std::process::id();
    let _ = std::fs::remove_file(path_for_pid(pid));
    let Some(Some(dir)) = LOG_DIR.get() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let tail = format!("-{pid}-v8.log");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("isolate-0x") && name.ends_with(&tail) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl PerfMap {
    pub fn load_for_pid(pid: u32) -> Option<PerfMap> {
        PerfMap::load(&path_for_pid(pid))
    }

    pub fn load(path: &std::path::Path) -> Option<PerfMap> {
        Some(PerfMap::parse_bytes(&std::fs::read(path).ok()?))
    }

    /// Parses the file's bytes. Not UTF-8 strict: V8 may be cut off mid-character at the end of the
    /// file, and one bad name must not cost every other line.
    pub fn parse_bytes(bytes: &[u8]) -> PerfMap {
        PerfMap::parse(&String::from_utf8_lossy(bytes))
    }

    /// Parses a map, skipping malformed lines instead of failing: the file is written while V8
    /// runs and may end mid-line.
    pub fn parse(text: &str) -> PerfMap {
        let mut entries: Vec<(u64, u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let start = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
                let size = u64::from_str_radix(parts.next()?.trim_start_matches("0x"), 16).ok()?;
                let name = parts.next()?.trim();
                if name.is_empty() || size == 0 {
                    return None;
                }
                Some((start, start.checked_add(size)?, name.to_string()))
            })
            .collect();
        // Stable sort keeps file order among equal starts; lookups take the last one.
        entries.sort_by_key(|e| e.0);
        PerfMap { entries }
    }

    /// How many lines were kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn lookup(&self, address: u64) -> Option<&str> {
        let end = self.entries.partition_point(|e| e.0 <= address);
        self.entries[..end].iter().rev().take(64).find(|e| address < e.1).map(|e| e.2.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_skips_garbage() {
        let map = PerfMap::parse("1000 10 JS:~foo file.js:1:1\nzz 10 bad\n2000 20 JS:*bar x.js:2:3\n2000 8 Builtin:Newer\n30");
        assert_eq!(map.lookup(0x1005), Some("JS:~foo file.js:1:1"));
        assert_eq!(map.lookup(0x2004), Some("Builtin:Newer"));
        assert_eq!(map.lookup(0x2010), Some("JS:*bar x.js:2:3"));
        assert_eq!(map.lookup(0x1010), None);
        assert_eq!(map.lookup(0x10), None);
    }
}
