//! A tiny seeded random number generator for victim sampling.
//!
//! Eviction only needs cheap, reproducible randomness (a seeded simulation must give the same
//! miss ratio every run), not cryptographic quality: SplitMix64 is enough and has no state
//! beyond one `u64`, so it can also be advanced atomically by concurrent readers.

use std::sync::atomic::{AtomicU64, Ordering};

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64, for code that holds the shard exclusively.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix(self.0)
    }

    /// A number in `0..bound` (`bound > 0`), by multiply-shift (bias below 2^-32 for the
    /// bounds we use).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (((self.next_u64() >> 32) * bound as u64) >> 32) as usize
    }
}

/// SplitMix64 whose state readers advance with one atomic add, for hits recorded under a
/// shared lock (Redis's probabilistic LFU counter).
#[derive(Debug)]
pub(crate) struct AtomicSplitMix64(AtomicU64);

impl AtomicSplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        AtomicSplitMix64(AtomicU64::new(seed))
    }

    pub(crate) fn next_u64(&self) -> u64 {
        mix(self
            .0
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_flavours_give_the_same_sequence() {
        let mut plain = SplitMix64::new(7);
        let atomic = AtomicSplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(plain.next_u64(), atomic.next_u64());
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let n = rng.below(10);
            seen[n] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
