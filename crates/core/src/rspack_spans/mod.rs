//! Rspack's own `tracing` spans as labels: the binding's logger layer writes one JSON line per span
//! close into a FIFO this module drains ([`reader`]); each line becomes a span on the monotonic clock
//! ([`record`]); at export, every sample taken inside a span carries its name as `rspack_span`, and
//! the spans go to the Chrome trace ([`join`]). Rspack allows one registration per process (the
//! first wins; none after cleanup), and its records name no thread: measured with the 2.2.7 and 2.3.2
//! bindings.

pub mod join;
pub mod reader;
pub mod record;

pub use join::{attach, RspackSpansSummary, LABEL};
pub use record::SpanRecord;
