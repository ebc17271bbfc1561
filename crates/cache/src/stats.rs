//! Counters of what the cache did.
//!
//! Hits and misses are counted on the read path, which may run on many threads at once under
//! a shared lock, so they must not cost a contended (or even a locked) memory operation.
//! Each of the first [`OWNED_LANES`] threads that touch a cache owns one lane (a cache line
//! with a hit and a miss counter) and increments it with a plain load and store: exact,
//! because nobody else writes that lane. Later threads share a few overflow lanes and use
//! atomic adds. Everything else is counted under the shard's exclusive lock. A snapshot adds
//! the parts up: exact when the cache is quiet, possibly a few operations behind while busy.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::RemovalCause;

/// Threads (numbered by first use, process-wide) that get a lane of their own.
const OWNED_LANES: usize = 64;
/// Lanes shared, with atomic adds, by any further thread.
const SHARED_LANES: usize = 8;

#[derive(Debug, Default)]
struct Lane {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Hit and miss counters spread over per-thread cache lines.
#[derive(Debug)]
pub(crate) struct LookupCounters {
    owned: Box<[CachePadded<Lane>]>,
    shared: Box<[CachePadded<Lane>]>,
}

/// A process-wide number for the calling thread, assigned on first use.
#[inline]
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    NUMBER.with(|n| {
        if n.get() == usize::MAX {
            n.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

impl Default for LookupCounters {
    fn default() -> Self {
        let lanes = |n| (0..n).map(|_| CachePadded::new(Lane::default())).collect();
        LookupCounters {
            owned: lanes(OWNED_LANES),
            shared: lanes(SHARED_LANES),
        }
    }
}

impl LookupCounters {
    #[inline]
    pub(crate) fn record(&self, hit: bool) {
        let thread = thread_number();
        fn pick(lane: &Lane, hit: bool) -> &AtomicU64 {
            if hit { &lane.hits } else { &lane.misses }
        }
        match self.owned.get(thread) {
            // Single writer: a plain read-modify-write cannot lose an increment.
            Some(lane) => {
                let counter = pick(lane, hit);
                counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                pick(&self.shared[thread % SHARED_LANES], hit).fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// (hits, misses) so far.
    pub(crate) fn sum(&self) -> (u64, u64) {
        self.owned
            .iter()
            .chain(self.shared.iter())
            .fold((0, 0), |(h, m), lane| {
                (
                    h + lane.hits.load(Ordering::Relaxed),
                    m + lane.misses.load(Ordering::Relaxed),
                )
            })
    }
}

/// Counters kept per shard under its exclusive lock.
#[derive(Debug, Default, Clone)]
pub(crate) struct ShardCounters {
    pub(crate) inserts: u64,
    pub(crate) removals: [u64; 5],
    pub(crate) rejected: u64,
}

impl ShardCounters {
    pub(crate) fn removed(&mut self, cause: RemovalCause) {
        self.removals[cause.index()] += 1;
    }
}

/// A snapshot of a cache's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing (or only an expired entry).
    pub misses: u64,
    /// Successful inserts, replacements included.
    pub inserts: u64,
    /// Inserts refused with an error (out of memory, too large).
    pub rejected_inserts: u64,
    /// Entries that left, by cause, in the order of [`RemovalCause::ALL`].
    pub removals: [u64; 5],
    /// Entries held now.
    pub entries: u64,
    /// Weight held now: bytes (key + value + per-entry overhead) for a byte budget, otherwise
    /// the entry count.
    pub weight: u64,
    /// The configured capacity in the unit of `weight`.
    pub capacity: u64,
}

impl CacheStats {
    /// How many entries left for `cause`.
    pub fn removed(&self, cause: RemovalCause) -> u64 {
        self.removals[cause.index()]
    }

    /// Hits over lookups, or 0 when nothing was looked up.
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_every_thread_even_beyond_the_owned_lanes() {
        let counters = std::sync::Arc::new(LookupCounters::default());
        let threads: Vec<_> = (0..OWNED_LANES + 6)
            .map(|i| {
                let counters = counters.clone();
                std::thread::spawn(move || (0..100).for_each(|j| counters.record((i + j) % 2 == 0)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let (hits, misses) = counters.sum();
        assert_eq!(hits + misses, 100 * (OWNED_LANES as u64 + 6));
        assert_eq!(hits, misses);
    }
}
