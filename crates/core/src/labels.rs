//! Attribution labels, Go's model: a label set is interned once and referred to by id; a thread's
//! current id lives in a word the signal handler reads with one plain load.
//!
//! The JS thread writes its words from JS through an external `Int32Array` over [`LABEL_WORDS`]
//! (a plain store per span edge, no Node-API call); worker threads have no JS hooks, so they carry
//! the process-wide word (the build phase).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

/// Words shared with JS. Index [`JS_THREAD_WORD`] holds the JS main thread's label-set id,
/// [`PROCESS_WORD`] the process-wide one (phase, compiler). The rest is reserved for JS-side
/// bookkeeping that the handler does not read.
pub static LABEL_WORDS: [AtomicI32; LABEL_WORD_COUNT] = [const { AtomicI32::new(0) }; LABEL_WORD_COUNT];
pub const LABEL_WORD_COUNT: usize = 16;
pub const JS_THREAD_WORD: usize = 0;
pub const PROCESS_WORD: usize = 1;

/// The label set in force on the JS main thread (read by the signal handler).
#[inline]
pub fn js_thread_labels() -> u32 {
    LABEL_WORDS[JS_THREAD_WORD].load(Ordering::Relaxed).max(0) as u32
}

/// The process-wide label set (read by the signal handler for every thread).
#[inline]
pub fn process_labels() -> u32 {
    LABEL_WORDS[PROCESS_WORD].load(Ordering::Relaxed).max(0) as u32
}

/// An immutable set of key/value labels, e.g. `[("hook","compilation.processAssets"), ("plugin","X")]`.
pub type LabelSet = Vec<(String, String)>;

#[derive(Default)]
struct Registry {
    sets: Vec<LabelSet>,
    ids: HashMap<LabelSet, u32>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::default();
        r.sets.push(Vec::new()); // id 0: no labels
        r.ids.insert(Vec::new(), 0);
        Mutex::new(r)
    })
}

/// Interns a label set (keys sorted, so order does not create duplicates) and returns its id.
/// Called from JS at span edges that open a new combination, never from the signal handler.
pub fn intern(mut set: LabelSet) -> u32 {
    set.sort();
    set.dedup();
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = r.ids.get(&set) {
        return id;
    }
    let id = r.sets.len() as u32;
    r.sets.push(set.clone());
    r.ids.insert(set, id);
    id
}

/// A copy of every label set interned so far, indexed by id (taken when a profile is exported).
pub fn snapshot() -> Vec<LabelSet> {
    registry().lock().unwrap_or_else(|e| e.into_inner()).sets.clone()
}

/// The labels of a sample: the process set first, then the thread set, whose keys win.
pub fn merged<'a>(sets: &'a [LabelSet], process: u32, thread: u32) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for id in [process, thread] {
        for (k, v) in sets.get(id as usize).into_iter().flatten() {
            out.retain(|(ok, _)| *ok != k.as_str());
            out.push((k.as_str(), v.as_str()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_order_independent_and_stable() {
        let a = intern(vec![("hook".into(), "h".into()), ("plugin".into(), "p".into())]);
        let b = intern(vec![("plugin".into(), "p".into()), ("hook".into(), "h".into())]);
        assert_eq!(a, b);
        assert_ne!(a, 0);
        assert_eq!(snapshot()[a as usize].len(), 2);
    }

    #[test]
    fn thread_labels_override_process_labels() {
        let sets = vec![
            vec![],
            vec![("phase".into(), "seal".into()), ("compiler".into(), "web".into())],
            vec![("phase".into(), "make".into()), ("hook".into(), "x".into())],
        ];
        let m = merged(&sets, 1, 2);
        assert!(m.contains(&("phase", "make")));
        assert!(m.contains(&("compiler", "web")));
        assert!(m.contains(&("hook", "x")));
        assert_eq!(m.len(), 3);
    }
}
