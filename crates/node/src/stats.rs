//! What a node reports about itself (`/v1/stats`): serializable, and deserializable so that
//! tools read a node's stats through these types rather than by field names.

use tiercache_tier::TierStats;

use crate::latency::LatencySnapshot;

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
    pub(crate) fn of(snapshot: &LatencySnapshot) -> LatencySummary {
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
    pub coherence: Option<crate::coherence::CoherenceStats>,
    /// Write-behind counters (`None` for a write-through node).
    pub write_behind: Option<crate::write_behind::WriteBehindStats>,
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
