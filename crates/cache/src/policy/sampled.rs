//! Redis's approximated eviction: sample a few candidates, keep the best in an eviction pool.
//!
//! Redis does not keep an ordered structure of its keys. When it must evict, it samples
//! `maxmemory-samples` keys, scores each (idle time for LRU, `255 - counter` for LFU,
//! `u64::MAX - deadline` for TTL), merges them into a 16-slot pool sorted by score, and
//! evicts the best-scored pool entry that still exists. The pool survives between
//! evictions, which is what makes 5 samples good enough. This module reproduces that
//! (`evict.c`: `evictionPoolPopulate`, `performEvictions`), with two documented
//! differences:
//! - samples are drawn uniformly (Redis's `dictGetSomeKeys` takes runs of adjacent buckets);
//! - LRU idle time is measured in accesses to the shard (a logical clock), not in Redis's
//!   1-second `LRU_CLOCK`, so recency is never coarser than one access.
//!
//! LFU uses Redis's 8-bit logarithmic counter: new keys start at 5; an access first applies
//! the decay (one per `lfu-decay-time` idle minutes), then increments with probability
//! `1 / ((counter - 5) * lfu-log-factor + 1)`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::contract::{Admit, Policy};
use super::random::DenseSet;
use crate::Clock;
use crate::rng::{AtomicSplitMix64, SplitMix64};
use crate::spec::Sampling;

/// Redis's `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;
/// Redis's `LFU_INIT_VAL`: the counter of a new key, so it is not evicted at once.
pub(crate) const LFU_INIT_VAL: u64 = 5;

/// What the sampled score measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Score {
    Lru,
    Lfu,
    Ttl,
}

#[derive(Debug, Clone, Copy)]
struct PoolEntry {
    idle: u64,
    idx: u32,
    hash: u64,
}

#[derive(Debug)]
pub(crate) struct Sampled {
    score: Score,
    sampling: Sampling,
    candidates: DenseSet,
    /// Key hash per slot, to recognise a pool entry whose slot was reused by another key.
    hashes: Vec<u64>,
    /// Per slot: the access tick (LRU), `minutes << 8 | counter` (LFU), or the deadline (TTL).
    meta: Vec<AtomicU64>,
    pool: [Option<PoolEntry>; POOL_SIZE],
    rng: SplitMix64,
    /// Randomness for the LFU counter, drawn by readers holding only a shared lock.
    hit_rng: AtomicSplitMix64,
    /// The shard's logical LRU clock: one tick per access.
    ticks: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl Sampled {
    pub(crate) fn new(score: Score, sampling: Sampling, seed: u64, clock: Arc<dyn Clock>) -> Self {
        Sampled {
            score,
            sampling,
            candidates: DenseSet::default(),
            hashes: Vec::new(),
            meta: Vec::new(),
            pool: [None; POOL_SIZE],
            rng: SplitMix64::new(seed),
            hit_rng: AtomicSplitMix64::new(seed ^ 0x5EED),
            ticks: AtomicU64::new(0),
            clock,
        }
    }

    fn minutes(&self) -> u64 {
        (self.clock.now_nanos() / 60_000_000_000) & 0xFFFF
    }

    /// Redis's `LFUDecrAndReturn`: the counter after the decay owed for idle minutes.
    fn decayed_counter(&self, meta: u64) -> u64 {
        let counter = meta & 0xFF;
        let last = meta >> 8;
        if self.sampling.decay_minutes == 0 {
            return counter;
        }
        let now = self.minutes();
        let elapsed = if now >= last {
            now - last
        } else {
            0xFFFF - last + now
        };
        let periods = elapsed / u64::from(self.sampling.decay_minutes);
        counter.saturating_sub(periods)
    }

    /// Redis's `LFULogIncr`.
    fn log_increment(&self, counter: u64) -> u64 {
        if counter >= 255 {
            return 255;
        }
        let draw = (self.hit_rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * f64::from(self.sampling.log_factor) + 1.0);
        if draw < p { counter + 1 } else { counter }
    }

    fn idle(&self, idx: u32) -> u64 {
        let meta = self.meta[idx as usize].load(Ordering::Relaxed);
        match self.score {
            Score::Lru => self.ticks.load(Ordering::Relaxed).saturating_sub(meta),
            Score::Lfu => 255 - self.decayed_counter(meta),
            Score::Ttl => u64::MAX - meta,
        }
    }

    /// Redis's `evictionPoolPopulate`: sample and merge into the pool (sorted by ascending
    /// idle; when full, the least idle entry makes room).
    fn populate(&mut self) {
        for _ in 0..self.sampling.samples {
            let Some(idx) = self.candidates.draw(&mut self.rng) else {
                return;
            };
            if self.pool.iter().flatten().any(|e| e.idx == idx) {
                continue;
            }
            let entry = PoolEntry {
                idle: self.idle(idx),
                idx,
                hash: self.hashes[idx as usize],
            };
            let mut k = 0;
            while k < POOL_SIZE && self.pool[k].is_some_and(|e| e.idle < entry.idle) {
                k += 1;
            }
            if k == 0 && self.pool[POOL_SIZE - 1].is_some() {
                continue; // worse than everything in a full pool
            }
            if k < POOL_SIZE && self.pool[k].is_none() {
                // empty slot: take it
            } else if self.pool[POOL_SIZE - 1].is_none() {
                self.pool[k..].rotate_right(1); // room on the right: shift right from k
            } else {
                k -= 1; // full: drop the least idle (leftmost), shift left up to k
                self.pool[..=k].rotate_left(1);
            }
            self.pool[k] = Some(entry);
        }
    }

    /// Whether the policy orders candidates by their deadline.
    pub(crate) fn orders_by_deadline(&self) -> bool {
        self.score == Score::Ttl
    }

    fn is_live(&self, entry: PoolEntry) -> bool {
        self.candidates.contains(entry.idx) && self.hashes[entry.idx as usize] == entry.hash
    }
}

impl Policy for Sampled {
    fn insert(&mut self, idx: u32, admit: Admit) {
        if self.meta.len() <= idx as usize {
            let len = (idx as usize + 1).max(self.meta.len() * 2);
            self.meta.resize_with(len, || AtomicU64::new(0));
            self.hashes.resize(len, 0);
        }
        self.hashes[idx as usize] = admit.hash;
        let meta = match self.score {
            Score::Lru => self.ticks.fetch_add(1, Ordering::Relaxed) + 1,
            Score::Lfu => self.minutes() << 8 | LFU_INIT_VAL,
            Score::Ttl => admit.expires_at,
        };
        self.meta[idx as usize].store(meta, Ordering::Relaxed);
        self.candidates.insert(idx);
    }

    fn touch(&mut self, idx: u32) {
        self.touch_shared(idx);
    }

    fn touch_shared(&self, idx: u32) {
        let slot = &self.meta[idx as usize];
        match self.score {
            Score::Lru => slot.store(
                self.ticks.fetch_add(1, Ordering::Relaxed) + 1,
                Ordering::Relaxed,
            ),
            Score::Lfu => {
                // Like Redis, a racing reader may overwrite another's increment; the counter
                // is probabilistic anyway.
                let counter =
                    self.log_increment(self.decayed_counter(slot.load(Ordering::Relaxed)));
                slot.store(self.minutes() << 8 | counter, Ordering::Relaxed);
            }
            Score::Ttl => {}
        }
    }

    fn remove(&mut self, idx: u32) {
        self.candidates.remove(idx);
    }

    fn evict(&mut self) -> Option<u32> {
        while self.candidates.len() > 0 {
            self.populate();
            for k in (0..POOL_SIZE).rev() {
                if let Some(entry) = self.pool[k].take()
                    && self.is_live(entry)
                {
                    self.candidates.remove(entry.idx);
                    return Some(entry.idx);
                }
            }
        }
        None
    }
}

impl Sampled {
    /// The LFU counter of a slot, after decay (for tests and introspection).
    #[cfg(test)]
    pub(crate) fn lfu_counter(&self, idx: u32) -> u64 {
        self.decayed_counter(self.meta[idx as usize].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::time::Duration;

    #[test]
    fn lfu_counter_starts_at_five_grows_logarithmically_and_decays_per_idle_minute() {
        let clock = ManualClock::new();
        let sampling = Sampling {
            samples: 5,
            log_factor: 10,
            decay_minutes: 1,
        };
        let mut policy = Sampled::new(Score::Lfu, sampling, 1, Arc::new(clock.clone()));
        policy.insert(0, Admit::unit(1));
        assert_eq!(policy.lfu_counter(0), LFU_INIT_VAL);
        for _ in 0..1000 {
            policy.touch(0);
        }
        let after = policy.lfu_counter(0);
        // Redis: ~1000 hits with log-factor 10 give a counter around 18; it never reaches 255.
        assert!((12..=30).contains(&after), "counter {after}");
        clock.advance(Duration::from_secs(3 * 60));
        assert_eq!(policy.lfu_counter(0), after - 3);
    }

    #[test]
    fn lfu_with_log_factor_zero_counts_every_hit_up_to_255() {
        let clock = ManualClock::new();
        let sampling = Sampling {
            samples: 5,
            log_factor: 0,
            decay_minutes: 0,
        };
        let mut policy = Sampled::new(Score::Lfu, sampling, 1, Arc::new(clock));
        policy.insert(3, Admit::unit(1));
        for _ in 0..10 {
            policy.touch(3);
        }
        assert_eq!(policy.lfu_counter(3), LFU_INIT_VAL + 10);
        for _ in 0..1000 {
            policy.touch(3);
        }
        assert_eq!(policy.lfu_counter(3), 255);
    }

    #[test]
    fn many_samples_make_sampled_lru_exact_on_small_sets() {
        let clock = ManualClock::new();
        let sampling = Sampling {
            samples: 64,
            ..Sampling::default()
        };
        let mut policy = Sampled::new(Score::Lru, sampling, 9, Arc::new(clock));
        for idx in 0..10 {
            policy.insert(idx, Admit::unit(u64::from(idx) + 100));
        }
        for idx in [0, 1, 2, 4] {
            policy.touch(idx);
        }
        // Least recent now: 3, then 5, 6, …
        assert_eq!(policy.evict(), Some(3));
        assert_eq!(policy.evict(), Some(5));
    }

    #[test]
    fn the_pool_skips_entries_that_left() {
        let clock = ManualClock::new();
        let mut policy = Sampled::new(
            Score::Lru,
            Sampling {
                samples: 64,
                ..Sampling::default()
            },
            3,
            Arc::new(clock),
        );
        for idx in 0..4 {
            policy.insert(idx, Admit::unit(u64::from(idx)));
        }
        policy.populate();
        policy.remove(0); // the pool still names 0
        let mut seen = Vec::new();
        while let Some(victim) = policy.evict() {
            seen.push(victim);
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3]);
    }
}
