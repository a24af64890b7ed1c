//! JS stacks for the JS thread. Native unwinding walks through JIT code but cannot name it (no
//! symbols, and V8 cannot turn on its perf map at run time); V8's own CPU profiler, run in the same
//! process through `node:inspector`, names it. [`v8`] reads the profile V8 returns; [`graft`] puts
//! its stacks into the native samples of the JS thread.

pub mod graft;
pub mod v8;

pub use graft::{graft, GraftStats};
pub use v8::V8Profile;
