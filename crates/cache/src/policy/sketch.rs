//! A counting Bloom filter of access frequencies, for W-TinyLFU's admission decision.
//!
//! Sized like libCacheSim's (the reference our W-TinyLFU is tested against): for `n` items
//! and a 0.1% error rate it keeps `ceil(14.38 n)` 16-bit counters and touches 10 of them per
//! item, found by double hashing the item's 64-bit hash. An item's estimate is the minimum
//! of its counters. The owner halves every counter periodically ([`FrequencySketch::halve`])
//! so the sketch follows a shifting popularity instead of remembering the past forever
//! (TinyLFU's "reset").

/// Bits per item for a 0.1% false-positive rate: `-ln(0.001) / ln(2)^2`.
const BITS_PER_ITEM: f64 = 14.377_588_259_857_8;
/// Hash positions per item: `ceil(ln(2) × BITS_PER_ITEM)`.
const HASHES: u32 = 10;

#[derive(Debug)]
pub(crate) struct FrequencySketch {
    counters: Vec<u16>,
    items: u64,
}

impl FrequencySketch {
    /// A sketch sized for about `items` distinct items.
    pub(crate) fn new(items: u64) -> Self {
        let items = items.max(1);
        let len = ((BITS_PER_ITEM * items as f64).ceil() as u64)
            .clamp(2 * u64::from(HASHES), i32::MAX as u64);
        FrequencySketch {
            counters: vec![0; len as usize],
            items,
        }
    }

    /// How many items the sketch was sized for.
    pub(crate) fn items(&self) -> u64 {
        self.items
    }

    fn positions(&self, hash: u64) -> impl Iterator<Item = usize> + use<> {
        let (a, b) = (hash as u32, (hash >> 32) as u32);
        let len = self.counters.len() as u64;
        (0..HASHES).map(move |i| (u64::from(a.wrapping_add(i.wrapping_mul(b))) % len) as usize)
    }

    pub(crate) fn estimate(&self, hash: u64) -> u16 {
        self.positions(hash)
            .map(|p| self.counters[p])
            .min()
            .unwrap_or(0)
    }

    pub(crate) fn increment(&mut self, hash: u64) {
        for p in self.positions(hash) {
            self.counters[p] = self.counters[p].saturating_add(1);
        }
    }

    /// Halves every counter: old popularity fades.
    pub(crate) fn halve(&mut self) {
        self.counters.iter_mut().for_each(|c| *c >>= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_halves() {
        let mut sketch = FrequencySketch::new(64);
        let (hot, cold, absent) = (
            0x1234_5678_9abc_def0,
            0x0fed_cba9_8765_4321,
            0x5555_aaaa_5555_aaaa,
        );
        for _ in 0..5 {
            sketch.increment(hot);
        }
        sketch.increment(cold);
        assert_eq!(sketch.estimate(hot), 5);
        assert_eq!(sketch.estimate(cold), 1);
        assert_eq!(sketch.estimate(absent), 0);
        sketch.halve();
        assert_eq!(sketch.estimate(hot), 2);
        assert_eq!(sketch.estimate(cold), 0);
    }
}
