//! The offline simulator: replay a trace through policies, count hits and misses.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tiercache_cache::{
    BuildError, CacheBuilder, ManualClock, ParsePolicyError, PolicyKind, PolicySpec,
};
use tiercache_core::ByteSize;

use crate::belady;
use crate::trace::{Request, Trace};

/// The simulated time between two requests. Redis's LFU decays per idle minute, so the
/// simulator needs some notion of time: one request per millisecond.
pub const REQUEST_INTERVAL: Duration = Duration::from_millis(1);

/// The hash seed of simulated caches, fixed so a simulation gives the same result every run.
pub const SIM_HASH_SEED: u64 = 0x5EED_CAFE;

/// How big the simulated cache is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Capacity {
    /// At most this many objects, whatever their sizes.
    Objects(u64),
    /// This percentage of the trace's distinct objects (rounded up).
    Percent(f64),
    /// At most this many bytes: objects weigh their sizes.
    Bytes(u64),
}

/// Why a text is not a capacity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// Zero would make every request a miss and evict nothing: not a cache.
    #[error("capacity must be greater than zero")]
    Zero,
    /// Not a count, a percentage or a size.
    #[error(
        "bad capacity `{0}`: use an object count (1000), a percentage of distinct objects (10%) or a size in bytes (64MiB)"
    )]
    Bad(String),
    /// A percentage outside (0, 100].
    #[error("capacity percentage `{0}` must be greater than 0 and at most 100")]
    BadPercent(String),
}

impl FromStr for Capacity {
    type Err = CapacityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let capacity = if let Some(percent) = text.strip_suffix('%') {
            let p: f64 = percent
                .trim()
                .parse()
                .map_err(|_| CapacityError::Bad(text.to_string()))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(CapacityError::BadPercent(text.to_string()));
            }
            Capacity::Percent(p)
        } else if text.chars().any(|c| c.is_ascii_alphabetic()) {
            Capacity::Bytes(
                text.parse::<ByteSize>()
                    .map_err(|_| CapacityError::Bad(text.to_string()))?
                    .bytes(),
            )
        } else {
            Capacity::Objects(
                text.parse()
                    .map_err(|_| CapacityError::Bad(text.to_string()))?,
            )
        };
        if matches!(capacity, Capacity::Objects(0) | Capacity::Bytes(0)) {
            return Err(CapacityError::Zero);
        }
        Ok(capacity)
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capacity::Objects(n) => write!(f, "{n}"),
            Capacity::Percent(p) => write!(f, "{p}%"),
            Capacity::Bytes(b) => write!(f, "{}", ByteSize(*b)),
        }
    }
}

/// What to simulate: an engine policy, or Belady's offline optimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SimTarget {
    /// A policy of the engine.
    Policy(PolicySpec),
    /// Belady's MIN.
    Belady,
}

impl SimTarget {
    /// Every policy with default parameters, then Belady.
    pub fn all() -> Vec<SimTarget> {
        PolicySpec::all()
            .into_iter()
            .map(SimTarget::Policy)
            .chain([SimTarget::Belady])
            .collect()
    }

    /// Parses `a,b,c` where each item is a policy spec or `belady`.
    pub fn parse_list(text: &str) -> Result<Vec<SimTarget>, ParsePolicyError> {
        PolicySpec::split_list(text)?
            .into_iter()
            .map(|item| {
                if item.eq_ignore_ascii_case("belady") {
                    Ok(SimTarget::Belady)
                } else {
                    item.parse().map(SimTarget::Policy)
                }
            })
            .collect()
    }
}

impl fmt::Display for SimTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimTarget::Policy(spec) => spec.fmt(f),
            SimTarget::Belady => f.write_str("belady"),
        }
    }
}

/// One policy's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    /// The policy's canonical name (`belady` for the optimum).
    pub policy: String,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests not in the cache, cold misses included.
    pub misses: u64,
    /// misses / requests.
    pub miss_ratio: f64,
}

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Requests replayed.
    pub requests: u64,
    /// Distinct objects in the trace.
    pub objects: u64,
    /// The cache size, in `capacity_unit`.
    pub capacity: u64,
    /// `objects` or `bytes`.
    pub capacity_unit: &'static str,
    /// One result per target, in the order asked.
    pub results: Vec<PolicyResult>,
}

/// Why a simulation cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The engine refused the configuration.
    #[error("cannot build a cache for {policy}: {source}")]
    Build {
        /// The policy.
        policy: String,
        /// Why.
        source: BuildError,
    },
}

/// Replays `trace` through every target with `capacity`, running up to `threads` targets at
/// once. `progress(target, done)` reports how many requests target number `target` has
/// replayed (at least every 65 536 requests and at the end).
pub fn simulate(
    trace: &Trace,
    targets: &[SimTarget],
    capacity: Capacity,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SimReport, SimError> {
    let objects = trace.distinct_objects() as u64;
    let (capacity, by_size) = match capacity {
        Capacity::Objects(n) => (n, false),
        Capacity::Percent(p) => (((objects as f64 * p / 100.0).ceil() as u64).max(1), false),
        Capacity::Bytes(b) => (b, true),
    };
    let next_target = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<PolicyResult, SimError>>> =
        (0..targets.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.clamp(1, targets.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next_target.fetch_add(1, Ordering::Relaxed);
                        let Some(target) = targets.get(i) else {
                            break done;
                        };
                        let report = |requests_done| progress(i, requests_done);
                        done.push((
                            i,
                            run_target(*target, &trace.requests, capacity, by_size, &report),
                        ));
                    }
                })
            })
            .collect();
        for worker in workers {
            for (i, outcome) in worker.join().expect("a simulation worker panicked") {
                results[i] = Some(outcome);
            }
        }
    });
    let results = results
        .into_iter()
        .map(|r| r.expect("every target ran"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SimReport {
        requests: trace.requests.len() as u64,
        objects,
        capacity,
        capacity_unit: if by_size { "bytes" } else { "objects" },
        results,
    })
}

fn run_target(
    target: SimTarget,
    requests: &[Request],
    capacity: u64,
    by_size: bool,
    progress: &dyn Fn(usize),
) -> Result<PolicyResult, SimError> {
    let (hits, misses) = match target {
        SimTarget::Belady => belady::simulate(requests, capacity, by_size, progress),
        SimTarget::Policy(spec) => run_policy(spec, requests, capacity, by_size, progress)?,
    };
    Ok(PolicyResult {
        policy: target.to_string(),
        hits,
        misses,
        miss_ratio: if requests.is_empty() {
            0.0
        } else {
            misses as f64 / requests.len() as f64
        },
    })
}

fn run_policy(
    spec: PolicySpec,
    requests: &[Request],
    capacity: u64,
    by_size: bool,
    progress: &dyn Fn(usize),
) -> Result<(u64, u64), SimError> {
    let clock = ManualClock::new();
    let builder = CacheBuilder::<u64, u32>::new(spec)
        .shards(1)
        .clock(Arc::new(clock.clone()))
        .hasher(foldhash::fast::FixedState::with_seed(SIM_HASH_SEED));
    let builder = if by_size {
        builder
            .max_bytes(capacity, |_, size| u64::from(*size))
            .entry_overhead(0)
    } else {
        builder.max_entries(capacity)
    };
    let cache = builder.build().map_err(|source| SimError::Build {
        policy: spec.to_string(),
        source,
    })?;
    let (mut hits, mut misses) = (0, 0);
    for (i, request) in requests.iter().enumerate() {
        if i % 65_536 == 0 {
            progress(i);
        }
        clock.advance(REQUEST_INTERVAL);
        if cache.get(&request.key).is_some() {
            hits += 1;
        } else {
            misses += 1;
            // A refusal (noeviction or volatile-* when full, an object larger than the
            // cache) leaves the object uncached: its next request misses again.
            let _ = cache.insert(request.key, request.size);
        }
    }
    progress(requests.len());
    Ok((hits, misses))
}

/// Whether any target is a `volatile-*` policy (they only evict keys with a TTL; a trace
/// sets none, so they behave like `noeviction` — reports say so).
pub fn has_volatile(targets: &[SimTarget]) -> bool {
    targets.iter().any(|t| matches!(t, SimTarget::Policy(spec) if spec.kind.is_volatile() || spec.kind == PolicyKind::NoEviction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workload;

    #[test]
    fn capacity_parses_counts_percentages_and_sizes() {
        assert_eq!("1000".parse(), Ok(Capacity::Objects(1000)));
        assert_eq!("10%".parse(), Ok(Capacity::Percent(10.0)));
        assert_eq!("64MiB".parse(), Ok(Capacity::Bytes(64 << 20)));
        assert_eq!("0".parse::<Capacity>(), Err(CapacityError::Zero));
        assert_eq!("0B".parse::<Capacity>(), Err(CapacityError::Zero));
        assert_eq!(
            "0%".parse::<Capacity>(),
            Err(CapacityError::BadPercent("0%".into()))
        );
        assert_eq!(
            "150%".parse::<Capacity>(),
            Err(CapacityError::BadPercent("150%".into()))
        );
        assert!(matches!(
            "ten".parse::<Capacity>(),
            Err(CapacityError::Bad(_))
        ));
    }

    #[test]
    fn targets_parse_with_belady() {
        let targets = SimTarget::parse_list("allkeys-lru:samples=5,belady,sieve").unwrap();
        assert_eq!(targets.len(), 3);
        assert_eq!(targets[1], SimTarget::Belady);
        assert!(SimTarget::parse_list("lru").is_err());
        assert_eq!(SimTarget::all().len(), 13);
    }

    #[test]
    fn belady_bounds_every_policy_and_cold_misses_count() {
        let trace = Workload::Zipf(0.9).generate(2_000, 30_000, 11).unwrap();
        let report = simulate(
            &trace,
            &SimTarget::all(),
            Capacity::Percent(10.0),
            2,
            &|_, _| {},
        )
        .unwrap();
        assert_eq!(report.capacity, report.objects.div_ceil(10));
        let belady = report.results.last().unwrap();
        assert_eq!(belady.policy, "belady");
        for result in &report.results {
            assert_eq!(result.hits + result.misses, 30_000, "{}", result.policy);
            assert!(
                result.misses >= report.objects,
                "{}: cold misses count",
                result.policy
            );
            assert!(
                result.misses >= belady.misses,
                "{} beat Belady",
                result.policy
            );
        }
        let ratio = |name: &str| {
            report
                .results
                .iter()
                .find(|r| r.policy == name)
                .unwrap()
                .miss_ratio
        };
        // Smarter policies beat FIFO on a skewed workload.
        assert!(ratio("w-tinylfu") < ratio("fifo"));
        assert!(ratio("s3fifo") < ratio("fifo"));
        assert!(ratio("allkeys-lru") < ratio("fifo"));
        // Without TTLs, volatile policies cannot evict: once full, nothing new gets in.
        assert_eq!(ratio("volatile-lru"), ratio("noeviction"));
    }

    #[test]
    fn byte_capacity_weighs_objects_by_size() {
        let trace = Trace {
            requests: (0..10)
                .map(|i| Request {
                    key: i % 2,
                    size: 60,
                })
                .collect(),
        };
        let targets = [
            SimTarget::Policy("allkeys-lru".parse().unwrap()),
            SimTarget::Belady,
        ];
        // 100 bytes hold one 60-byte object: the two keys keep evicting each other (Belady
        // admits every miss, like libCacheSim's, so it cannot do better here).
        let report = simulate(&trace, &targets, Capacity::Bytes(100), 1, &|_, _| {}).unwrap();
        assert_eq!(report.capacity_unit, "bytes");
        assert_eq!(
            (report.results[0].misses, report.results[1].misses),
            (10, 10)
        );
        // Counted in objects, sizes do not matter: two objects fit.
        let report = simulate(&trace, &targets, Capacity::Objects(2), 1, &|_, _| {}).unwrap();
        assert_eq!((report.results[0].misses, report.results[1].misses), (2, 2));
    }
}
