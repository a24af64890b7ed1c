//! CPU by Rust crate (`summary.json` `crates`, `perfprobe diff`): a symbolized Rust frame counts for
//! the crate of its function's own path, like `cargo bloat` does:
//! - `rspack_core::compilation::Compilation::seal` -> `rspack_core`;
//! - generic code counts where it is defined, whatever it was instantiated with:
//!   `hashbrown::raw::RawTable<rspack_core::ModuleIdentifier>::find` -> `hashbrown`;
//! - a trait impl `<A as B>::f` counts for the crate of the implementing type `A` (its code lives with
//!   the type in the common case: `<rspack_plugin_javascript::FlagDependencyExportsPlugin as
//!   rspack_core::Plugin>::apply` -> `rspack_plugin_javascript`), and for the trait's crate when `A` is
//!   no path of its own (`<&T as core::fmt::Debug>::fmt`, `<[T] as alloc::slice::Join>::join`);
//! - closures and async bodies (`{closure#0}`, `{async_fn#0}`) count for their enclosing function.
//!
//! Frames that are not Rust count by module: C/C++ (`node`, `libc.so.6`), and addresses no symbol
//! names (a stripped binding: `rspack.linux-x64-gnu.node`); JS frames named by V8 count as `(JS)`.

use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

use crate::symbolize::{Location, Origin, Symbolized};

/// Entries kept in `summary.json`.
const TOP: usize = 40;

/// The group JS frames named by V8 (or a perf map) count in.
pub const JS: &str = "(JS)";

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CrateEntry {
    pub name: String,
    /// CPU of samples whose innermost frame is in the crate.
    pub self_ms: f64,
    /// CPU of samples with a frame of the crate anywhere on the stack (counted once per sample).
    pub total_ms: f64,
    /// `self_ms`'s share of all sampled CPU, in percent.
    pub percent: f64,
}

/// The crate a demangled Rust function name belongs to, or None if the name is not a Rust path
/// (C++ names carry a parameter list, C names no `::`).
pub fn crate_of(function: &str) -> Option<&str> {
    if function.contains('(') {
        return None;
    }
    if let Some(rest) = function.strip_prefix('<') {
        let (self_type, trait_path) = split_qualified(rest)?;
        return leading_crate(self_type).or_else(|| trait_path.and_then(leading_crate)).or(Some("core"));
    }
    leading_crate(function)
}

/// `A as B>::f` (the text after `<`) -> (`A`, Some(`B`)); `A>::f` -> (`A`, None).
fn split_qualified(text: &str) -> Option<(&str, Option<&str>)> {
    let mut depth = 0usize;
    let mut as_at = None;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => return Some(match as_at {
                Some(a) => (&text[..a], Some(&text[a + 4..i])),
                None => (&text[..i], None),
            }),
            '>' => depth -= 1,
            ' ' if depth == 0 && as_at.is_none() && text[i..].starts_with(" as ") => as_at = Some(i),
            _ => {}
        }
    }
    None
}

/// The first segment of a path `a::b::c`, if it is an identifier followed by `::`.
fn leading_crate(path: &str) -> Option<&str> {
    let path = path.trim_start_matches("dyn ");
    let end = path.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(path.len());
    let head = &path[..end];
    (end > 0 && path[end..].starts_with("::") && !head.starts_with(|c: char| c.is_ascii_digit())).then_some(head)
}

/// The group a location's innermost (or any) frame counts in.
fn group_of<'a>(sym: &'a Symbolized, location: &'a Location, function: &'a str) -> &'a str {
    match location.origin {
        Origin::V8 | Origin::PerfMap => JS,
        _ => crate_of(function).unwrap_or_else(|| {
            location.module.and_then(|m| sym.modules.get(m)).map_or("[unknown]", |m| m.module.file_name())
        }),
    }
}

/// Self and total CPU per crate over the CPU samples summed per stack (`(ns, samples)` by leaf node).
pub fn tally(sym: &Symbolized, by_stack: &HashMap<u32, (u64, u64)>, sampled_ns: u64) -> Vec<CrateEntry> {
    let mut figures: HashMap<&str, (u64, u64)> = HashMap::default();
    let mut seen: Vec<&str> = Vec::new();
    for (&stack, &(ns, _)) in by_stack {
        seen.clear();
        for (i, &l) in sym.stacks[stack as usize].iter().enumerate() {
            let location = &sym.locations[l as usize];
            for (j, frame) in location.frames.iter().enumerate() {
                let group = group_of(sym, location, &frame.function);
                if i == 0 && j == 0 {
                    figures.entry(group).or_default().0 += ns;
                }
                if !seen.contains(&group) {
                    seen.push(group);
                }
            }
        }
        for g in &seen {
            figures.entry(g).or_default().1 += ns;
        }
    }
    let ms = |ns: u64| (ns as f64 / 1e4).round() / 100.0;
    let mut out: Vec<CrateEntry> = figures
        .into_iter()
        .map(|(name, (self_ns, total_ns))| CrateEntry {
            name: name.to_string(),
            self_ms: ms(self_ns),
            total_ms: ms(total_ns),
            percent: if sampled_ns == 0 { 0.0 } else { (self_ns as f64 * 10000.0 / sampled_ns as f64).round() / 100.0 },
        })
        .collect();
    out.sort_by(|a, b| b.self_ms.total_cmp(&a.self_ms).then_with(|| b.total_ms.total_cmp(&a.total_ms)).then_with(|| a.name.cmp(&b.name)));
    out.truncate(TOP);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::names::testing;
    use crate::symbolize::demangle::demangle;

    #[test]
    fn a_function_counts_for_the_crate_of_its_own_path() {
        for (name, expected) in [
            ("rspack_core::compilation::Compilation::seal", Some("rspack_core")),
            ("swc_ecma_parser::parser::Parser<I>::parse_module", Some("swc_ecma_parser")),
            ("hashbrown::raw::RawTable<rspack_core::ModuleIdentifier>::find", Some("hashbrown")),
            ("<rspack_plugin_javascript::plugin::FlagDependencyExportsPlugin as rspack_core::Plugin>::apply", Some("rspack_plugin_javascript")),
            ("<alloc::vec::Vec<T> as core::clone::Clone>::clone", Some("alloc")),
            ("<&T as core::fmt::Debug>::fmt", Some("core")),
            ("<[T] as alloc::slice::Join<&[V]>>::join", Some("alloc")),
            ("<dyn rspack_core::Module as rspack_core::ModuleExt>::id", Some("rspack_core")),
            ("<str>::len", Some("core")),
            ("rspack_core::compiler::Compiler::build::{closure#0}::{closure#0}", Some("rspack_core")),
            ("<swc_ecma_visit::VisitMutWith<V> for Box<T>>::visit_mut_with", Some("swc_ecma_visit")),
            ("v8::internal::Isolate::Init()", None),
            ("uv_run", None),
            ("rspack.linux-x64-gnu.node+0x2c43610", None),
            ("JS:~jsOuter file.js:3:18", None),
        ] {
            assert_eq!(crate_of(name), expected, "{name}");
        }
    }

    #[test]
    fn mangled_names_demangle_to_their_crate() {
        // Legacy and v0 manglings as rustc emits them (v0 as the 2.2.7 debug binding uses).
        assert_eq!(crate_of(&demangle("_ZN11rspack_core11compilation11Compilation4seal17h0123456789abcdefE")), Some("rspack_core"));
        assert_eq!(crate_of(&demangle("_RNvCs1234_15swc_ecma_parser5parse")), Some("swc_ecma_parser"));
        assert_eq!(crate_of(&demangle("_RNvXs_NtCs1234_11rspack_core6moduleNtB4_6ModuleNtCs5678_4core5Clone5clone")), Some("rspack_core"));
    }

    #[test]
    fn self_is_the_innermost_frame_and_total_counts_once_per_stack() {
        let ms = 1_000_000;
        let sym = testing::profile(&[
            (vec![vec!["rspack_core::Compiler::build"], vec!["swc_ecma_parser::parse"], vec!["swc_ecma_parser::parse"]], 60 * ms),
            // An inlined frame of another crate is the innermost frame.
            (vec![vec!["rspack_core::Compiler::build"], vec!["rspack_core::x", "hashbrown::find"]], 30 * ms),
            (vec![vec!["uv_run"]], 10 * ms),
        ])
        .symbols;
        let by_stack: HashMap<u32, (u64, u64)> = [(0, (60 * ms, 1)), (1, (30 * ms, 1)), (2, (10 * ms, 1))].into_iter().collect();
        let crates = tally(&sym, &by_stack, 100 * ms);
        let rows: Vec<(&str, f64, f64, f64)> = crates.iter().map(|c| (c.name.as_str(), c.self_ms, c.total_ms, c.percent)).collect();
        assert_eq!(rows, [("swc_ecma_parser", 60.0, 60.0, 60.0), ("hashbrown", 30.0, 30.0, 30.0), ("[unknown]", 10.0, 10.0, 10.0), ("rspack_core", 0.0, 90.0, 0.0)]);
    }
}
