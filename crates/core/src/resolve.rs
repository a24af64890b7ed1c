//! The profile every exporter reads, built once when a session stops (pprof-rs's `ReportBuilder`
//! idea): Rspack's spans become labels, addresses get names, V8's frames are grafted into the JS
//! thread's stacks, thread roles are settled by the stacks, and the label sets in force are taken.
//! pprof, the Chrome trace, the flame graphs and the summary are each a function of the result;
//! none of them edits it.

use crate::js::{self, GraftStats, V8Profile};
use crate::labels::{self, merged, LabelSet};
use crate::meta::{ExportMeta, TraceEvent};
use crate::profile::{PrimaryKind, RawProfile, ThreadRole};
use crate::rspack_spans::{self, RspackSpansSummary};
use crate::symbolize::{self, Symbolized};
use crate::util::monotonic_ns;

/// A session's samples with names, labels and roles, and what the caller said about it.
pub struct ResolvedProfile {
    /// What the sampler recorded. Its samples are the resolved ones: labelled with the Rspack span
    /// they fell in, and each `stack` an index into [`Self::symbols`]' stacks (the JS thread's with
    /// V8's frames in place of the unnamed JIT code).
    pub raw: RawProfile,
    pub symbols: Symbolized,
    /// Each thread's role once its stacks settled the guesses (same order as `raw.threads`).
    pub roles: Vec<ThreadRole>,
    /// The interned label sets, indexed by the samples' label ids.
    pub label_sets: Vec<LabelSet>,
    /// How V8's JS stacks joined the JS thread's samples, or why V8's profile could not be read;
    /// None when neither JS source ran.
    pub js_stacks: Option<Result<GraftStats, String>>,
    /// How Rspack's spans joined the samples; None when not asked for.
    pub rspack_spans: Option<RspackSpansSummary>,
    /// Rspack's spans as Chrome trace events, for the trace beside the JS side's events.
    pub rspack_span_events: Vec<TraceEvent>,
    pub meta: ExportMeta,
    /// Monotonic ns when the export began and when resolving ended: the summary's post-processing
    /// times count from the first.
    pub started_ns: u64,
    pub resolved_ns: u64,
}

/// Resolves a stopped session's profile, once.
pub fn resolve(mut raw: RawProfile, meta: ExportMeta) -> ResolvedProfile {
    let started_ns = monotonic_ns();
    let (rspack_span_events, rspack_spans) = match meta.rspack_spans.then(|| rspack_spans::reader::take(raw.start_ns, raw.end_ns)).flatten() {
        Some((spans, dropped)) => {
            let (events, summary) = rspack_spans::attach(&mut raw, &spans, dropped);
            (events, Some(summary))
        }
        None => (Vec::new(), None),
    };
    let mut symbols = symbolize::symbolize(&raw);
    let roles = symbolize::settle_roles(&raw, &symbols);
    let js_stacks = graft_js_stacks(&mut raw, &roles, meta.js_profile.as_deref(), &mut symbols);
    ResolvedProfile {
        raw,
        symbols,
        roles,
        // After the spans' labels were interned.
        label_sets: labels::snapshot(),
        js_stacks,
        rspack_spans,
        rspack_span_events,
        meta,
        started_ns,
        resolved_ns: monotonic_ns(),
    }
}

/// Names the JS part of the JS thread's samples with V8's stacks: those the handler took, or V8's
/// CPU profile. None when neither ran; an unreadable V8 profile only costs the JS names.
fn graft_js_stacks(raw: &mut RawProfile, roles: &[ThreadRole], v8_profile: Option<&str>, symbols: &mut Symbolized) -> Option<Result<GraftStats, String>> {
    let is_js_thread = |t: u32| roles.get(t as usize) == Some(&ThreadRole::JsMain);
    if let Some(events) = &raw.code_events {
        return Some(Ok(js::graft::graft_code_events(&mut raw.samples, is_js_thread, symbols, &raw.js_stacks, events)));
    }
    let v8 = V8Profile::parse(v8_profile?);
    Some(v8.map(|v8| js::graft(&mut raw.samples, is_js_thread, symbols, &v8)))
}

impl ResolvedProfile {
    /// The kind the pictures and tables weigh: CPU when there is any, else wall time.
    pub fn kind(&self) -> PrimaryKind {
        self.raw.primary_kind()
    }

    /// The role of thread `thread` (an index into `raw.threads`).
    pub fn role(&self, thread: u32) -> ThreadRole {
        self.roles[thread as usize]
    }

    /// A sample's labels: its process set, then its thread set, whose keys win.
    pub fn labels(&self, process_labels: u32, thread_labels: u32) -> Vec<(&str, &str)> {
        merged(&self.label_sets, process_labels, thread_labels)
    }

    /// The trace events recorded outside the sampler: the JS side's, then Rspack's spans.
    pub fn trace_events(&self) -> impl Iterator<Item = &TraceEvent> + Clone {
        self.meta.trace_events.iter().chain(&self.rspack_span_events)
    }

    /// The roles of the threads that have samples, each once, by name.
    pub fn sampled_roles(&self) -> Vec<ThreadRole> {
        let mut roles: Vec<ThreadRole> = self.raw.samples.iter().map(|s| self.role(s.thread)).collect();
        roles.sort_by_key(|r| r.as_str());
        roles.dedup();
        roles
    }

    /// A profile resolved by hand, for the exporters' tests: names without a symbolizer, roles as
    /// the threads were found, the label sets interned so far.
    #[cfg(test)]
    pub(crate) fn from_parts(raw: RawProfile, symbols: Symbolized, meta: ExportMeta) -> ResolvedProfile {
        ResolvedProfile {
            roles: raw.threads.iter().map(|t| t.role).collect(),
            raw,
            symbols,
            label_sets: labels::snapshot(),
            js_stacks: None,
            rspack_spans: None,
            rspack_span_events: Vec::new(),
            meta,
            started_ns: 0,
            resolved_ns: 0,
        }
    }
}
