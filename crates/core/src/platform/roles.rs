//! Thread roles, from how a thread was first seen (its name, whether it is the JS thread, whether
//! an older thread bears the same name): the same rules on every platform, fed by each platform's
//! thread discovery.

use std::collections::HashMap;

use crate::profile::{ThreadInfo, ThreadRole};

/// Each name the live threads of `threads` bear, with the oldest (lowest) tid bearing it: what
/// [`initial_role`] tells inherited names by.
pub fn oldest_by_name(threads: &[ThreadInfo]) -> HashMap<String, i32> {
    let mut names: HashMap<String, i32> = HashMap::new();
    for t in threads.iter().filter(|t| !t.exited) {
        let oldest = names.entry(t.name.clone()).or_insert(t.tid);
        *oldest = (*oldest).min(t.tid);
    }
    names
}

/// Guesses a thread's role from how it was first seen. A name shared with an older live thread was
/// inherited at clone time (rayon pool threads are unnamed and show their spawner's `tokio-N`), so
/// such a thread is marked as a guess for the stacks to settle later.
pub fn initial_role(tid: i32, pid: i32, name: &str, older_names: &HashMap<String, i32>) -> (ThreadRole, bool) {
    if tid == pid {
        return (ThreadRole::JsMain, false);
    }
    let inherited = older_names.get(name).is_some_and(|&older| older < tid);
    if name.starts_with("rayon") {
        return (ThreadRole::Rayon, false);
    }
    if name.starts_with("tokio") {
        return if inherited { (ThreadRole::Rayon, true) } else { (ThreadRole::Tokio, false) };
    }
    if name.starts_with("libuv") {
        return (ThreadRole::Libuv, false);
    }
    if name.starts_with("V8 ") || name.starts_with("v8:") {
        return (ThreadRole::V8, false);
    }
    // node's platform workers and libuv's pool both show `node`: let the stacks decide.
    (ThreadRole::Other, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_tokio_names_are_rayon_guesses() {
        let mut older = HashMap::new();
        older.insert("tokio-0".to_string(), 100);
        assert_eq!(initial_role(100, 1, "tokio-0", &HashMap::new()), (ThreadRole::Tokio, false));
        assert_eq!(initial_role(140, 1, "tokio-0", &older), (ThreadRole::Rayon, true));
        assert_eq!(initial_role(1, 1, "node", &older), (ThreadRole::JsMain, false));
        assert_eq!(initial_role(7, 1, "libuv-worker", &older), (ThreadRole::Libuv, false));
        assert_eq!(initial_role(8, 1, "node", &older), (ThreadRole::Other, true));
    }
}
