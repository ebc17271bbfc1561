//! The node's counters: per-tier hits and misses, fills, writes, and latency histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tiercache_cache::{CacheStats, RemovalCause};
use tiercache_tier::TierStats;

use crate::latency::{LatencyHistogram, LatencySnapshot};
use crate::{Answer, NodeError, Source};

/// The near cache's share of a node's reads.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NearStats {
    /// Whether the node has a near cache at all.
    pub enabled: bool,
    /// Reads it answered.
    pub hits: u64,
    /// Reads it could not answer.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 before the first read.
    pub hit_ratio: f64,
    /// Entries held now (delete markers included).
    pub entries: u64,
    /// Bytes held now (keys + values + per-entry overhead).
    pub bytes: u64,
    /// The byte budget.
    pub capacity_bytes: u64,
    /// Entries evicted by the policy to make room.
    pub evictions: u64,
    /// Fills refused because the near cache already held the same or a newer version.
    pub fills_refused: u64,
}

/// The shared tier's share of this node's reads (and the tier's own totals).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SharedStats {
    /// Whether the node has a shared tier.
    pub enabled: bool,
    /// This node's reads the tier answered.
    pub hits: u64,
    /// This node's reads the tier could not answer.
    pub misses: u64,
    /// `hits / (hits + misses)` for this node, 0 before the first read.
    pub hit_ratio: f64,
    /// Tier operations of this node that failed (the read fell through to the store).
    pub errors: u64,
    /// The tier's totals across every node using it in this process.
    pub tier_totals: Option<TierStats>,
}

/// The store's share of this node's reads.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreStats {
    /// Reads the store answered with a live object.
    pub hits: u64,
    /// Reads of keys the store does not hold (never written, or deleted).
    pub not_found: u64,
    /// Store reads that failed.
    pub errors: u64,
}

/// Latency percentiles of one kind of operation, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    /// Operations measured.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

impl LatencySummary {
    fn of(snapshot: &LatencySnapshot) -> LatencySummary {
        let micros = |q| snapshot.quantile(q).as_secs_f64() * 1e6;
        LatencySummary {
            count: snapshot.count(),
            p50_us: micros(0.5),
            p99_us: micros(0.99),
            p999_us: micros(0.999),
        }
    }
}

/// A node's counters since it started.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeStats {
    /// Reads of valid keys the node answered or failed.
    pub reads: u64,
    /// Reads that failed (store unavailable, ...).
    pub failed_reads: u64,
    /// Reads answered by each tier, and their share.
    pub near: NearStats,
    /// The shared tier.
    pub shared: SharedStats,
    /// The store.
    pub store: StoreStats,
    /// Reads that waited for another caller's fill of the same key (single flight).
    pub coalesced: u64,
    /// Acknowledged writes (puts and deletes).
    pub writes: u64,
    /// Writes that failed (refused by the store, store unavailable, tier not invalidated).
    pub write_errors: u64,
    /// Read latency by the tier that answered, and write latency, inside the node.
    pub latency: LatencyByKind,
    /// The bus side, when the node has a bus.
    pub coherence: Option<crate::CoherenceStats>,
    /// Write-behind counters (`None` for a write-through node).
    pub write_behind: Option<crate::WriteBehindStats>,
}

/// Latency percentiles by kind of operation.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencyByKind {
    /// Reads answered by the near cache.
    pub near: LatencySummary,
    /// Reads answered by the shared tier.
    pub shared: LatencySummary,
    /// Reads answered by the store (found or not).
    pub store: LatencySummary,
    /// Writes.
    pub write: LatencySummary,
}

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

fn bump(counter: &AtomicU64) {
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
        }
    }
}
