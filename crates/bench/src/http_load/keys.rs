//! Which key each request asks for: a popularity rank drawn from the run's distribution,
//! mapped to a key id by a seeded permutation, so the most popular keys are spread over the
//! id range (and over the store's pages) rather than being `1, 2, 3, …`.

use std::sync::Arc;

use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Zipf};

use super::spec::KeyDistribution;

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
    /// `None`: uniform over the ranks.
    zipf: Option<Zipf<f64>>,
    keys: u64,
    scatter: Arc<Scatter>,
}

impl KeyPicker {
    /// Keys `1..=keys` (at least 1) drawn from `distribution`, scattered by `scatter`.
    pub(super) fn new(distribution: KeyDistribution, keys: u64, scatter: Arc<Scatter>) -> Self {
        let zipf = match distribution {
            KeyDistribution::Zipf(alpha) => {
                Some(Zipf::new(keys as f64, alpha).expect("keys ≥ 1 and alpha > 0"))
            }
            KeyDistribution::Uniform => None,
        };
        KeyPicker {
            zipf,
            keys,
            scatter,
        }
    }

    /// The next key (one draw from `rng`).
    pub(super) fn pick(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        let rank = match &self.zipf {
            Some(zipf) => zipf.sample(rng) as u64 - 1,
            None => rng.random_range(0..self.keys),
        };
        self.scatter.key(rank)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn scatter_is_a_permutation_of_the_keys() {
        for keys in [1u64, 2, 10, 9564, 10_000] {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(keys);
            let scatter = Scatter::new(keys, &mut rng);
            let mut seen: Vec<u64> = (0..keys).map(|rank| scatter.key(rank)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (1..=keys).collect::<Vec<_>>(), "keys = {keys}");
        }
    }

    #[test]
    fn picked_keys_stay_in_the_key_space() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let scatter = Arc::new(Scatter::new(50, &mut rng));
        for distribution in [KeyDistribution::Zipf(0.99), KeyDistribution::Uniform] {
            let picker = KeyPicker::new(distribution, 50, Arc::clone(&scatter));
            for _ in 0..1000 {
                assert!((1..=50).contains(&picker.pick(&mut rng)), "{distribution}");
            }
        }
    }
}
