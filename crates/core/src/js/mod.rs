//! JS stacks for the JS thread. Native unwinding walks through JIT code but cannot name it (no
//! symbols, and V8 cannot turn on its perf map at run time). [`jit`] takes each sample's JS stack
//! in the signal handler from V8 and names it from V8's code events; on a V8 whose structures it
//! does not know, V8's own CPU profiler runs in the same process through `node:inspector` and
//! [`v8`] reads its profile. [`graft`] puts either's stacks into the native samples.

pub mod graft;
pub mod jit;
pub mod v8;

pub use graft::{graft, GraftStats};
pub use v8::V8Profile;
