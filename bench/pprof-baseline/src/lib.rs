//! pprof-rs behind two napi functions, configured as its README suggests, for bench/run.js only.

use std::cell::RefCell;

use napi::{Error, Result};
use napi_derive::napi;
use pprof::protos::Message;
use pprof::{ProfilerGuard, ProfilerGuardBuilder};

thread_local! {
  // Called from the JS main thread only (register.js): a thread-local avoids needing the guard to be Send.
  static GUARD: RefCell<Option<ProfilerGuard<'static>>> = const { RefCell::new(None) };
}

fn err(e: impl std::fmt::Display) -> Error {
  Error::from_reason(e.to_string())
}

/// Starts pprof-rs' process-wide SIGPROF sampler at `frequency` Hz.
#[napi]
pub fn start(frequency: i32) -> Result<()> {
  let guard = ProfilerGuardBuilder::default()
    .frequency(frequency)
    .blocklist(&["libc", "libgcc", "pthread", "vdso"])
    .build()
    .map_err(err)?;
  GUARD.with(|g| *g.borrow_mut() = Some(guard));
  Ok(())
}

/// Stops sampling, symbolizes (report().build()) and writes the uncompressed pprof protobuf to `path`.
/// Returns the number of samples in the report.
#[napi]
pub fn stop(path: String) -> Result<i64> {
  let guard = GUARD.with(|g| g.borrow_mut().take()).ok_or_else(|| err("not started"))?;
  let report = guard.report().build().map_err(err)?;
  // Stop the timer before encoding so the exit path is not itself sampled.
  drop(guard);
  let samples: i64 = report.data.values().map(|c| *c as i64).sum();
  let profile = report.pprof().map_err(err)?;
  let mut buf = Vec::new();
  profile.encode(&mut buf).map_err(err)?;
  let tmp = format!("{path}.tmp");
  std::fs::write(&tmp, &buf).map_err(err)?;
  std::fs::rename(&tmp, &path).map_err(err)?;
  Ok(samples)
}
