//! Counters of what the cache did.
//!
//! Hits and misses are counted on the read path, which may run on many threads at once under
//! a shared lock; they go to striped counters (one cache line per stripe, a thread sticks to
//! its stripe) so that readers do not fight over one line. Everything else is counted under
//! the shard's exclusive lock. A snapshot adds the parts up: it is exact when the cache is
//! quiet and may be a few operations behind while it is busy.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use crate::RemovalCause;

const STRIPES: usize = 16;

/// A counter spread over cache lines so concurrent increments rarely share one.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: Box<[CachePadded<AtomicU64>]>,
}

fn stripe_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter {
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
        }
    }
}

impl StripedCounter {
    pub(crate) fn add(&self, n: u64) {
        self.stripes[stripe_of_this_thread()].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.stripes.iter().map(|s| s.load(Ordering::Relaxed)).sum()
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
    fn striped_counter_sums_all_threads() {
        let counter = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.add(1)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.sum(), 4000);
    }
}
