//! A lock-free latency histogram: cheap enough to record every request on the hot path,
//! precise enough (within 12.5 %) for percentiles, with bucket edges on powers of two so the
//! Prometheus exposition is exact. Every latency the node reports is summarized from one
//! the same way ([`LatencySummary::of`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Below this many nanoseconds every value has its own bucket.
const LINEAR: u64 = 16;
/// Sub-buckets per power of two above `LINEAR` (2^3 = 8: 12.5 % resolution).
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered above `LINEAR`: 2^4 ns .. 2^40 ns (about 18 minutes).
const OCTAVES: usize = 36;
const BUCKETS: usize = LINEAR as usize + OCTAVES * SUB;

/// Recorded durations, in nanoseconds, in log-linear buckets.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
    /// The longest duration recorded, exactly (the buckets only bound it).
    max_nanos: AtomicU64,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
        }
    }
}

fn bucket_of(nanos: u64) -> usize {
    if nanos < LINEAR {
        return nanos as usize;
    }
    let octave = 63 - nanos.leading_zeros(); // >= 4
    let sub = (nanos >> (octave - SUB_BITS)) as usize & (SUB - 1);
    let index = LINEAR as usize + (octave as usize - 4) * SUB + sub;
    index.min(BUCKETS - 1)
}

/// The largest value (exclusive upper edge, in ns) that falls in `index`.
fn upper_edge(index: usize) -> u64 {
    if index < LINEAR as usize {
        return index as u64 + 1;
    }
    let octave = (index - LINEAR as usize) / SUB + 4;
    let sub = ((index - LINEAR as usize) % SUB) as u64;
    (1u64 << octave) + ((sub + 1) << (octave as u32 - SUB_BITS))
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        // Read first: a new maximum is rare, and a plain load keeps the hot path free of
        // a second read-modify-write.
        if nanos > self.max_nanos.load(Ordering::Relaxed) {
            self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// A consistent-enough copy of the counts (each bucket read once).
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            counts: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
            max_nanos: self.max_nanos.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a [`LatencyHistogram`]'s counts.
#[derive(Debug, Clone)]
pub struct LatencySnapshot {
    counts: Vec<u64>,
    sum_nanos: u64,
    max_nanos: u64,
}

impl LatencySnapshot {
    /// How many durations it holds.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The longest duration, exactly; zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_nanos)
    }

    /// The sum of every duration, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }

    /// The duration under which a fraction `q` (0..=1) of the recorded ones fall, as the
    /// upper edge of its bucket (at most 12.5 % above the true value); zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(upper_edge(index));
            }
        }
        Duration::from_nanos(upper_edge(BUCKETS - 1))
    }

    /// How many durations fell below each edge 2^k ns, for k in `from..=to`, for a
    /// Prometheus histogram's `le` buckets. Exact, since powers of two are bucket edges.
    pub fn cumulative_at_powers_of_two(&self, from: u32, to: u32) -> Vec<(Duration, u64)> {
        (from..=to)
            .map(|k| {
                let edge = 1u64 << k;
                let below: u64 = self
                    .counts
                    .iter()
                    .enumerate()
                    .take_while(|(index, _)| upper_edge(*index) <= edge)
                    .map(|(_, count)| count)
                    .sum();
                (Duration::from_nanos(edge), below)
            })
            .collect()
    }
}

/// A distribution of durations, in microseconds: the one shape in which tiercache reports
/// latencies (every summary in `/v1/stats`, and the load generator's report).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    /// Durations measured.
    pub count: u64,
    /// The mean.
    pub mean_us: f64,
    /// Median (here: bucket upper edge, within 12.5 %).
    pub p50_us: f64,
    /// 90th percentile (bucket upper edge).
    pub p90_us: f64,
    /// 99th percentile (bucket upper edge).
    pub p99_us: f64,
    /// 99.9th percentile (bucket upper edge).
    pub p999_us: f64,
    /// The longest, exactly.
    pub max_us: f64,
}

impl LatencySummary {
    /// The summary of `snapshot`.
    pub fn of(snapshot: &LatencySnapshot) -> LatencySummary {
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let count = snapshot.count();
        LatencySummary {
            count,
            mean_us: if count == 0 {
                0.0
            } else {
                snapshot.sum_seconds() * 1e6 / count as f64
            },
            p50_us: micros(snapshot.quantile(0.5)),
            p90_us: micros(snapshot.quantile(0.9)),
            p99_us: micros(snapshot.quantile(0.99)),
            p999_us: micros(snapshot.quantile(0.999)),
            max_us: micros(snapshot.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut previous_edge = 0;
        for index in 0..BUCKETS {
            let edge = upper_edge(index);
            assert!(edge > previous_edge, "bucket {index}");
            // The bucket's last value maps back to the bucket, the edge to the next one.
            assert_eq!(bucket_of(edge - 1), index, "bucket {index}");
            if index + 1 < BUCKETS {
                assert_eq!(bucket_of(edge), index + 1, "bucket {index}");
            }
            previous_edge = edge;
        }
    }

    #[test]
    fn quantiles_are_within_one_bucket() {
        let histogram = LatencyHistogram::default();
        for micros in 1..=1000u64 {
            histogram.record(Duration::from_micros(micros));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count(), 1000);
        for (q, exact) in [(0.5, 500.0), (0.99, 990.0), (0.999, 999.0)] {
            let got = snapshot.quantile(q).as_secs_f64() * 1e6;
            assert!(
                got >= exact && got <= exact * 1.125 + 0.001,
                "q{q}: {got} µs vs {exact} µs"
            );
        }
        assert!((snapshot.sum_seconds() - 0.5005).abs() < 1e-9);
    }

    #[test]
    fn a_summary_has_the_quantiles_and_the_exact_maximum() {
        let histogram = LatencyHistogram::default();
        assert_eq!(
            LatencySummary::of(&histogram.snapshot()),
            LatencySummary::default()
        );
        for nanos in [3_000u64, 1_000, 1_234_567] {
            histogram.record(Duration::from_nanos(nanos));
        }
        let summary = LatencySummary::of(&histogram.snapshot());
        assert_eq!(summary.count, 3);
        // The maximum is the value recorded, not its bucket's upper edge.
        assert!((summary.max_us - 1234.567).abs() < 1e-9, "{summary:?}");
        assert!(summary.p50_us >= 3.0 && summary.p50_us <= 3.0 * 1.125);
        assert!(summary.p999_us >= summary.max_us);
        // The mean is exact (from the sum), the 90th percentile a bucket edge.
        assert!((summary.mean_us - (3.0 + 1.0 + 1234.567) / 3.0).abs() < 1e-9);
        assert!(summary.p90_us >= 1234.567 && summary.p90_us <= 1234.567 * 1.125);
    }

    #[test]
    fn power_of_two_edges_count_exactly() {
        let histogram = LatencyHistogram::default();
        for nanos in [1u64, 1023, 1024, 1025, 4096, 5000] {
            histogram.record(Duration::from_nanos(nanos));
        }
        let cumulative = histogram.snapshot().cumulative_at_powers_of_two(10, 13);
        let counts: Vec<u64> = cumulative.iter().map(|(_, c)| *c).collect();
        // Below 1024 ns: 1 and 1023 (a value equal to an edge counts above it).
        assert_eq!(counts, vec![2, 4, 4, 6]);
    }
}
