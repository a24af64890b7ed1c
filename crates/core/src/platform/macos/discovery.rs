//! Thread discovery: reads the thread list, tracks new threads (name, role and stack bounds are
//! read when a thread is found, while no thread is suspended), forgets threads that exited.

use super::threads;
use super::{SamplerRun, Tracked};
use crate::platform::roles;
use crate::profile::ThreadInfo;
use crate::sampler::policy::CpuAccount;

impl SamplerRun {
    /// Reads the thread list: tracks new threads (name, role, stack bounds read now, while no
    /// thread is suspended), forgets exited ones.
    pub(super) fn discover(&mut self, now: u64) {
        let mut listed = std::mem::take(&mut self.listed);
        if !threads::list(&mut listed) {
            self.listed = listed;
            return;
        }
        let gone: Vec<u64> = self.tracked.keys().copied().filter(|id| !listed.iter().any(|(l, _)| l == id)).collect();
        for id in gone {
            self.forget(id, now);
        }
        let mut names = roles::oldest_by_name(&self.profile.threads);
        for &(id, port) in &listed {
            if id == self.own_id || self.tracked.contains_key(&id) {
                // One reference per thread is kept; this listing's is given back.
                threads::release(port);
                continue;
            }
            let Some((cpu, _)) = threads::cpu_and_state(port) else {
                threads::release(port);
                continue;
            };
            // pprof and the Chrome trace key threads by a 32-bit id: the low bits of the unique one.
            let tid = id as i32;
            let js_tid = self.js_id as i32;
            let name = threads::name(port);
            let role = roles::initial_role(tid, js_tid, &name, &names);
            names.entry(name.clone()).or_insert(tid);
            self.profile.threads.push(ThreadInfo::found(tid, name, role, now));
            let tracked = Tracked {
                port,
                info: self.profile.threads.len() - 1,
                js: id == self.js_id,
                stack: threads::stack_bounds(port),
                cpu: CpuAccount::new(cpu),
                wall_cpu_ns: cpu,
                wall_ns: now,
                wall_stack: None,
                waits: Default::default(),
            };
            self.tracked.insert(id, tracked);
        }
        listed.clear();
        self.listed = listed;
    }

    pub(super) fn forget(&mut self, id: u64, now: u64) {
        let Some(t) = self.tracked.remove(&id) else { return };
        threads::release(t.port);
        let info = &mut self.profile.threads[t.info];
        info.exited = true;
        info.last_seen_ns = now;
    }
}
