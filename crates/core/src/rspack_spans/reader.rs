//! The FIFO Rspack's logger layer writes into, and the thread that drains it. The logger writes from
//! Rspack's own threads, synchronously, so a full pipe would stall the build: the reader only reads,
//! splits lines and parses them (microseconds per record), never waits on anything else, and keeps
//! reading whatever happens to the records (bounded store, oldest dropped and counted). One reader per
//! process, as Rspack allows one registration per process.

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::record::{parse_line, SpanRecord};
use crate::util::{monotonic_ns, unix_ns};

/// Spans kept for sessions that have not taken them yet; beyond it the oldest are dropped.
const MAX_KEPT: usize = 500_000;
/// A line longer than this (Rspack logs its whole options as one event line) is skipped unread.
const MAX_LINE: usize = 8 << 20;
/// The pipe's buffer on Linux: room for ~4k records while the reader is descheduled.
#[cfg(target_os = "linux")]
const PIPE_BYTES: libc::c_int = 1 << 20;

struct Reader {
    spans: Mutex<VecDeque<SpanRecord>>,
    dropped: AtomicU64,
    /// The reader holds bytes it has read and not yet stored.
    busy: AtomicBool,
    fd: AtomicI32,
    /// Realtime minus monotonic, taken when the FIFO was opened, right before the registration.
    offset_ns: i128,
}

static READER: OnceLock<Reader> = OnceLock::new();
/// Rspack took the registration ([`registered`]): spans will come unless it lets another one win.
static ACCEPTED: AtomicBool = AtomicBool::new(false);
/// The process was told once that a session's spans did not come.
static WARNED_NONE_CAME: AtomicBool = AtomicBool::new(false);

/// Creates a FIFO in `dir`, starts draining it, and returns its path for Rspack's
/// `registerGlobalTrace(filter, "logger", path)`. Remove it with [`registered`] once Rspack opened it.
pub fn open(dir: &Path) -> io::Result<PathBuf> {
    if READER.get().is_some() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "Rspack's spans are already read in this process"));
    }
    let path = dir.join(format!("perfprobe-rspack-spans-{}.fifo", std::process::id()));
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let _ = std::fs::remove_file(&path);
    // SAFETY: plain calls on a NUL-terminated path; every fd is checked and owned below.
    let fd = unsafe {
        if libc::mkfifo(c_path.as_ptr(), 0o600) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Non-blocking, so opening does not wait for a writer; then blocking reads.
        let fd = libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC);
        if fd < 0 {
            let e = io::Error::last_os_error();
            libc::unlink(c_path.as_ptr());
            return Err(e);
        }
        // A writer of our own, never closed: reads then block between Rspack's writes instead of
        // seeing end-of-file before Rspack opened the FIFO (or after it closed it at cleanup).
        let keep_open = libc::open(c_path.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC);
        libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) & !libc::O_NONBLOCK);
        #[cfg(target_os = "linux")]
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES);
        let _ = keep_open;
        fd
    };
    let offset_ns = unix_ns() as i128 - monotonic_ns() as i128;
    let reader = Reader { spans: Mutex::new(VecDeque::new()), dropped: AtomicU64::new(0), busy: AtomicBool::new(false), fd: AtomicI32::new(fd), offset_ns };
    if READER.set(reader).is_err() {
        // SAFETY: our own fd, not shared yet.
        unsafe { libc::close(fd) };
        let _ = std::fs::remove_file(&path);
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "Rspack's spans are already read in this process"));
    }
    // SAFETY: the fd is ours and only this thread reads it.
    let file = unsafe { File::from_raw_fd(fd) };
    if let Err(e) = std::thread::Builder::new().name("perfprobe-rspack-spans".into()).spawn(move || drain(file)) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

/// Removes the FIFO's name once Rspack holds it open (the pipe lives on), or refused it; `accepted`:
/// whether Rspack took the registration.
pub fn registered(path: &Path, accepted: bool) -> io::Result<()> {
    ACCEPTED.store(accepted, Ordering::Relaxed);
    std::fs::remove_file(path)
}

/// The warning, once per process, when a session that asked for Rspack's spans got none although
/// Rspack took the registration: another registration came first (it allows one per process), or
/// the session saw no build. `summary` is the session's join, `samples` its sample count.
pub fn none_came_warning(summary: Option<&super::RspackSpansSummary>, samples: u64) -> Option<String> {
    let none_came = summary.is_some_and(|s| s.spans == 0) && samples > 0 && ACCEPTED.load(Ordering::Relaxed);
    (none_came && !WARNED_NONE_CAME.swap(true, Ordering::Relaxed)).then(|| {
        "option `rspackSpans`: Rspack sent no spans during this session (its tracing registered elsewhere first, e.g. rspack.experiments.globalTrace, or the session saw no build)".to_string()
    })
}

/// Whether this process reads Rspack's spans.
pub fn is_open() -> bool {
    READER.get().is_some()
}

fn drain(mut file: File) {
    let Some(reader) = READER.get() else { return };
    let mut chunk = vec![0u8; 64 << 10];
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => {
                // Only our own writer keeps the FIFO open; end-of-file cannot come, but never spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // No other error is expected of a blocking FIFO read; whatever it is, a reader that
            // returned would leave Rspack's writes to fill the pipe and block its threads.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        reader.busy.store(true, Ordering::Release);
        let mut parsed = Vec::new();
        for piece in chunk[..n].split_inclusive(|&b| b == b'\n') {
            let complete = piece.last() == Some(&b'\n');
            if !skipping {
                line.extend_from_slice(piece);
            }
            if complete {
                if !skipping {
                    if let Some(span) = parse_line(&line[..line.len() - 1], reader.offset_ns) {
                        parsed.push(span);
                    }
                }
                line.clear();
                skipping = false;
            } else if line.len() > MAX_LINE {
                line.clear();
                skipping = true;
            }
        }
        if !parsed.is_empty() {
            let mut spans = reader.spans.lock().unwrap_or_else(|e| e.into_inner());
            spans.extend(parsed);
            let excess = spans.len().saturating_sub(MAX_KEPT);
            if excess > 0 {
                spans.drain(..excess);
                reader.dropped.fetch_add(excess as u64, Ordering::Relaxed);
            }
        }
        reader.busy.store(false, Ordering::Release);
    }
}

/// Waits (at most `limit`) until the reader has stored every record written so far: Rspack writes
/// a span's line when it closes, a moment before the session stops.
fn settle(reader: &Reader, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut quiet_checks = 0;
    while quiet_checks < 2 && Instant::now() < deadline {
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let ok = unsafe { libc::ioctl(reader.fd.load(Ordering::Relaxed), libc::FIONREAD, &mut pending) } == 0;
        if ok && pending == 0 && !reader.busy.load(Ordering::Acquire) {
            quiet_checks += 1;
        } else {
            quiet_checks = 0;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The spans that closed between `start_ns` and `end_ns` (monotonic), and how many records were
/// dropped since the last call. Spans that closed before `end_ns` are removed: in watch mode each
/// session (build) takes its own. None when this process reads no spans.
pub fn take(start_ns: u64, end_ns: u64) -> Option<(Vec<SpanRecord>, u64)> {
    let reader = READER.get()?;
    settle(reader, Duration::from_millis(200));
    let mut spans = reader.spans.lock().unwrap_or_else(|e| e.into_inner());
    let (done, later): (VecDeque<SpanRecord>, VecDeque<SpanRecord>) = std::mem::take(&mut *spans).into_iter().partition(|s| s.end_ns <= end_ns);
    *spans = later;
    drop(spans);
    let mine = done.into_iter().filter(|s| s.end_ns > start_ns).collect();
    Some((mine, reader.dropped.swap(0, Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rspack_spans::record::format_rfc3339_utc;
    use std::io::Write;

    /// The FIFO as Rspack uses it: opened by path for writing, written line by line (a line split
    /// across writes too), never read by anyone but the reader; the spans come out on the monotonic
    /// clock, and the pipe never fills however much is written.
    #[test]
    fn a_writer_of_the_fifo_never_blocks_and_its_spans_are_taken_once() {
        let dir = std::env::temp_dir();
        let path = open(&dir).unwrap();
        assert!(open(&dir).is_err(), "one reader per process");
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        registered(&path, true).unwrap();
        assert!(!path.exists());
        let at = |mono_ns: u64| format_rfc3339_utc((mono_ns as i128 + READER.get().unwrap().offset_ns) as u64);
        let now = monotonic_ns();
        let line = |name: &str, end: u64| format!(r#"{{"timestamp":"{}","level":"INFO","fields":{{"message":"close","time.busy":"1.00ms","time.idle":"0ns"}},"target":"t","span":{{"name":"{name}"}},"spans":[]}}"#, at(end)) + "\n";
        let first = line("Compilation:seal", now - 5_000_000);
        writer.write_all(&first.as_bytes()[..40]).unwrap();
        writer.write_all(&first.as_bytes()[40..]).unwrap();
        // 20 MB of events, far more than a pipe holds: only a reader that keeps draining lets this finish.
        let filler = format!("{{\"timestamp\":\"x\",\"fields\":{{\"v\":\"{}\"}}}}\n", "a".repeat(1000));
        for _ in 0..20_000 {
            writer.write_all(filler.as_bytes()).unwrap();
        }
        writer.write_all(line("SplitChunksPlugin:optimize_chunks", now - 1_000_000).as_bytes()).unwrap();
        let (spans, dropped) = take(now - 10_000_000, now).unwrap();
        assert_eq!(dropped, 0);
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Compilation:seal", "SplitChunksPlugin:optimize_chunks"]);
        // µs timestamps: the end is within a µs of what was written; 1 ms long.
        assert!(spans[0].end_ns.abs_diff(now - 5_000_000) <= 1000, "{} vs {}", spans[0].end_ns, now - 5_000_000);
        assert_eq!(spans[0].end_ns - spans[0].start_ns, 1_000_000);
        assert_eq!(take(now - 10_000_000, now).unwrap().0, Vec::new(), "taken once");
    }

    #[test]
    fn a_session_without_the_spans_it_asked_for_is_warned_about_once_per_process() {
        ACCEPTED.store(true, Ordering::Relaxed);
        let joined = |spans| super::super::RspackSpansSummary { spans, ..Default::default() };
        assert_eq!(none_came_warning(Some(&joined(3)), 10), None, "spans came");
        assert_eq!(none_came_warning(Some(&joined(0)), 0), None, "nothing was sampled");
        assert_eq!(none_came_warning(None, 10), None, "not asked for");
        assert!(none_came_warning(Some(&joined(0)), 10).is_some_and(|w| w.contains("Rspack sent no spans")));
        assert_eq!(none_came_warning(Some(&joined(0)), 10), None, "once");
    }
}
