//! Which key each request asks for: a popularity rank drawn from the run's distribution,
//! mapped to a key id by a seeded permutation, so the most popular keys are spread over the
//! id range (and over the store's pages) rather than being `1, 2, 3, …`.

use std::sync::Arc;

use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Zipf};

use super::spec::{BURST_HOT_KEYS, BURST_HOT_SHARE, BURST_SHARE, KeyDistribution, SHIFT_PHASES};

/// Popularity rank → key in `1..=keys`, a bijection that scatters ranks over the ids.
pub(super) struct Scatter {
    keys: u64,
    multiplier: u64,
    offset: u64,
}

impl Scatter {
    pub(super) fn new(keys: u64, rng: &mut Xoshiro256PlusPlus) -> Scatter {
        // Any multiplier coprime with `keys` makes `rank * m + offset (mod keys)` a
        // permutation.
        let gcd = |mut a: u64, mut b: u64| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let mut multiplier = rng.random_range(1..=keys.max(2)) | 1;
        while gcd(multiplier, keys) != 1 {
            multiplier += 1;
        }
        Scatter {
            keys,
            multiplier,
            offset: rng.random_range(0..keys),
        }
    }

    pub(super) fn key(&self, rank: u64) -> u64 {
        ((rank as u128 * self.multiplier as u128 + self.offset as u128) % self.keys as u128) as u64
            + 1
    }
}

/// One worker's key chooser: the distribution over ranks, and the run's shared scatter.
pub(super) struct KeyPicker {
    distribution: KeyDistribution,
    /// The Zipf distribution over ranks (`None` for uniform).
    zipf: Option<Zipf<f64>>,
    keys: u64,
    scatter: Arc<Scatter>,
}

impl KeyPicker {
    /// Keys `1..=keys` (at least 1) drawn from `distribution`, scattered by `scatter`.
    pub(super) fn new(distribution: KeyDistribution, keys: u64, scatter: Arc<Scatter>) -> Self {
        let alpha = match distribution {
            KeyDistribution::Zipf(alpha) => Some(alpha),
            KeyDistribution::Uniform => None,
            KeyDistribution::Burst => Some(0.8),
            KeyDistribution::Shifting => Some(0.99),
        };
        KeyPicker {
            distribution,
            zipf: alpha.map(|alpha| Zipf::new(keys as f64, alpha).expect("keys ≥ 1 and alpha > 0")),
            keys,
            scatter,
        }
    }

    /// The next key (draws from `rng`), `progress` (0..1) into the worker's share: the
    /// burst and shifting workloads change with it.
    pub(super) fn pick(&self, rng: &mut Xoshiro256PlusPlus, progress: f64) -> u64 {
        let mut rank = match &self.zipf {
            Some(zipf) => zipf.sample(rng) as u64 - 1,
            None => rng.random_range(0..self.keys),
        };
        match self.distribution {
            KeyDistribution::Burst => {
                let hot = BURST_HOT_KEYS.min(self.keys);
                if progress < BURST_SHARE && rng.random::<f64>() < BURST_HOT_SHARE {
                    // The hot keys are the last ranks: cold in the rest of the run.
                    rank = self.keys - 1 - rng.random_range(0..hot);
                }
            }
            KeyDistribution::Shifting => {
                let phase = ((progress * SHIFT_PHASES as f64) as u64).min(SHIFT_PHASES - 1);
                rank = (rank + phase * (self.keys / SHIFT_PHASES)) % self.keys;
            }
            KeyDistribution::Zipf(_) | KeyDistribution::Uniform => {}
        }
        self.scatter.key(rank)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn picker(distribution: KeyDistribution) -> (KeyPicker, Xoshiro256PlusPlus) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let scatter = Arc::new(Scatter::new(1000, &mut rng));
        (KeyPicker::new(distribution, 1000, scatter), rng)
    }

    /// The share of `draws` picks at `progress` that fall on the `top` most picked keys of
    /// `reference` picks at `reference_progress`.
    fn overlap(distribution: KeyDistribution, reference_progress: f64, progress: f64) -> f64 {
        let (keys, mut rng) = picker(distribution);
        let mut counts = std::collections::HashMap::<u64, u64>::new();
        for _ in 0..5000 {
            *counts
                .entry(keys.pick(&mut rng, reference_progress))
                .or_default() += 1;
        }
        let mut ranked: Vec<_> = counts.into_iter().collect();
        ranked.sort_by_key(|(key, count)| (std::cmp::Reverse(*count), *key));
        let top: std::collections::HashSet<u64> = ranked.iter().take(16).map(|(k, _)| *k).collect();
        let hits = (0..5000)
            .filter(|_| top.contains(&keys.pick(&mut rng, progress)))
            .count();
        hits as f64 / 5000.0
    }

    #[test]
    fn a_burst_is_hot_at_the_start_and_gone_after() {
        // The 16 keys of the burst take most requests at its start, few afterwards.
        assert!(overlap(KeyDistribution::Burst, 0.0, 0.1) > 0.7);
        assert!(overlap(KeyDistribution::Burst, 0.0, 0.9) < 0.05);
    }

    #[test]
    fn shifting_popularity_moves_the_hot_keys_between_phases() {
        // The same phase keeps its hot keys; the next phase has others.
        assert!(overlap(KeyDistribution::Shifting, 0.0, 0.1) > 0.2);
        assert!(overlap(KeyDistribution::Shifting, 0.0, 0.6) < 0.05);
        // Zipf does not move.
        assert!(overlap(KeyDistribution::Zipf(0.99), 0.0, 0.9) > 0.2);
    }
}
