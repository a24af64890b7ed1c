//! A profiling session: sampler plus the moment it started, stopped into a [`RawProfile`].

use crate::profile::RawProfile;
use crate::sampler::{self, Sampler, SamplerConfig, StartError};

pub type SessionOptions = SamplerConfig;

pub struct Session {
    sampler: Box<dyn Sampler>,
}

impl Session {
    pub fn start(options: SessionOptions) -> Result<Session, StartError> {
        Ok(Session { sampler: sampler::start(options)? })
    }

    /// Whether the session ended by itself (a bound was reached).
    pub fn finished(&self) -> bool {
        self.sampler.finished()
    }

    pub fn stop(self) -> RawProfile {
        self.sampler.stop()
    }
}

/// Hands the memory a written profile freed back to the OS. Symbolization and export allocate tens
/// of MB on whichever worker thread runs them and free all of it (heaptrack finds the same few MB
/// still allocated after 30 and after 120 profiles), but glibc keeps freed chunks in the arena of
/// that thread: a process that had written 200 profiles held ~40 MB more without this.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; 0 keeps no padding.
    unsafe {
        libc::malloc_trim(0);
    }
}
