//! perfprobe-core: the profiler without Node-API.
//!
//! Data flows one way: [`sampler`] (a sampler thread plus a signal handler per sample) writes raw
//! stacks into [`store`]; when a session stops, [`resolve`] names the addresses ([`symbolize`]),
//! grafts JS frames in ([`js`]) and settles thread roles, once, and [`export`] writes pprof, Chrome
//! trace, flame graph and summary from that resolved profile. [`labels`] feeds attribution into the
//! handler (label-set ids read with plain loads) and into the exporters (the interned sets).
//!
//! ```no_run
//! use perfprobe_core::session::{Session, SessionOptions};
//! let session = Session::start(SessionOptions { frequency: 99, ..Default::default() }).unwrap();
//! // ... the work to profile ...
//! let profile = perfprobe_core::resolve::resolve(session.stop(), Default::default());
//! println!("{} samples over {} threads", profile.raw.samples.len(), profile.raw.threads.len());
//! perfprobe_core::export::write_files(std::path::Path::new("out"), &profile);
//! ```

pub mod export;
pub mod js;
pub mod labels;
pub mod meta;
pub mod platform;
pub mod profile;
pub mod profile_dir;
pub mod resolve;
pub mod rspack_spans;
pub mod sampler;
pub mod session;
#[cfg(target_os = "linux")]
pub mod signal_relay;
pub mod store;
pub mod symbolize;
pub mod unwind;
pub mod util;
