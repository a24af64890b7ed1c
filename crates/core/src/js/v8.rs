//! The `Profiler.stop` result of the inspector protocol (`Profiler.Profile`), as a timeline.
//!
//! Timestamps are microseconds of V8's `TimeTicks`, which on Linux is `CLOCK_MONOTONIC`: the clock
//! of the native samples (`crate::util::monotonic_ns`) and of `process.hrtime`.

use rustc_hash::FxHashMap as HashMap;
use serde::Deserialize;

/// What the JS side sends: the V8 profile and the sampling interval it asked V8 for.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsProfileMessage {
    pub interval_us: u64,
    pub profile: ProtocolProfile,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolProfile {
    pub nodes: Vec<ProtocolNode>,
    pub start_time: f64,
    #[serde(default)]
    pub samples: Vec<u32>,
    #[serde(default)]
    pub time_deltas: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolNode {
    pub id: u32,
    pub call_frame: CallFrame,
    #[serde(default)]
    pub children: Vec<u32>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct CallFrame {
    pub function_name: String,
    #[serde(default)]
    pub url: String,
    /// Zero-based line of the function's start (not of the sampled statement).
    #[serde(default)]
    pub line_number: i32,
    #[serde(default)]
    pub column_number: i32,
}

/// V8's pseudo-frames: what the JS thread did when it ran no JS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    Program,
    GarbageCollector,
    Idle,
}

/// A V8 profile made ready for lookups by time.
pub struct V8Profile {
    pub interval_ns: u64,
    /// (time, node index), sorted by time.
    pub timeline: Vec<(u64, u32)>,
    pub frames: Vec<CallFrame>,
    /// Parent node index of each node; `None` for the root.
    parents: Vec<Option<u32>>,
}

impl V8Profile {
    /// Parses the JSON the JS side sent (`{ intervalUs, profile }`).
    pub fn parse(json: &str) -> Result<V8Profile, String> {
        let message: JsProfileMessage = serde_json::from_str(json).map_err(|e| format!("the V8 profile is not readable: {e}"))?;
        Ok(V8Profile::from_protocol(message.profile, message.interval_us))
    }

    pub fn from_protocol(profile: ProtocolProfile, interval_us: u64) -> V8Profile {
        let index: HashMap<u32, u32> = profile.nodes.iter().enumerate().map(|(i, n)| (n.id, i as u32)).collect();
        let mut parents = vec![None; profile.nodes.len()];
        for (i, node) in profile.nodes.iter().enumerate() {
            for child in &node.children {
                if let Some(&c) = index.get(child) {
                    parents[c as usize] = Some(i as u32);
                }
            }
        }
        // Deltas can be negative (V8 sorts samples by when they were processed): sort the times.
        let mut time_us = profile.start_time;
        let mut timeline: Vec<(u64, u32)> = profile
            .samples
            .iter()
            .zip(&profile.time_deltas)
            .filter_map(|(id, delta)| {
                time_us += *delta as f64;
                Some(((time_us.max(0.0) * 1000.0) as u64, *index.get(id)?))
            })
            .collect();
        timeline.sort_unstable();
        V8Profile {
            interval_ns: interval_us.max(1) * 1000,
            timeline,
            frames: profile.nodes.into_iter().map(|n| n.call_frame).collect(),
            parents,
        }
    }

    /// The sample closest to `time_ns`, if one lies within `tolerance_ns` of it.
    pub fn nearest(&self, time_ns: u64, tolerance_ns: u64) -> Option<u32> {
        let i = self.timeline.partition_point(|&(t, _)| t < time_ns);
        let before = i.checked_sub(1).map(|j| self.timeline[j]);
        let after = self.timeline.get(i).copied();
        [before, after]
            .into_iter()
            .flatten()
            .map(|(t, node)| (t.abs_diff(time_ns), node))
            .filter(|&(d, _)| d <= tolerance_ns)
            .min()
            .map(|(_, node)| node)
    }

    /// The node's JS frames, leaf first, without V8's `(root)` and without native callbacks.
    ///
    /// V8 names a native callback by its C entry point, and every Node-API function shares one
    /// (`v8impl::FunctionCallbackWrapper::Invoke`): all of them read as whichever napi function
    /// V8 saw first (a Rust `burnJs` showed as `NativeSession`). The native stack has the real
    /// function right above, so these frames are dropped rather than shown wrong.
    pub fn stack(&self, node: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = Some(node);
        while let Some(n) = at {
            at = self.parents[n as usize];
            if at.is_some() && !self.is_native_callback(n) {
                out.push(n);
            }
        }
        out
    }

    fn is_native_callback(&self, node: u32) -> bool {
        let f = &self.frames[node as usize];
        f.url.is_empty() && f.line_number < 0 && self.pseudo(node).is_none()
    }

    pub fn pseudo(&self, node: u32) -> Option<Pseudo> {
        let f = &self.frames[node as usize];
        if !f.url.is_empty() {
            return None;
        }
        match f.function_name.as_str() {
            "(program)" => Some(Pseudo::Program),
            "(garbage collector)" => Some(Pseudo::GarbageCollector),
            "(idle)" => Some(Pseudo::Idle),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// (root) -> main -> work, (root) -> (garbage collector), (root) -> (idle); samples at
    /// 1000, 2000, 3000 and 4000 us.
    pub fn small_profile() -> V8Profile {
        let json = r#"{"intervalUs":1000,"profile":{"startTime":1000,"endTime":5000,
          "nodes":[
            {"id":1,"callFrame":{"functionName":"(root)","url":"","lineNumber":-1,"columnNumber":-1},"children":[2,4,5]},
            {"id":2,"callFrame":{"functionName":"main","url":"file:///app/main.js","lineNumber":0,"columnNumber":0},"children":[3]},
            {"id":3,"callFrame":{"functionName":"work","url":"file:///app/main.js","lineNumber":9,"columnNumber":2},"children":[6]},
            {"id":4,"callFrame":{"functionName":"(garbage collector)","url":"","lineNumber":-1,"columnNumber":-1}},
            {"id":5,"callFrame":{"functionName":"(idle)","url":"","lineNumber":-1,"columnNumber":-1}},
            {"id":6,"callFrame":{"functionName":"NativeSession","url":"","lineNumber":-1,"columnNumber":-1}}],
          "samples":[6,2,4,5],"timeDeltas":[0,1000,1000,1000]}}"#;
        V8Profile::parse(json).unwrap()
    }

    #[test]
    fn timeline_and_stacks() {
        let p = small_profile();
        assert_eq!(p.timeline, vec![(1_000_000, 5), (2_000_000, 1), (3_000_000, 3), (4_000_000, 4)]);
        assert_eq!(p.stack(5), vec![2, 1], "the napi callback is dropped");
        assert_eq!(p.stack(2), vec![2, 1]);
        assert_eq!(p.frames[p.stack(2)[0] as usize].function_name, "work");
        assert_eq!(p.pseudo(3), Some(Pseudo::GarbageCollector));
        assert_eq!(p.pseudo(4), Some(Pseudo::Idle));
        assert_eq!(p.pseudo(1), None);
    }

    #[test]
    fn nearest_respects_the_tolerance() {
        let p = small_profile();
        assert_eq!(p.nearest(1_400_000, 500_000), Some(5));
        assert_eq!(p.nearest(1_600_000, 500_000), Some(1));
        assert_eq!(p.nearest(9_000_000, 500_000), None);
        assert_eq!(p.nearest(0, 500_000), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(V8Profile::parse("{").is_err());
        assert!(V8Profile::parse(r#"{"intervalUs":1,"profile":{"nodes":[],"startTime":0,"samples":[7],"timeDeltas":[1]}}"#).unwrap().timeline.is_empty());
    }
}
