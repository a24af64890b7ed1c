//! perfprobe-core: the profiler without Node-API.
//!
//! Data flows one way: [`sampler`] (a sampler thread plus a signal handler per sample) writes raw
//! stacks into [`store`]; when a session stops, [`symbolize`] names the addresses and [`export`]
//! writes pprof, Chrome trace, flame graph and summary. [`labels`] feeds attribution into the
//! handler (label-set ids read with plain loads) and into the exporters (the interned sets).
//!
//! ```no_run
//! use perfprobe_core::session::{Session, SessionOptions};
//! let session = Session::start(SessionOptions { frequency: 99, ..Default::default() }).unwrap();
//! // ... the work to profile ...
//! let raw = session.stop();
//! let profile = perfprobe_core::symbolize::symbolize(&raw);
//! println!("{} samples over {} threads", raw.samples.len(), raw.threads.len());
//! # let _ = profile;
//! ```

pub mod export;
pub mod js;
pub mod labels;
pub mod platform;
pub mod profile;
pub mod profile_dir;
pub mod rspack_spans;
pub mod sampler;
pub mod session;
#[cfg(target_os = "linux")]
pub mod signal_relay;
pub mod store;
pub mod symbolize;
pub mod unwind;
pub mod util;
