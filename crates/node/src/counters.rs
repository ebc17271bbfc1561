//! The read and write path's counters: per-tier hits and misses, fills, writes, and latency
//! histograms, read out as [`NodeStats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tiercache_cache::{CacheStats, RemovalCause};
use tiercache_tier::TierStats;

use crate::answer::{Answer, Source};
use crate::error::NodeError;
use crate::latency::{LatencyHistogram, LatencySnapshot, LatencySummary};
use crate::stats::{LatencyByKind, NearStats, NodeStats, SharedStats, StoreStats};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    near_hits: AtomicU64,
    near_misses: AtomicU64,
    fills_refused: AtomicU64,
    shared_hits: AtomicU64,
    shared_misses: AtomicU64,
    shared_errors: AtomicU64,
    store_hits: AtomicU64,
    store_not_found: AtomicU64,
    store_errors: AtomicU64,
    coalesced: AtomicU64,
    deep_reads: AtomicU64,
    failed_reads: AtomicU64,
    writes: AtomicU64,
    write_errors: AtomicU64,
    near_latency: LatencyHistogram,
    shared_latency: LatencyHistogram,
    store_latency: LatencyHistogram,
    write_latency: LatencyHistogram,
}

/// Adds one to a monotonic counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn ratio(hits: u64, misses: u64) -> f64 {
    match hits + misses {
        0 => 0.0,
        total => hits as f64 / total as f64,
    }
}

impl Counters {
    pub(crate) fn near_hit(&self, elapsed: Duration) {
        bump(&self.near_hits);
        self.near_latency.record(elapsed);
    }
    pub(crate) fn near_miss(&self) {
        bump(&self.near_misses);
    }
    pub(crate) fn fill_refused(&self) {
        bump(&self.fills_refused);
    }
    pub(crate) fn shared_hit(&self) {
        bump(&self.shared_hits);
    }
    pub(crate) fn shared_miss(&self) {
        bump(&self.shared_misses);
    }
    pub(crate) fn shared_error(&self) {
        bump(&self.shared_errors);
    }
    pub(crate) fn store_hit(&self) {
        bump(&self.store_hits);
    }
    pub(crate) fn store_not_found(&self) {
        bump(&self.store_not_found);
    }
    pub(crate) fn store_error(&self) {
        bump(&self.store_errors);
    }
    pub(crate) fn coalesced(&self) {
        bump(&self.coalesced);
    }

    /// A read that missed the near cache finished.
    pub(crate) fn read_done(&self, outcome: &Result<Option<Answer>, NodeError>, took: Duration) {
        bump(&self.deep_reads);
        match outcome {
            Ok(Some(answer)) if answer.source == Source::Shared => self.shared_latency.record(took),
            Ok(_) => self.store_latency.record(took),
            Err(_) => bump(&self.failed_reads),
        }
    }

    pub(crate) fn write_done<T>(&self, outcome: &Result<T, NodeError>, took: Duration) {
        match outcome {
            Ok(_) => {
                bump(&self.writes);
                self.write_latency.record(took);
            }
            Err(_) => bump(&self.write_errors),
        }
    }

    pub(crate) fn latency(&self) -> Vec<(&'static str, LatencySnapshot)> {
        vec![
            ("near", self.near_latency.snapshot()),
            ("shared", self.shared_latency.snapshot()),
            ("store", self.store_latency.snapshot()),
            ("write", self.write_latency.snapshot()),
        ]
    }

    pub(crate) fn snapshot(&self, near: Option<CacheStats>, tier: Option<TierStats>) -> NodeStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let near_hits = load(&self.near_hits);
        let near_misses = load(&self.near_misses);
        let shared_hits = load(&self.shared_hits);
        let shared_misses = load(&self.shared_misses);
        let store = StoreStats {
            hits: load(&self.store_hits),
            not_found: load(&self.store_not_found),
            errors: load(&self.store_errors),
        };
        NodeStats {
            // A read either hits the near cache or finishes past it (coalesced readers
            // included, which the per-tier counters count once per fill).
            reads: near_hits + load(&self.deep_reads),
            near: NearStats {
                enabled: near.is_some(),
                hits: near_hits,
                misses: near_misses,
                hit_ratio: ratio(near_hits, near_misses),
                entries: near.as_ref().map_or(0, |s| s.entries),
                bytes: near.as_ref().map_or(0, |s| s.weight),
                capacity_bytes: near.as_ref().map_or(0, |s| s.capacity),
                evictions: near
                    .as_ref()
                    .map_or(0, |s| s.removed(RemovalCause::Evicted)),
                fills_refused: load(&self.fills_refused),
            },
            shared: SharedStats {
                enabled: tier.is_some(),
                hits: shared_hits,
                misses: shared_misses,
                hit_ratio: ratio(shared_hits, shared_misses),
                errors: load(&self.shared_errors),
                tier_totals: tier,
            },
            store,
            failed_reads: load(&self.failed_reads),
            coalesced: load(&self.coalesced),
            writes: load(&self.writes),
            write_errors: load(&self.write_errors),
            latency: LatencyByKind {
                near: LatencySummary::of(&self.near_latency.snapshot()),
                shared: LatencySummary::of(&self.shared_latency.snapshot()),
                store: LatencySummary::of(&self.store_latency.snapshot()),
                write: LatencySummary::of(&self.write_latency.snapshot()),
            },
            coherence: None,
            write_behind: None,
            outbox: None,
        }
    }
}
