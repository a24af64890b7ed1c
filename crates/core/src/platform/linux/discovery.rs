//! Thread discovery: reads the thread list (kept cheap while the thread count holds still), tracks
//! new threads with a slot and a name and role, settles names threads give themselves late, and
//! forgets threads that exited.

use std::sync::atomic::Ordering;

use super::cpu_timer::{CpuTimer, UnreadCpu};
use super::threads::{self, SLOTS};
use super::wall::flush_wall_batch;
use super::{SamplerRun, Tracked, WallState, BIRTH_TOLERANCE_NS, FULL_LIST_INTERVAL_NS, NAME_SETTLE_NS};
use crate::labels::{JS_THREAD_WORD, LABEL_WORDS};
use crate::platform::roles;
use crate::profile::ThreadInfo;
use crate::sampler::policy::CpuAccount;
use crate::util::clock_ns;

impl SamplerRun {
    /// Reads the thread list: tracks new threads, forgets exited ones.
    pub(super) fn discover(&mut self, now: u64) -> bool {
        self.settle_names(now.saturating_sub(NAME_SETTLE_NS));
        // While the thread count holds still, read the list only now and then (for a thread that
        // replaced another in between): reading it 100 times a second was the sampler's main cost.
        // Once it moves, read it every time until it has been still for a while: threads come in
        // bursts, and short ones would be missed.
        let count = self.task_list.as_ref().and_then(threads::TaskList::thread_count);
        if count != self.listed_count {
            self.count_moved_ns = now;
        }
        let quiet = count.is_some() && now - self.count_moved_ns >= FULL_LIST_INTERVAL_NS;
        if quiet && now - self.last_list_ns < FULL_LIST_INTERVAL_NS {
            return false;
        }
        (self.listed_count, self.last_list_ns) = (count, now);
        let mut tids = std::mem::take(&mut self.tids);
        match &mut self.task_list {
            Some(list) => list.read(&mut tids),
            None => tids = threads::list_tids(),
        }
        let gone: Vec<i32> = self.tracked.keys().copied().filter(|t| !tids.contains(t)).collect();
        self.forget_all(gone, now);
        let mut appeared = false;
        let mut new_tids: Vec<i32> = tids.iter().copied().filter(|t| *t != self.own_tid && !self.tracked.contains_key(t)).collect();
        self.tids = tids;
        new_tids.sort_unstable();
        if new_tids.is_empty() {
            return false;
        }
        let mut names = roles::oldest_by_name(&self.profile.threads);
        for tid in new_tids {
            let clock = threads::cpu_clock_of(tid);
            let Some(cpu) = clock_ns(clock) else { continue };
            // A thread born during the session is owed all its CPU: it ran before we saw it.
            let born_during_session = threads::start_time_ns(tid)
                .is_some_and(|t| t + BIRTH_TOLERANCE_NS >= self.start_boottime_ns);
            let last_cpu_ns = if born_during_session { 0 } else { cpu };
            let label_word = if tid == self.target.pid {
                &LABEL_WORDS[JS_THREAD_WORD] as *const _ as *mut _
            } else {
                std::ptr::null_mut()
            };
            let Some(slot) = self.slots.allocate(tid, label_word) else { continue };
            let name = threads::thread_name(tid);
            let role = roles::initial_role(tid, self.target.pid, &name, &names);
            names.entry(name.clone()).or_insert(tid);
            self.profile.threads.push(ThreadInfo::found(tid, name, role, now));
            let info = self.profile.threads.len() - 1;
            let wall = WallState { last_cpu_ns: cpu, last_ns: now, ..Default::default() };
            let owed_ns = cpu - last_cpu_ns;
            let timer = self.open_timer(tid, slot, owed_ns);
            let unread = timer.as_ref().map(|_| UnreadCpu::new(owed_ns, now));
            let account = CpuAccount::new(last_cpu_ns);
            self.tracked.insert(tid, Tracked { tid, slot, clock, cpu: account, info, wall, timer, unread, waits: Default::default() });
            self.by_slot.insert(slot, tid);
            appeared = true;
        }
        appeared
    }

    /// A CPU timer for a new thread whose first sample also carries `owed_ns` (the CPU it used
    /// during the session before it was found); None when the session uses none or the kernel
    /// refused this one (the sampler thread then signals the thread).
    fn open_timer(&mut self, tid: i32, slot: usize, owed_ns: u64) -> Option<CpuTimer> {
        if !self.use_timers {
            return None;
        }
        SLOTS[slot].timer_carry_ns.store(owed_ns, Ordering::Relaxed);
        let opened = CpuTimer::open(self.config.timer, tid, slot, self.period_ns, self.target.signal);
        // A thread that exited since it was listed has no timer to open: not a refusal.
        self.profile.stats.timer_open_failures += u64::from(opened.is_err() && threads::is_alive(self.target.pid, tid));
        opened.ok()
    }

    /// Reads again the names of the threads first seen after `seen_after`. A thread names itself
    /// just after it starts (Rust's std, tokio, V8), so one found in that moment, which is likely on
    /// a loaded machine, would show its spawner's name for the whole profile.
    pub(super) fn settle_names(&mut self, seen_after: u64) {
        let SamplerRun { tracked, profile, target, .. } = self;
        let pid = &target.pid;
        for t in tracked.values() {
            let info = &profile.threads[t.info];
            if info.first_seen_ns < seen_after {
                continue;
            }
            let name = threads::thread_name(t.tid);
            if name.is_empty() || name == info.name {
                continue;
            }
            let older = roles::oldest_by_name(&profile.threads);
            let (role, role_is_guess) = roles::initial_role(t.tid, *pid, &name, &older);
            let info = &mut profile.threads[t.info];
            (info.name, info.role, info.role_is_guess) = (name, role, role_is_guess);
        }
    }

    /// Threads that exited. The records they published since this tick's drain are taken first: as
    /// their samples, and before a thread found next can be given one of their slots.
    pub(super) fn forget_all(&mut self, gone: Vec<i32>, now: u64) {
        if gone.is_empty() {
            return;
        }
        self.drain();
        for tid in gone {
            self.forget(tid, now);
        }
    }

    /// A thread that exited: its slot is freed, a signal it never handled counted as lost, and the
    /// CPU its timer reported after its clock's last read is added to its total.
    fn forget(&mut self, tid: i32, now: u64) {
        let Some(t) = self.untrack(tid) else { return };
        let info = &mut self.profile.threads[t.info];
        info.cpu_ns += t.unread.as_ref().map_or(0, UnreadCpu::ns);
        info.exited = true;
        info.last_seen_ns = now;
    }

    pub(super) fn untrack(&mut self, tid: i32) -> Option<Tracked> {
        let mut t = self.tracked.remove(&tid)?;
        // Closed before its slot is freed: a slot never receives a later owner's timer signal.
        drop(t.timer.take());
        flush_wall_batch(&mut t, &mut self.profile);
        self.profile.stats.lost_in_flight += SLOTS[t.slot].in_flight();
        self.by_slot.remove(&t.slot);
        self.slots.release(t.slot);
        Some(t)
    }
}
