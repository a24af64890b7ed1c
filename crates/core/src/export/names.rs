//! Names as small ids: interned strings (pprof's string table, the flame graph's frame names), and
//! for the flame graph's call tree each location's names, hashed once per location rather than
//! once per stack through it (a 999 Hz build has ~30k distinct stacks of ~50 frames). Also, for the
//! exporters' tests, profiles built from names.

use rustc_hash::FxHashMap as HashMap;

use crate::symbolize::{Frame, Symbolized};

/// Interned names, numbered in the order first seen.
#[derive(Default)]
pub struct Names {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Names {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// The names, each at its id.
    pub fn into_vec(self) -> Vec<String> {
        self.names
    }
}

/// Each location's frames (its inlined functions, outermost first) as ids of `names`, named by
/// `name_of` (which appends a frame's name to the buffer it is given); each location is named the
/// first time it is asked for.
pub struct LocationNames<'a> {
    sym: &'a Symbolized,
    name_of: fn(&Frame, &mut String),
    /// (start, end) in `ids`, for the locations seen so far.
    ranges: Vec<Option<(u32, u32)>>,
    ids: Vec<u32>,
}

impl<'a> LocationNames<'a> {
    pub fn new(sym: &'a Symbolized, name_of: fn(&Frame, &mut String)) -> LocationNames<'a> {
        LocationNames { sym, name_of, ranges: vec![None; sym.locations.len()], ids: Vec::new() }
    }

    pub fn of(&mut self, location: u32, names: &mut Names) -> &[u32] {
        let (start, end) = *self.ranges[location as usize].get_or_insert_with(|| {
            let start = self.ids.len() as u32;
            let mut name = String::new();
            for frame in self.sym.locations[location as usize].frames.iter().rev() {
                name.clear();
                (self.name_of)(frame, &mut name);
                self.ids.push(names.id(&name));
            }
            (start, self.ids.len() as u32)
        });
        &self.ids[start as usize..end as usize]
    }
}

/// Profiles built from names, for the exporters' tests.
#[cfg(test)]
pub mod testing {
    use crate::profile::{RawProfile, Sample, ThreadInfo, ThreadRole};
    use crate::resolve::ResolvedProfile;
    use crate::symbolize::{Frame, Location, Origin, Symbolized};

    /// One JS thread's samples, each with its stack given root first as locations, each location
    /// as its frames outermost first, and its weight in ns; the same names make the same location.
    pub fn profile(samples: &[(Vec<Vec<&str>>, u64)]) -> ResolvedProfile {
        let mut locations: Vec<Location> = Vec::new();
        let mut stacks = Vec::new();
        let mut raw = RawProfile { frequency: 999, ..Default::default() };
        raw.threads.push(ThreadInfo { tid: 1, name: "node".into(), role: ThreadRole::JsMain, role_is_guess: false, cpu_ns: 0, first_seen_ns: 0, last_seen_ns: 0, exited: false, leaf_only_samples: 0 });
        for (stack, weight_ns) in samples {
            let mut ids: Vec<u32> = stack
                .iter()
                .map(|names| {
                    let frames: Vec<Frame> = names.iter().rev().map(|n| Frame { function: n.to_string(), short: n.to_string(), file: None, line: None }).collect();
                    let id = locations.iter().position(|l| l.frames == frames).unwrap_or_else(|| {
                        locations.push(Location { address: 0, module: None, origin: Origin::Module, frames });
                        locations.len() - 1
                    });
                    id as u32
                })
                .collect();
            ids.reverse();
            stacks.push(ids);
            let stack = stacks.len() as u32 - 1;
            raw.samples.push(Sample { thread: 0, time_ns: 0, weight_ns: *weight_ns, kind: Default::default(), thread_labels: 0, process_labels: 0, stack, js_stack: crate::profile::NO_JS_STACK });
        }
        ResolvedProfile::from_parts(raw, Symbolized { locations, stacks, modules: Vec::new() }, Default::default())
    }
}
