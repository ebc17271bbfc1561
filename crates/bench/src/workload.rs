//! Seeded synthetic workloads.
//!
//! | name | what it models |
//! |---|---|
//! | `zipf:ALPHA` | popularity ∝ 1 / rank^ALPHA over the objects (web, key-value traffic) |
//! | `uniform` | every object equally likely (the worst case for any cache) |
//! | `scan-mix` | 80% Zipf 1.0 traffic, 20% a sequential scan over as many other objects (a batch job sweeping the table: LRU's weak spot) |
//! | `shifting` | Zipf 1.0 whose hot set moves to other objects ten times during the run (popularity drift: policies must forget) |
//!
//! The same name, object count, request count and seed always give the same requests, on
//! every machine. Object ids are scrambled so popularity rank and id are unrelated.

use std::fmt;
use std::str::FromStr;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::trace::{Request, Trace};

/// A synthetic workload by name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    /// Zipf with exponent `alpha` (> 0).
    Zipf(f64),
    /// Uniformly random objects.
    Uniform,
    /// Zipf 1.0 with 20% of the requests a sequential scan over other objects.
    ScanMix,
    /// Zipf 1.0 whose ranking is re-drawn ten times during the run.
    Shifting,
}

/// Why a text does not name a workload, or a workload cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// Not one of the names.
    #[error(
        "unknown workload `{0}`: use zipf:ALPHA (e.g. zipf:0.99), uniform, scan-mix or shifting"
    )]
    Unknown(String),
    /// A Zipf exponent that is not a positive number.
    #[error("bad Zipf exponent `{0}`: it must be a number greater than 0, e.g. zipf:0.99")]
    BadAlpha(String),
    /// Zero objects or zero requests.
    #[error("a workload needs at least one object and one request")]
    Empty,
}

impl FromStr for Workload {
    type Err = WorkloadError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        match text.split_once(':') {
            Some(("zipf", alpha)) => alpha
                .parse::<f64>()
                .ok()
                .filter(|a| a.is_finite() && *a > 0.0)
                .map(Workload::Zipf)
                .ok_or_else(|| WorkloadError::BadAlpha(alpha.to_string())),
            None if text == "zipf" => Ok(Workload::Zipf(1.0)),
            None if text == "uniform" => Ok(Workload::Uniform),
            None if text == "scan-mix" => Ok(Workload::ScanMix),
            None if text == "shifting" => Ok(Workload::Shifting),
            _ => Err(WorkloadError::Unknown(text)),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Zipf(alpha) => write!(f, "zipf:{alpha}"),
            Workload::Uniform => f.write_str("uniform"),
            Workload::ScanMix => f.write_str("scan-mix"),
            Workload::Shifting => f.write_str("shifting"),
        }
    }
}

/// A bijective scramble of object ids, so rank 0 is not object 0.
fn scramble(rank: u64, salt: u64) -> u64 {
    let mut z = rank.wrapping_add(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 31;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 29)
}

impl Workload {
    /// Generates `requests` unit-size requests over `objects` objects from `seed`.
    pub fn generate(self, objects: u64, requests: u64, seed: u64) -> Result<Trace, WorkloadError> {
        if objects == 0 || requests == 0 {
            return Err(WorkloadError::Empty);
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let salt = rng.random::<u64>();
        let zipf = |alpha: f64| {
            Zipf::new(objects as f64, alpha).expect("objects ≥ 1 and alpha > 0 were checked")
        };
        let mut out = Vec::with_capacity(requests as usize);
        let unit = |key| Request { key, size: 1 };
        match self {
            Workload::Zipf(alpha) => {
                let dist = zipf(alpha);
                for _ in 0..requests {
                    let rank = dist.sample(&mut rng) as u64 - 1;
                    out.push(unit(scramble(rank, salt)));
                }
            }
            Workload::Uniform => {
                for _ in 0..requests {
                    out.push(unit(scramble(rng.random_range(0..objects), salt)));
                }
            }
            Workload::ScanMix => {
                let dist = zipf(1.0);
                let mut cursor = 0u64;
                for _ in 0..requests {
                    if rng.random::<f64>() < 0.2 {
                        // The scan covers ranks objects..2*objects: objects the Zipf part never asks for.
                        out.push(unit(scramble(objects + cursor, salt)));
                        cursor = (cursor + 1) % objects;
                    } else {
                        out.push(unit(scramble(dist.sample(&mut rng) as u64 - 1, salt)));
                    }
                }
            }
            Workload::Shifting => {
                let dist = zipf(1.0);
                let phase_length = requests.div_ceil(10).max(1);
                let mut offset = 0u64;
                for i in 0..requests {
                    if i % phase_length == 0 {
                        offset = rng.random_range(0..objects);
                    }
                    let rank = dist.sample(&mut rng) as u64 - 1;
                    out.push(unit(scramble((rank + offset) % objects, salt)));
                }
            }
        }
        Ok(Trace { requests: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for name in ["zipf:0.99", "uniform", "scan-mix", "shifting"] {
            assert_eq!(name.parse::<Workload>().unwrap().to_string(), name);
        }
        assert_eq!("zipf".parse::<Workload>(), Ok(Workload::Zipf(1.0)));
        assert_eq!(
            "zipf:-1".parse::<Workload>(),
            Err(WorkloadError::BadAlpha("-1".into()))
        );
        assert!(matches!(
            "pareto".parse::<Workload>(),
            Err(WorkloadError::Unknown(_))
        ));
    }

    #[test]
    fn same_seed_same_requests_other_seed_other_requests() {
        let a = Workload::Zipf(1.0).generate(1000, 5000, 1).unwrap();
        let b = Workload::Zipf(1.0).generate(1000, 5000, 1).unwrap();
        let c = Workload::Zipf(1.0).generate(1000, 5000, 2).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn zipf_is_skewed_and_uniform_is_not() {
        let top_share = |trace: &Trace| {
            let mut counts = std::collections::HashMap::new();
            for r in &trace.requests {
                *counts.entry(r.key).or_insert(0u64) += 1;
            }
            let mut v: Vec<u64> = counts.into_values().collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v.iter().take(10).sum::<u64>() as f64 / trace.requests.len() as f64
        };
        let zipf = Workload::Zipf(1.0).generate(10_000, 100_000, 3).unwrap();
        let uniform = Workload::Uniform.generate(10_000, 100_000, 3).unwrap();
        assert!(top_share(&zipf) > 0.2, "{}", top_share(&zipf));
        assert!(top_share(&uniform) < 0.01, "{}", top_share(&uniform));
    }

    #[test]
    fn scan_mix_touches_twice_the_objects() {
        let trace = Workload::ScanMix.generate(1000, 20_000, 5).unwrap();
        assert!(trace.distinct_objects() > 1500);
        assert_eq!(
            Workload::Uniform.generate(0, 10, 1),
            Err(WorkloadError::Empty)
        );
    }
}
