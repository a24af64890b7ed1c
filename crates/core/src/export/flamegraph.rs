//! `flamegraph.svg`, rendered by inferno from folded stacks weighted by CPU microseconds.
//! Leading synthetic frames group the graph: `[phase X]`, `[plugin Y]` where labelled, then the
//! thread role, so one picture answers "which phase, which plugin, which kind of thread".

use std::collections::HashMap;

use crate::labels::{merged, LabelSet};
use crate::profile::{RawProfile, ThreadRole};
use crate::symbolize::Symbolized;

/// Folded lines (`a;b;c weight`), optionally for one thread role only.
pub fn folded(raw: &RawProfile, sym: &Symbolized, label_sets: &[LabelSet], role: Option<ThreadRole>) -> Vec<String> {
    // Aggregate first: many samples share (stack, role, labels), and building a line is the cost.
    let mut by_key: HashMap<(u32, ThreadRole, u32, u32), u64> = HashMap::new();
    for s in &raw.samples {
        let thread_role = sym.roles[s.thread as usize];
        if role.is_some_and(|r| r != thread_role) {
            continue;
        }
        *by_key.entry((s.stack, thread_role, s.process_labels, s.thread_labels)).or_default() += s.weight_ns;
    }
    let mut weights: HashMap<String, u64> = HashMap::new();
    for ((stack, thread_role, process_labels, thread_labels), weight_ns) in by_key {
        let labels = merged(label_sets, process_labels, thread_labels);
        let mut line = String::new();
        for key in ["phase", "plugin"] {
            if let Some((_, v)) = labels.iter().find(|(k, _)| *k == key) {
                line.push_str(&format!("[{key} {}];", clean(v)));
            }
        }
        line.push_str(&format!("[{}]", thread_role.as_str()));
        for f in sym.frames_root_first(stack) {
            line.push(';');
            line.push_str(&clean(&f.short));
        }
        *weights.entry(line).or_default() += weight_ns / 1000;
    }
    let mut lines: Vec<String> = weights.into_iter().filter(|(_, w)| *w > 0).map(|(l, w)| format!("{l} {w}")).collect();
    lines.sort();
    lines
}

/// `;` separates frames and a trailing number is the weight: keep both out of names.
fn clean(name: &str) -> String {
    name.replace(';', ":").replace('\n', " ")
}

pub fn render(title: &str, lines: &[String]) -> Result<Vec<u8>, String> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "µs CPU".to_string();
    options.name_type = "Function:".to_string();
    // Frames narrower than half a pixel are invisible anyway; dropping them keeps the SVG of a
    // large build to a few MB.
    options.min_width = 0.5;
    let mut svg = Vec::new();
    if lines.is_empty() {
        // inferno refuses empty input; an empty profile still gets a valid (empty) picture.
        let empty = ["[no samples] 1".to_string()];
        inferno::flamegraph::from_lines(&mut options, empty.iter().map(String::as_str), &mut svg).map_err(|e| e.to_string())?;
    } else {
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg).map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
