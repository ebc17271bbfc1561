//! What a run measured ([`LoadReport`], serialized as `tiercache bench --json` prints it),
//! and the coherence promise a run can prove broken ([`CoherenceViolation`]).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use tiercache_node::LatencySummary;

use super::node_stats::{CoherenceSummary, WriteBehindSummary};
use super::worker::TimedRequest;
use crate::staleness::StalenessReport;

/// The summary of a histogram of microseconds (all 0 when it is empty), in the one shape
/// tiercache reports latencies in: the node crate's [`LatencySummary`] (the load report
/// and `/v1/stats` read alike).
pub fn summary_of(histogram: &Histogram<u64>) -> LatencySummary {
    if histogram.is_empty() {
        return LatencySummary::default();
    }
    let micros = |q: f64| histogram.value_at_quantile(q) as f64;
    LatencySummary {
        count: histogram.len(),
        mean_us: histogram.mean(),
        p50_us: micros(0.5),
        p90_us: micros(0.9),
        p99_us: micros(0.99),
        p999_us: micros(0.999),
        max_us: histogram.max() as f64,
    }
}

/// The latency distribution of a histogram of microseconds as `(quantile, µs)` points: every
/// percent, then the tail (99.5, 99.9, 99.99 %) and the maximum. Empty for an empty histogram.
pub fn cdf_of(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let mut quantiles: Vec<f64> = (0..100).map(|percent| f64::from(percent) / 100.0).collect();
    quantiles.extend([0.995, 0.999, 0.9999, 1.0]);
    quantiles
        .into_iter()
        .map(|q| (q, histogram.value_at_quantile(q) as f64))
        .collect()
}

/// Reads answered by each tier, and their shares of the successful reads.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct HitRatios {
    /// Reads answered by a near cache.
    pub near: u64,
    /// Reads answered by the shared tier.
    pub shared: u64,
    /// Reads answered by the store.
    pub store: u64,
    /// `near / found reads`.
    pub near_ratio: f64,
    /// `shared / found reads`.
    pub shared_ratio: f64,
    /// `store / found reads`.
    pub store_ratio: f64,
}

impl HitRatios {
    /// The counts, with their shares of the found reads.
    pub fn of(near: u64, shared: u64, store: u64) -> HitRatios {
        let found = (near + shared + store).max(1) as f64;
        HitRatios {
            near,
            shared,
            store,
            near_ratio: near as f64 / found,
            shared_ratio: shared as f64 / found,
            store_ratio: store as f64 / found,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// The workload, e.g. `zipf:0.99`.
    pub workload: String,
    /// Keys in the key space.
    pub keys: u64,
    /// The seed.
    pub seed: u64,
    /// Workers.
    pub concurrency: usize,
    /// Requests sent (equal to the requested count unless the run hit its time bound).
    pub requests: u64,
    /// Reads sent.
    pub reads: u64,
    /// Writes sent.
    pub writes: u64,
    /// Reads answered 404.
    pub not_found: u64,
    /// Answers with another error status, by status (0: no answer, connection failed).
    pub errors: BTreeMap<u16, u64>,
    /// Wall time, in seconds.
    pub elapsed_seconds: f64,
    /// Requests per second.
    pub throughput: f64,
    /// Latency of every request as the client saw it.
    pub latency: LatencySummary,
    /// Latency of the reads alone.
    pub read_latency: LatencySummary,
    /// Latency of the writes alone.
    pub write_latency: LatencySummary,
    /// Which tier answered the reads.
    pub hits: HitRatios,
    /// The latency distribution, `(quantile, µs)` (see [`cdf_of`]); not in the JSON
    /// report (the lab writes its own).
    #[serde(skip)]
    pub latency_cdf: Vec<(f64, f64)>,
    /// Each request's send time and latency, by send time (the first
    /// [`TIMELINE_LIMIT`](super::TIMELINE_LIMIT) of a run); not in the JSON report.
    #[serde(skip)]
    pub timeline: Vec<TimedRequest>,
    /// Whether the run stopped at `max_duration` before sending every request.
    pub truncated: bool,
    /// Stale reads found in the history (with `check_staleness`).
    pub staleness: Option<StalenessReport>,
    /// The nodes' coherence during the run (when they have a bus).
    pub coherence: Option<CoherenceSummary>,
    /// The nodes' write-behind during the run (when they write behind).
    pub write_behind: Option<WriteBehindSummary>,
}

impl LoadReport {
    /// Requests that did not succeed (404s of reads excluded).
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Whether the history shows what the nodes' delivery mode promises cannot happen
    /// (`Ok` when the run checked no history or the nodes have no bus).
    pub fn check_coherence(&self) -> Result<(), CoherenceViolation> {
        let (Some(staleness), Some(coherence)) = (&self.staleness, &self.coherence) else {
            return Ok(());
        };
        if staleness.stale_reads == 0 {
            return Ok(());
        }
        if coherence.delivery.iter().any(|mode| mode == "sync") {
            return Err(CoherenceViolation::StaleInSyncDelivery {
                stale_reads: staleness.stale_reads,
                worst_lag_us: staleness.worst_lag_us,
            });
        }
        if staleness.worst_lag_us as f64 > coherence.delay_max_us {
            return Err(CoherenceViolation::StaleBeyondNoticeDelay {
                worst_lag_us: staleness.worst_lag_us,
                delay_max_us: coherence.delay_max_us,
            });
        }
        Ok(())
    }
}

/// A coherence promise a run's history proves broken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoherenceViolation {
    /// Synchronous delivery promises no stale read once a write is acknowledged.
    #[error(
        "{stale_reads} stale read(s) from nodes in sync delivery (worst lag {worst_lag_us} µs)"
    )]
    StaleInSyncDelivery {
        /// Stale reads found.
        stale_reads: u64,
        /// The longest lag of one, in µs.
        worst_lag_us: u64,
    },
    /// In asynchronous delivery a read is stale only until the write's notice arrives: a
    /// longer lag means something other than notice transit served old data.
    #[error(
        "a stale read lagged {worst_lag_us} µs behind its write, longer than any notice took to arrive ({delay_max_us:.0} µs)"
    )]
    StaleBeyondNoticeDelay {
        /// The longest lag of a stale read, in µs.
        worst_lag_us: u64,
        /// The longest notice delay the nodes measured, in µs.
        delay_max_us: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(
        stale_reads: u64,
        worst_lag_us: u64,
        delivery: &str,
        delay_max_us: f64,
    ) -> LoadReport {
        LoadReport {
            staleness: Some(StalenessReport {
                stale_reads,
                worst_lag_us,
                ..StalenessReport::default()
            }),
            coherence: Some(CoherenceSummary {
                delivery: vec![delivery.to_owned(); 2],
                delay_max_us,
                ..CoherenceSummary::default()
            }),
            ..LoadReport::default()
        }
    }

    #[test]
    fn stale_reads_break_only_what_the_delivery_mode_promises() {
        assert_eq!(
            LoadReport::default().check_coherence(),
            Ok(()),
            "nothing checked"
        );
        assert_eq!(checked(0, 0, "sync", 0.0).check_coherence(), Ok(()));
        assert_eq!(checked(3, 50, "async", 80.0).check_coherence(), Ok(()));
        let sync = checked(3, 50, "sync", 80.0).check_coherence().unwrap_err();
        assert_eq!(
            sync.to_string(),
            "3 stale read(s) from nodes in sync delivery (worst lag 50 µs)"
        );
        let late = checked(3, 90, "async", 80.4).check_coherence().unwrap_err();
        assert_eq!(
            late.to_string(),
            "a stale read lagged 90 µs behind its write, longer than any notice took to arrive (80 µs)"
        );
    }

    #[test]
    fn percentiles_of_a_histogram() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        assert_eq!(summary_of(&histogram), LatencySummary::default());
        for micros in 1..=1000 {
            histogram.record(micros).unwrap();
        }
        let p = summary_of(&histogram);
        assert_eq!((p.p50_us, p.p90_us, p.p99_us), (500.0, 900.0, 990.0));
        assert_eq!((p.max_us, p.mean_us), (1000.0, 500.5));
    }

    #[test]
    fn hit_ratios_are_shares_of_the_found_reads() {
        let hits = HitRatios::of(6, 3, 1);
        assert_eq!(
            (hits.near_ratio, hits.shared_ratio, hits.store_ratio),
            (0.6, 0.3, 0.1)
        );
        assert_eq!(HitRatios::of(0, 0, 0).near_ratio, 0.0);
    }
}
