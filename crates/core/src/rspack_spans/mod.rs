//! Rspack's own `tracing` spans as labels: the binding's logger layer writes one JSON line per span
//! close into a FIFO this module drains ([`reader`]); each line becomes a span on the monotonic clock
//! ([`record`]); at export, every sample taken inside a span carries its name as `rspack_span`, and
//! the spans go to the Chrome trace ([`join`]). Measured facts: `shared` design notes §8 of the
//! project (one registration per process, no thread id in the records, cost of each filter).

pub mod join;
pub mod reader;
pub mod record;

pub use join::{attach, RspackSpansSummary, LABEL};
pub use record::SpanRecord;
