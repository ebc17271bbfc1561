//! What a node reports about itself (`/v1/stats`): serializable, and deserializable so that
//! tools read a node's stats through these types rather than by field names.

use tiercache_tier::TierStats;

use crate::latency::LatencySummary;

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
    pub coherence: Option<CoherenceStats>,
    /// Write-behind counters (`None` for a write-through node).
    pub write_behind: Option<WriteBehindStats>,
    /// The outbox's counters (`None` when it is off).
    pub outbox: Option<crate::outbox::OutboxStats>,
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

/// What a node reports about its coherence (part of `/v1/stats`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CoherenceStats {
    /// The bus, described.
    pub bus: String,
    /// `object` or `bucket:N`.
    pub topics: String,
    /// `invalidate` or `update`.
    pub write_mode: String,
    /// `async` or `sync`.
    pub delivery: String,
    /// The current session incarnation (`None` while a lost one is being replaced).
    pub session: Option<String>,
    /// How many incarnations ended (each one flushed the near cache).
    pub session_generation: u64,
    /// Whether the node can prove its lease right now (near hits are served only then).
    pub lease_valid: bool,
    /// Topics subscribed now.
    pub subscriptions: u64,
    /// Subscribe and unsubscribe calls confirmed by the bus.
    pub subscribes: u64,
    /// Unsubscribe calls confirmed by the bus.
    pub unsubscribes: u64,
    /// Subscribes that failed (the fill was answered but not cached).
    pub subscribe_errors: u64,
    /// Notices this node published (one per write).
    pub published: u64,
    /// Publishes that failed (the write answered 503).
    pub publish_errors: u64,
    /// Notices received from the bus.
    pub received: u64,
    /// Notices that dropped or replaced a copy or stopped a fill.
    pub applied: u64,
    /// Notices for keys this node neither held nor was filling (bucket topics, races).
    pub discarded: u64,
    /// Notices that did not decode (each flushed the near cache).
    pub malformed: u64,
    /// Near-cache flushes after a lost session or a malformed notice.
    pub flushes: u64,
    /// Acknowledgements this node sent for other nodes' synchronous writes.
    pub acks_sent: u64,
    /// Acknowledgements this node received for its own synchronous writes.
    pub acks_received: u64,
    /// Synchronous writes whose every receiver confirmed or lapsed.
    pub confirmed_writes: u64,
    /// Receivers a synchronous write stopped waiting for because the bus dropped them.
    pub lapsed_receivers: u64,
    /// Synchronous writes answered 503 because some receiver stayed unconfirmed.
    pub unconfirmed_writes: u64,
    /// This node's own notices coming back to it (skipped).
    pub own_notices: u64,
    /// Publish-to-applied delay of the other nodes' notices: an upper bound of the
    /// invalidation delay they caused here (in async mode a write is acknowledged after
    /// its publish). By the wall clocks of both nodes: exact on one host.
    pub notice_delay: LatencySummary,
    /// How long this node's writes spent publishing their notice — and, in sync delivery,
    /// waiting for the confirmations: the cost of the delivery mode on a write.
    pub publish_wait: LatencySummary,
}

/// What write-behind reports (part of `/v1/stats`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WriteBehindStats {
    /// The flush interval, in ms.
    pub flush_interval_ms: u64,
    /// Keys waiting in memory now (dirty and flushing).
    pub pending_keys: u64,
    /// Writes answered.
    pub accepted: u64,
    /// Writes that replaced an unflushed write of the same key.
    pub coalesced: u64,
    /// Objects written to the store by flushes.
    pub store_writes: u64,
    /// `1 - store_writes / accepted`: the share of store writes coalescing saved.
    pub saved_ratio: f64,
    /// Store transactions (`batch_put` calls and deletes).
    pub batches: u64,
    /// Flush steps that failed (their writes were kept for the next flush, unless dropped).
    pub flush_errors: u64,
    /// Writes the store refused for good (an error that is not retryable: invalid for it, or
    /// an internal error): answered, then lost. Values and keys are checked before a write is
    /// answered, so this stays 0 unless the store's limits are tighter than the node's or
    /// the store has a bug.
    pub dropped: u64,
    /// Writes that had to wait for a flush because `max_dirty_keys` keys were waiting.
    pub backpressure_waits: u64,
    /// From a write's answer to its store commit: how long other nodes could read the
    /// previous version, before the notice delay, and what a crash would lose.
    pub window: LatencySummary,
}

/// The answer of `GET /v1/stats`: the node's counters with its name, its shared tier and
/// its uptime. Clients (the load generator of `tiercache bench`) read it back through this
/// type, so a renamed field breaks their build rather than their figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsBody {
    /// The node's name (the API's `node_name` option).
    pub node: String,
    /// The shared tier, described (`None` without one).
    pub tier: Option<String>,
    /// Seconds since the API started.
    pub uptime_seconds: f64,
    /// The node's counters, at the top level of the object.
    #[serde(flatten)]
    pub stats: NodeStats,
}
