//! Preallocated lock-free sample storage shared by the signal handler (writers, any thread) and
//! the sampler thread (the one reader, which drains it every tick).
//!
//! A writer claims a record by compare-and-swap EMPTY -> WRITING, fills it, and publishes it as
//! FULL; the reader copies FULL records out and sets them EMPTY. No writer ever waits: when no
//! record is free it counts a drop and returns. Records are not ordered; samples carry their time.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Deepest stack kept; deeper ones are cut and counted (async-profiler keeps 2048, Go 128: rspack's
/// native stacks run to ~100 frames and mixed JS stacks a few hundred).
pub const MAX_FRAMES: usize = 512;
/// Records in flight between two drains. The sampler drains at least every 10 ms; 1024 records
/// hold 10 ms of samples from 100 threads at 1 kHz each.
pub const CAPACITY: usize = 1024;

const EMPTY: u32 = 0;
const WRITING: u32 = 1;
const FULL: u32 = 2;

/// How many records a writer tries before it gives up and counts a drop.
const CLAIM_ATTEMPTS: usize = 8;

/// What the handler knows about a sample besides its frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordHeader {
    pub thread_slot: u32,
    pub time_ns: u64,
    pub weight_ns: u64,
    pub thread_labels: u32,
    pub process_labels: u32,
    pub depth: u32,
    /// JS frames after the native ones (the main thread's, see [`crate::js::jit`]).
    pub js_depth: u32,
    pub truncated: bool,
    pub cache_busy: bool,
    pub unknown_region: bool,
    /// Kept with the leaf frame only: the thread had too little stack left for a walk.
    pub low_stack: bool,
    /// A CPU sample that found its thread waiting in the kernel (Linux:
    /// `platform/linux/syscall_site.rs`): the CPU it carries was used before that wait.
    pub at_wait: bool,
}

struct RecordData {
    header: RecordHeader,
    frames: [u64; MAX_FRAMES],
}

/// The ring of records. One per process, allocated once and reused by every session, so the signal
/// handler never sees it appear or disappear.
///
/// States live apart from the records: the reader checks them every tick, and with each state at
/// the head of its 4 kB record one scan touched 1024 pages, which was 40% of the sampler thread's
/// CPU at 99 Hz. Packed, a scan reads 4 kB, and a count of published records skips it when none is.
pub struct Store {
    states: Box<[AtomicU32]>,
    records: Box<[UnsafeCell<RecordData>]>,
    next: AtomicU64,
    dropped: AtomicU64,
    /// Records ever published, and ever drained (the reader's alone).
    published: AtomicU64,
    drained: AtomicU64,
}

// SAFETY: a record's data is only touched by the one party that moved its state: the writer that
// won EMPTY -> WRITING, or the reader that saw FULL (Acquire) and hands it back with EMPTY (Release).
unsafe impl Sync for Store {}

/// Writes a byte of every page of the records. The zeroed allocation comes as untouched pages, so
/// without this each record's pages became resident the first time a handler wrote there: a page
/// fault inside the handler, and the store's 4 MB showing as growth across the first hundreds of
/// sessions (the churn test counted it against a leak).
fn make_resident(records: &mut [UnsafeCell<RecordData>]) {
    const PAGE: usize = 4096;
    let bytes = std::mem::size_of_val(records);
    let base = records.as_mut_ptr().cast::<u8>();
    for offset in (0..bytes).step_by(PAGE) {
        // SAFETY: within the records, which are plain data that zero is valid for; volatile so the
        // write to already-zero memory is not removed.
        unsafe { std::ptr::write_volatile(base.add(offset), 0) };
    }
}

/// A claimed record, written in place by the handler.
pub struct RecordWriter<'a> {
    store: &'a Store,
    index: usize,
}

impl RecordWriter<'_> {
    pub fn frames_mut(&mut self) -> &mut [u64; MAX_FRAMES] {
        // SAFETY: this writer owns the record while its state is WRITING.
        unsafe { &mut (*self.store.records[self.index].get()).frames }
    }

    pub fn publish(self, header: RecordHeader) {
        // SAFETY: as above; the Release store makes header and frames visible to the reader.
        unsafe { (*self.store.records[self.index].get()).header = header };
        // Counted before it is FULL, so the reader never drains more than were counted.
        self.store.published.fetch_add(1, Ordering::Release);
        self.store.states[self.index].store(FULL, Ordering::Release);
    }
}

impl Store {
    fn new(capacity: usize) -> Store {
        let mut records: Box<[UnsafeCell<RecordData>]> = (0..capacity)
            .map(|_| UnsafeCell::new(RecordData { header: RecordHeader::default(), frames: [0; MAX_FRAMES] }))
            .collect();
        make_resident(&mut records);
        Store {
            states: (0..capacity).map(|_| AtomicU32::new(EMPTY)).collect(),
            records,
            next: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            published: AtomicU64::new(0),
            drained: AtomicU64::new(0),
        }
    }

    /// The process-wide store.
    pub fn global() -> &'static Store {
        static STORE: OnceLock<Store> = OnceLock::new();
        STORE.get_or_init(|| Store::new(CAPACITY))
    }

    /// Claims a free record without waiting. Async-signal-safe: atomics only.
    #[inline]
    pub fn claim(&self) -> Option<RecordWriter<'_>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        for i in 0..CLAIM_ATTEMPTS {
            let index = (start + i) % self.states.len();
            if self.states[index].compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return Some(RecordWriter { store: self, index });
            }
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Samples lost to a full store since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    /// Hands every published record to `sink` (header, native frames, JS frames) and frees it. Only
    /// the sampler thread calls this.
    pub fn drain(&self, mut sink: impl FnMut(&RecordHeader, &[u64], &[u64])) -> usize {
        let drained_before = self.drained.load(Ordering::Relaxed);
        // Every FULL record was counted first: equal counts mean none waits (one counted but not
        // yet FULL is found by a later drain).
        if self.published.load(Ordering::Acquire) == drained_before {
            return 0;
        }
        let mut drained = 0;
        for (state, record) in self.states.iter().zip(self.records.iter()) {
            if state.load(Ordering::Acquire) == FULL {
                // SAFETY: FULL records belong to the reader until it stores EMPTY.
                let data = unsafe { &*record.get() };
                let depth = (data.header.depth as usize).min(MAX_FRAMES);
                let js_end = (depth + data.header.js_depth as usize).min(MAX_FRAMES);
                sink(&data.header, &data.frames[..depth], &data.frames[depth..js_end]);
                state.store(EMPTY, Ordering::Release);
                drained += 1;
            }
        }
        self.drained.store(drained_before + drained as u64, Ordering::Relaxed);
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_overflow_is_counted() {
        let store = Store::new(4);
        for i in 0..6u64 {
            if let Some(mut w) = store.claim() {
                w.frames_mut()[0] = i;
                w.publish(RecordHeader { depth: 1, time_ns: i, ..Default::default() });
            }
        }
        assert_eq!(store.take_dropped(), 2);
        let mut seen = Vec::new();
        assert_eq!(store.drain(|h, f, _| seen.push((h.time_ns, f[0]))), 4);
        seen.sort();
        assert_eq!(seen, vec![(0, 0), (1, 1), (2, 2), (3, 3)]);
        assert_eq!(store.drain(|_, _, _| panic!("drained twice")), 0);
    }

    #[test]
    fn concurrent_writers_never_lose_a_published_record() {
        let store = std::sync::Arc::new(Store::new(64));
        let written = std::sync::Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (store, written) = (store.clone(), written.clone());
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        if let Some(mut w) = store.claim() {
                            w.frames_mut()[0] = t * 1_000_000 + i;
                            w.publish(RecordHeader { depth: 1, ..Default::default() });
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        let mut read = 0u64;
        while handles.iter().any(|h| !h.is_finished()) {
            read += store.drain(|_, _, _| {}) as u64;
        }
        handles.into_iter().for_each(|h| h.join().unwrap());
        read += store.drain(|_, _, _| {}) as u64;
        assert_eq!(read, written.load(Ordering::Relaxed));
        assert_eq!(read + store.take_dropped(), 40_000);
    }
}
