//! `flamegraph.svg`, rendered by inferno from folded stacks weighted by CPU microseconds.
//! Leading synthetic frames group the graph: `[phase X]`, `[plugin Y]` where labelled, then the
//! thread role, so one picture answers "which phase, which plugin, which kind of thread".

use rustc_hash::FxHashMap as HashMap;

use crate::labels::{merged, LabelSet};
use crate::profile::{RawProfile, ThreadRole};
use crate::symbolize::Symbolized;

/// Folded lines (`a;b;c weight`), optionally for one thread role only.
pub fn folded(raw: &RawProfile, sym: &Symbolized, label_sets: &[LabelSet], role: Option<ThreadRole>) -> Vec<String> {
    // Aggregate first: many samples share (stack, role, labels), and building a line is the cost.
    let mut by_key: HashMap<(u32, ThreadRole, u32, u32), u64> = HashMap::default();
    let kind = raw.primary_kind();
    for s in raw.samples.iter().filter(|s| kind.includes(s.kind)) {
        let thread_role = sym.roles[s.thread as usize];
        if role.is_some_and(|r| r != thread_role) {
            continue;
        }
        *by_key.entry((s.stack, thread_role, s.process_labels, s.thread_labels)).or_default() += s.weight_ns;
    }
    let mut weights: HashMap<String, u64> = HashMap::default();
    for ((stack, thread_role, process_labels, thread_labels), weight_ns) in by_key {
        let labels = merged(label_sets, process_labels, thread_labels);
        let line = stack_line(&labels, thread_role.as_str(), sym.frames_root_first(stack).map(|f| f.short.as_str()));
        *weights.entry(line).or_default() += weight_ns;
    }
    lines_us(weights)
}

/// One folded stack without its weight: `[phase X];[plugin Y]` where labelled, `[role]`, then the
/// frames. Shared with `perfprobe diff`, which folds pprof files the same way so its picture lines
/// up with each profile's own `flamegraph.svg`.
pub fn stack_line<'a>(labels: &[(&str, &str)], role: &str, frames_root_first: impl Iterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for key in ["phase", "plugin"] {
        if let Some((_, v)) = labels.iter().find(|(k, _)| *k == key) {
            line.push('[');
            line.push_str(key);
            line.push(' ');
            push_clean(&mut line, v);
            line.push_str("];");
        }
    }
    line.push('[');
    line.push_str(role);
    line.push(']');
    for f in frames_root_first {
        line.push(';');
        push_clean(&mut line, f);
    }
    line
}

/// Sorted folded lines weighted in CPU microseconds, summed before rounding (nanoseconds would only
/// add three digits to every tooltip); stacks under a microsecond in all are left out.
pub fn lines_us(weights_ns: HashMap<String, u64>) -> Vec<String> {
    let mut lines: Vec<String> =
        weights_ns.into_iter().map(|(l, ns)| (l, ns / 1000)).filter(|(_, w)| *w > 0).map(|(l, w)| format!("{l} {w}")).collect();
    lines.sort();
    lines
}

/// `;` separates frames and a trailing number is the weight: keep both out of names. Appends in
/// place: a 999 Hz build folds millions of frames, and a copy per frame was most of the folding.
fn push_clean(line: &mut String, name: &str) {
    if !name.contains([';', '\n']) {
        line.push_str(name);
        return;
    }
    line.extend(name.chars().map(|c| match c {
        ';' => ':',
        '\n' => ' ',
        c => c,
    }));
}

pub fn render(title: &str, lines: &[String]) -> Result<Vec<u8>, String> {
    render_with(&mut options(title), lines, "[no samples] 1")
}

/// The options both pictures share.
pub fn options(title: &str) -> inferno::flamegraph::Options<'static> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "µs CPU".to_string();
    options.name_type = "Function:".to_string();
    // Frames narrower than half a pixel are invisible anyway; dropping them keeps the SVG of a
    // large build to a few MB.
    options.min_width = 0.5;
    options
}

/// inferno refuses empty input; an empty profile still gets a valid (empty) picture, drawn from
/// `empty` (a folded line in the caller's format).
pub fn render_with(options: &mut inferno::flamegraph::Options<'_>, lines: &[String], empty: &str) -> Result<Vec<u8>, String> {
    let mut svg = Vec::new();
    let result = if lines.is_empty() {
        inferno::flamegraph::from_lines(options, [empty], &mut svg)
    } else {
        inferno::flamegraph::from_lines(options, lines.iter().map(String::as_str), &mut svg)
    };
    result.map_err(|e| e.to_string())?;
    Ok(svg)
}
