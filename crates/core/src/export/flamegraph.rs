//! `flamegraph.svg`, rendered by inferno from folded stacks weighted by microseconds of the profile's
//! kind (CPU, or wall time in a wall-only session).
//! Leading synthetic frames group the graph: `[phase X]`, `[Rspack S]` (Rspack's own span, with
//! option `rspackSpans`), `[plugin Y]` where labelled, then the thread role, so one picture answers
//! "which phase, which Rust pass, which plugin, which kind of thread". Consecutive frames of a module
//! without symbols (`rspack.linux-x64-gnu.node+0x...` of a stripped binding) are drawn as one frame
//! naming the module: each address its own frame would shatter the graph into one-pixel towers. The
//! addresses stay in pprof, where tools can symbolize them later.

use std::io::Write;

use rustc_hash::FxHashMap as HashMap;

use super::names::{LocationNames, Names};
use crate::profile::{PrimaryKind, ThreadRole};
use crate::resolve::ResolvedProfile;

/// Frames narrower than this share of the picture, in percent (inferno's unit), are not drawn:
/// half a pixel of its default 1200-pixel width. They are invisible anyway, and dropping them keeps
/// the SVG of a large build small (~200 kB for a react N=10000 build at 99 or 999 Hz).
pub const MIN_WIDTH_PERCENT: f64 = 100.0 * 0.5 / 1200.0;

/// Writes `flamegraph.svg` (all threads), or `flamegraph-<role>.svg` with `role`, to `out`.
pub fn svg(p: &ResolvedProfile, role: Option<ThreadRole>, out: &mut dyn Write) -> std::io::Result<()> {
    let name = if p.meta.name.is_empty() { "perfprobe" } else { &p.meta.name };
    let threads = role.map_or("all threads".to_string(), |r| format!("{} threads", r.as_str()));
    let kind = p.kind();
    render_with(&mut options(&format!("{name} — {}, {threads}", kind.what()), kind), &folded(p, role), NO_SAMPLES, out)
}

/// The folded line an empty profile's picture is drawn from.
const NO_SAMPLES: &str = "[no samples] 1";

/// Folded lines (`a;b;c weight`), optionally for one thread role only. Frames that would be too
/// narrow to draw are left out, their CPU kept in their caller's line: inferno would drop them
/// after parsing every line, and a 999 Hz build has ~30k distinct stacks of ~50 frames.
pub fn folded(p: &ResolvedProfile, role: Option<ThreadRole>) -> Vec<String> {
    let sym = &p.symbols;
    // Aggregate first: many samples share (stack, role, labels).
    let mut by_key: HashMap<(u32, ThreadRole, u32, u32), u64> = HashMap::default();
    let kind = p.kind();
    for s in p.raw.samples.iter().filter(|s| kind.includes(s.kind)) {
        let thread_role = p.role(s.thread);
        if role.is_some_and(|r| r != thread_role) {
            continue;
        }
        *by_key.entry((s.stack, thread_role, s.process_labels, s.thread_labels)).or_default() += s.weight_ns;
    }
    let mut tree = FoldTree::default();
    let mut prefixes: HashMap<(ThreadRole, u32, u32), u32> = HashMap::default();
    let mut keys: Vec<(u32, u32, u64)> = by_key
        .into_iter()
        .map(|((stack, thread_role, process_labels, thread_labels), weight_ns)| {
            let prefix = *prefixes.entry((thread_role, process_labels, thread_labels)).or_insert_with(|| {
                let labels = p.labels(process_labels, thread_labels);
                prefix_frames(&labels, thread_role.as_str()).iter().fold(ROOT, |node, name| tree.child_named(node, name))
            });
            (prefix, stack, weight_ns)
        })
        .collect();
    // In the order of the lines: each stack shares most of its path with the one before, and only
    // the rest is looked up (the lookups are the cost: ~30k stacks of ~30 locations at 999 Hz).
    let root_first = |stack: u32| sym.stacks[stack as usize].iter().rev();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| root_first(a.1).cmp(root_first(b.1))));
    let mut location_names = LocationNames::new(sym, |frame, name| push_frame(name, &frame.short));
    // The path of the last stack: (location, node after it).
    let mut path: Vec<(u32, u32)> = Vec::new();
    let mut last_prefix = u32::MAX;
    for (prefix, stack, weight_ns) in keys {
        if prefix != last_prefix {
            (last_prefix, path) = (prefix, Vec::new());
        }
        let locations = &sym.stacks[stack as usize];
        let shared = path.iter().zip(locations.iter().rev()).take_while(|((l, _), m)| l == *m).count();
        path.truncate(shared);
        let mut node = path.last().map_or(prefix, |&(_, n)| n);
        for &location in locations.iter().rev().skip(shared) {
            node = location_names.of(location, &mut tree.names).iter().fold(node, |node, &name| tree.child_merging_modules(node, name));
            path.push((location, node));
        }
        tree.nodes[node as usize].self_ns += weight_ns;
    }
    tree.lines()
}

const ROOT: u32 = 0;

/// The call tree inferno would merge from folded lines, built from stack ids instead of text.
struct FoldTree {
    nodes: Vec<FoldNode>,
    names: Names,
    children: HashMap<(u32, u32), u32>,
}

struct FoldNode {
    parent: u32,
    name: u32,
    self_ns: u64,
}

impl Default for FoldTree {
    fn default() -> FoldTree {
        FoldTree {
            nodes: vec![FoldNode { parent: ROOT, name: u32::MAX, self_ns: 0 }],
            names: Names::default(),
            children: HashMap::default(),
        }
    }
}

impl FoldTree {
    fn child_named(&mut self, node: u32, name: &str) -> u32 {
        let name = self.names.id(name);
        self.child(node, name)
    }

    /// [`Self::child`], except that a module frame under a frame of the same module is that frame.
    fn child_merging_modules(&mut self, node: u32, name: u32) -> u32 {
        if node != ROOT && self.nodes[node as usize].name == name && self.names.name(name).ends_with(NO_SYMBOLS) {
            return node;
        }
        self.child(node, name)
    }

    fn child(&mut self, node: u32, name: u32) -> u32 {
        let next = self.nodes.len() as u32;
        *self.children.entry((node, name)).or_insert_with(|| {
            self.nodes.push(FoldNode { parent: node, name, self_ns: 0 });
            next
        })
    }

    /// One line per node wide enough to draw and with CPU of its own or of children too narrow.
    fn lines(self) -> Vec<String> {
        // Children come after their parents: one backward pass sums each subtree.
        let mut total: Vec<u64> = self.nodes.iter().map(|n| n.self_ns).collect();
        for i in (1..self.nodes.len()).rev() {
            total[self.nodes[i].parent as usize] += total[i];
        }
        // Half inferno's own cut, so rounding never drops a frame it would draw.
        let min_ns = (total[ROOT as usize] as f64 * MIN_WIDTH_PERCENT / 100.0 / 2.0) as u64;
        let mut weight_ns: Vec<u64> = self.nodes.iter().map(|n| n.self_ns).collect();
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); self.nodes.len()];
        for i in 1..self.nodes.len() {
            let parent = self.nodes[i].parent as usize;
            if total[i] < min_ns {
                weight_ns[parent] += total[i];
            } else {
                children[parent].push(i as u32);
            }
        }
        let mut lines = Vec::new();
        let mut line = String::new();
        // Depth-first, with the line's length before each node to step back to.
        let mut todo: Vec<(u32, usize)> = children[ROOT as usize].iter().map(|&c| (c, 0)).collect();
        while let Some((node, len)) = todo.pop() {
            line.truncate(len);
            if len > 0 {
                line.push(';');
            }
            line.push_str(self.names.name(self.nodes[node as usize].name));
            let us = weight_ns[node as usize] / 1000;
            if us > 0 {
                lines.push(format!("{line} {us}"));
            }
            let here = line.len();
            todo.extend(children[node as usize].iter().map(|&c| (c, here)));
        }
        lines.sort();
        lines
    }
}

/// The synthetic frames a folded stack starts with: `[phase X]`, `[Rspack S]`, `[plugin Y]` where
/// labelled, then `[role]`.
fn prefix_frames(labels: &[(&str, &str)], role: &str) -> Vec<String> {
    let mut frames = Vec::new();
    for (key, shown) in [("phase", "phase"), (crate::rspack_spans::LABEL, "Rspack"), ("plugin", "plugin")] {
        if let Some((_, v)) = labels.iter().find(|(k, _)| *k == key) {
            let mut frame = format!("[{shown} ");
            push_clean(&mut frame, v);
            frame.push(']');
            frames.push(frame);
        }
    }
    frames.push(format!("[{role}]"));
    frames
}

/// One folded stack without its weight: [`prefix_frames`], then the frames. Used by `perfprobe
/// diff`, which folds pprof files the same way so its picture lines up with each profile's own
/// `flamegraph.svg`.
pub fn stack_line<'a>(labels: &[(&str, &str)], role: &str, frames_root_first: impl Iterator<Item = &'a str>) -> String {
    let mut line = prefix_frames(labels, role).join(";");
    let mut last = String::new();
    for f in frames_root_first {
        let mut name = String::new();
        push_frame(&mut name, f);
        if name == last && name.ends_with(NO_SYMBOLS) {
            continue;
        }
        line.push(';');
        line.push_str(&name);
        last = name;
    }
    line
}

/// What the frame of a module without symbols reads, after the module's file name.
pub const NO_SYMBOLS: &str = " [no symbols]";

/// A frame's name in the picture: an address no symbol names (`module+0x1f2e`) reads as its module.
fn push_frame(line: &mut String, name: &str) {
    match unsymbolized_module(name) {
        Some(module) => {
            push_clean(line, module);
            line.push_str(NO_SYMBOLS);
        }
        None => push_clean(line, name),
    }
}

/// The module of a `module+0xoffset` name (see `crate::symbolize`), or None for a named frame.
fn unsymbolized_module(name: &str) -> Option<&str> {
    let (module, offset) = name.rsplit_once("+0x")?;
    (!module.is_empty() && !module.contains(' ') && !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_hexdigit())).then_some(module)
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

/// The picture of folded `lines`, in memory.
pub fn render(title: &str, kind: PrimaryKind, lines: &[String]) -> Result<Vec<u8>, String> {
    render_in_memory(&mut options(title, kind), lines, NO_SAMPLES)
}

/// [`render_with`], into memory.
pub fn render_in_memory(options: &mut inferno::flamegraph::Options<'_>, lines: &[String], empty: &str) -> Result<Vec<u8>, String> {
    let mut svg = Vec::new();
    render_with(options, lines, empty, &mut svg).map_err(|e| e.to_string())?;
    Ok(svg)
}

/// The options both pictures share; `kind` names the weights in every tooltip.
pub fn options(title: &str, kind: PrimaryKind) -> inferno::flamegraph::Options<'static> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = kind.count_name().to_string();
    options.name_type = "Function:".to_string();
    options.min_width = MIN_WIDTH_PERCENT;
    options
}

/// inferno refuses empty input; an empty profile still gets a valid (empty) picture, drawn from
/// `empty` (a folded line in the caller's format).
pub fn render_with(options: &mut inferno::flamegraph::Options<'_>, lines: &[String], empty: &str, out: &mut dyn Write) -> std::io::Result<()> {
    if lines.is_empty() {
        inferno::flamegraph::from_lines(options, [empty], out)
    } else {
        inferno::flamegraph::from_lines(options, lines.iter().map(String::as_str), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::names::testing;

    /// `main` calls `wide` and 400 leaves of 1 to 400 µs; leaf 0 also calls a deeper one. Whole
    /// microseconds, so rounding cannot tell folding with and without pruning apart.
    fn profile() -> ResolvedProfile {
        let leaves: Vec<String> = (0..400).map(|i| format!("leaf{i}")).collect();
        let mut samples = vec![(vec![vec!["main"], vec!["wide;inlined"]], 2_000_000_000)];
        samples.extend(leaves.iter().enumerate().map(|(i, leaf)| (vec![vec!["main"], vec![leaf.as_str()]], (i as u64 + 1) * 1000)));
        samples.push((vec![vec!["main"], vec!["leaf0"], vec!["deeper"]], 3000));
        testing::profile(&samples)
    }

    /// Every frame's tooltip: the name and width of each frame inferno drew.
    fn titles(svg: &[u8]) -> Vec<String> {
        let svg = String::from_utf8_lossy(svg);
        let mut titles: Vec<String> = svg.split("<title>").skip(1).map(|t| t.split("</title>").next().unwrap().to_string()).collect();
        titles.sort();
        titles
    }

    #[test]
    fn narrow_frames_are_folded_into_their_caller_and_the_picture_is_unchanged() {
        let p = profile();
        let pruned = folded(&p, None);
        let mut all: HashMap<String, u64> = HashMap::default();
        for s in &p.raw.samples {
            *all.entry(stack_line(&[], "js-main", p.symbols.frames_root_first(s.stack).map(|f| f.short.as_str()))).or_default() += s.weight_ns;
        }
        let all = lines_us(all);
        assert_eq!(all.len(), 402);
        // inferno's cut is 0.042% of ~2.08 s, ~870 µs; half of it is above every leaf, so each is
        // folded into `main`, and inferno would not have drawn any of them.
        assert_eq!(pruned, vec![format!("[js-main];main {}", (1..=400).sum::<u64>() + 3), "[js-main];main;wide:inlined 2000000".to_string()]);
        assert_eq!(titles(&render("t", PrimaryKind::Cpu, &pruned).unwrap()), titles(&render("t", PrimaryKind::Cpu, &all).unwrap()));
    }

    /// A stripped binding's stack under a phase and an Rspack span, as a release build shows it.
    #[test]
    fn module_frames_without_symbols_fold_into_one_under_the_phase_and_rspack_span() {
        let ms = 1_000_000;
        let mut p = testing::profile(&[
            (vec![vec!["start_thread"], vec!["rspack.linux-x64-gnu.node+0x10"], vec!["rspack.linux-x64-gnu.node+0x2f"], vec!["libc.so.6+0x99"], vec!["rspack.linux-x64-gnu.node+0x40"]], 30 * ms),
            (vec![vec!["start_thread"], vec!["rspack.linux-x64-gnu.node+0x11"], vec!["rspack.linux-x64-gnu.node+0x50"]], 20 * ms),
        ]);
        let set = crate::labels::intern(vec![("phase".into(), "seal".into()), (crate::rspack_spans::LABEL.into(), "SplitChunksPlugin:optimize_chunks".into())]);
        for s in &mut p.raw.samples {
            s.process_labels = set;
        }
        p.label_sets = crate::labels::snapshot();
        let prefix = "[phase seal];[Rspack SplitChunksPlugin:optimize_chunks];[js-main];start_thread;rspack.linux-x64-gnu.node [no symbols]";
        assert_eq!(folded(&p, None), vec![format!("{prefix} 20000"), format!("{prefix};libc.so.6 [no symbols];rspack.linux-x64-gnu.node [no symbols] 30000")]);
        // `perfprobe diff` folds names read back from pprof the same way.
        let labels = p.labels(set, 0);
        let names = ["start_thread", "rspack.linux-x64-gnu.node+0x11", "rspack.linux-x64-gnu.node+0x50"];
        assert_eq!(stack_line(&labels, "js-main", names.into_iter()), prefix);
        assert_eq!(unsymbolized_module("JS:~f file.js+0x1"), None);
        assert_eq!(unsymbolized_module("node+0xzz"), None);
    }

    #[test]
    fn frames_at_inferno_s_cut_are_still_drawn() {
        let mut p = profile();
        // Leaves of 1-400 ms now, of ~82 s: those over half the cut (~17 ms) are kept; `deeper`
        // (3 ms) is not.
        for s in p.raw.samples.iter_mut().skip(1) {
            s.weight_ns *= 1000;
        }
        let pruned = folded(&p, None);
        assert!(pruned.contains(&"[js-main];main;leaf399 400000".to_string()), "{pruned:?}");
        assert!(!pruned.iter().any(|l| l.contains("deeper")));
        let svg = render("t", PrimaryKind::Cpu, &pruned).unwrap();
        assert!(titles(&svg).iter().any(|t| t.starts_with("leaf399 ")));
    }
}
