//! The offline side of the lab: the requests a run sends, replayed without the network,
//! for the bound no policy can beat (Belady's MIN at the tier's memory) and for the
//! hit-ratio-vs-memory curves of the engine's policies.

use tiercache_bench::http_load::{LoadSpec, planned};
use tiercache_bench::{Capacity, SimTarget, Trace};
use tiercache_store::dataset::Row;

use crate::results::{Curve, CurvePoint};

/// The sizes of the table's objects as the shared tier weighs them (key + value bytes),
/// indexed by key (`sizes[key - 1]`).
#[derive(Debug, Clone)]
pub struct ObjectSizes(pub Vec<u32>);

impl ObjectSizes {
    /// The sizes of `rows`, whose keys are `1..=rows.len()` in order.
    pub fn of_rows(rows: &[Row]) -> ObjectSizes {
        ObjectSizes(
            rows.iter()
                .map(|row| (row.key.len() + row.value.len()) as u32)
                .collect(),
        )
    }

    /// The whole table's bytes.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&size| u64::from(size)).sum()
    }

    fn of(&self, key: u64) -> u32 {
        self.0
            .get(key.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(1)
            .max(1)
    }
}

/// The requests of a run of `spec`, each weighing its object's size: reads and writes
/// alike, since a write replaces the object in every tier.
pub fn trace_of(spec: &LoadSpec, sizes: &ObjectSizes) -> Trace {
    Trace {
        requests: planned(spec)
            .into_iter()
            .map(|request| tiercache_bench::Request {
                key: request.key,
                size: sizes.of(request.key),
            })
            .collect(),
    }
}

/// Belady's MIN hit ratio over `trace` with room for `bytes`.
pub fn belady_hit_ratio(trace: &Trace, bytes: u64) -> f64 {
    let (hits, misses) =
        tiercache_bench::belady::simulate(&trace.requests, bytes.max(1), true, &|_| {});
    hits as f64 / (hits + misses).max(1) as f64
}

/// Every engine policy and Belady over `trace`, at each of `fractions` of the table's
/// bytes.
pub fn curve(
    workload: String,
    rows: u64,
    trace: &Trace,
    sizes: &ObjectSizes,
    fractions: &[f64],
) -> Curve {
    let table_bytes = sizes.total();
    let mut points = Vec::new();
    for &fraction in fractions {
        let bytes = ((table_bytes as f64 * fraction) as u64).max(1);
        // The engine's policies cannot fail to build with a byte budget; a policy that did
        // would simply be missing from the curve.
        let Ok(report) = tiercache_bench::sim::simulate(
            trace,
            &SimTarget::all(),
            Capacity::Bytes(bytes),
            2,
            &|_, _| {},
        ) else {
            continue;
        };
        for result in report.results {
            let requests = (result.hits + result.misses).max(1);
            points.push(CurvePoint {
                policy: result.policy,
                bytes,
                fraction,
                hit_ratio: result.hits as f64 / requests as f64,
            });
        }
    }
    points.sort_by(|a, b| a.policy.cmp(&b.policy).then(a.bytes.cmp(&b.bytes)));
    Curve {
        workload,
        rows,
        table_bytes,
        requests: trace.requests.len() as u64,
        points,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tiercache_bench::http_load::KeyDistribution;

    use super::*;

    fn spec(distribution: KeyDistribution) -> LoadSpec {
        LoadSpec {
            targets: vec!["127.0.0.1:1".parse().unwrap()],
            distribution,
            keys: 500,
            requests: 3000,
            concurrency: 4,
            write_ratio: 0.0,
            seed: 5,
            max_duration: Duration::from_secs(1),
            check_staleness: false,
            token: None,
            tls: None,
        }
    }

    #[test]
    fn belady_grows_with_memory_and_bounds_every_policy() {
        let sizes = ObjectSizes(vec![100; 500]);
        let trace = trace_of(&spec(KeyDistribution::Zipf(0.99)), &sizes);
        assert_eq!(trace.requests.len(), 3000);
        let small = belady_hit_ratio(&trace, 5_000);
        let large = belady_hit_ratio(&trace, 20_000);
        assert!(
            0.0 < small && small < large && large < 1.0,
            "{small} {large}"
        );
        let curve = curve("zipf".into(), 500, &trace, &sizes, &[0.1, 0.4]);
        for fraction in [0.1, 0.4] {
            let at = |policy: &str| {
                curve
                    .points
                    .iter()
                    .find(|p| p.policy == policy && p.fraction == fraction)
                    .map(|p| p.hit_ratio)
                    .unwrap()
            };
            for point in curve.points.iter().filter(|p| p.fraction == fraction) {
                assert!(point.hit_ratio <= at("belady") + 1e-9, "{point:?}");
            }
            assert!(at("allkeys-lru") > 0.0);
        }
    }
}
