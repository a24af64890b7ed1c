//! Short names for pictures: flame graphs and flame charts show a frame per function, and Rust's
//! monomorphized names run to hundreds of characters of generic arguments. Dropping the generic
//! arguments (`helper::<DrainProducer<..>>` -> `helper`) keeps paths and `<Type as Trait>::method`
//! whole, merges instantiations of one function into one frame, and shrinks the files ~5x.
//! pprof keeps the full names.

pub fn short_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len().min(160));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' && is_generic_open(&out) {
            if out.ends_with("::") {
                out.truncate(out.len() - 2);
            }
            i = skip_brackets(bytes, i);
            continue;
        }
        // Copy up to the next `<` in one piece (keeps multi-byte characters whole).
        let next = bytes[i + 1..].iter().position(|&b| b == b'<').map_or(bytes.len(), |p| i + 1 + p);
        out.push_str(&name[i..next]);
        i = next;
    }
    out
}

/// A `<` opens generic arguments when it follows an identifier (`Vec<`) or a turbofish `::`;
/// otherwise (start of name, after `(`, `,`, ` `, `<`) it opens a qualified path `<T as Trait>`.
fn is_generic_open(before: &str) -> bool {
    match before.as_bytes().last() {
        None => false,
        Some(b':') => before.ends_with("::"),
        Some(&c) => c.is_ascii_alphanumeric() || c == b'_' || c == b'}',
    }
}

/// Index just past the `>` matching the `<` at `start` (a `>` of `->` does not close).
fn skip_brackets(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn drops_generic_arguments_and_keeps_qualified_paths() {
        assert_eq!(short_name("<rayon_core::registry::ThreadBuilder>::run"), "<rayon_core::registry::ThreadBuilder>::run");
        assert_eq!(
            short_name("rayon::iter::plumbing::bridge_producer_consumer::helper::<rayon::vec::DrainProducer<(&alloc::string::String, &mut u8)>, F>"),
            "rayon::iter::plumbing::bridge_producer_consumer::helper"
        );
        assert_eq!(
            short_name("<std::thread::lifecycle::spawn_unchecked<<tokio::Spawner>::spawn_thread::{closure#0}, ()>::{closure#1} as core::ops::function::FnOnce<()>>::call_once"),
            "<std::thread::lifecycle::spawn_unchecked::{closure#1} as core::ops::function::FnOnce>::call_once"
        );
        assert_eq!(short_name("core::ops::function::FnOnce::call_once::<fn() -> u8, ()>"), "core::ops::function::FnOnce::call_once");
        assert_eq!(short_name("v8::internal::Foo<int>::bar(int)"), "v8::internal::Foo::bar(int)");
        assert_eq!(short_name("rspack.linux-x64-gnu.node+0x1234"), "rspack.linux-x64-gnu.node+0x1234");
        assert_eq!(short_name("a < b"), "a < b");
        assert_eq!(short_name("é::f<ü>"), "é::f");
    }
}
