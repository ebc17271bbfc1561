//! The read and write path of a processing node (an API node): near cache → shared tier →
//! store.
//!
//! A [`Node`] answers reads from the first tier that holds the object and records which
//! one did ([`Source`]). What it guarantees:
//!
//! * **Single flight.** Concurrent misses on one key on one node cause one trip to the
//!   shared tier and at most one store read; the other callers wait for that answer
//!   (counted as `coalesced`). If the caller running the fill is cancelled, a waiting
//!   caller takes over, so no caller waits on a fill nobody runs.
//! * **Version-checked fills.** An object read from the store is written to the shared tier
//!   with its version, and the tier never replaces a version with an older one (see
//!   `tiercache-tier`). The near cache keeps the same rule, and a delete leaves a short
//!   marker there, so a fill that read an old version before a write finished can never
//!   put it back over the write's version.
//! * **Write-through.** [`Node::put`] and [`Node::delete`] write to the store first (the
//!   store assigns the version), then install the result in the near cache, then replace
//!   the shared tier's copy by a versioned tombstone. The write is acknowledged only when
//!   all three happened; if the tier cannot be reached the caller gets
//!   [`NodeError::TierInvalidation`] with the version the store assigned. A read that starts
//!   after a write returned on this node sees that write or a later one.
//! * **Degraded tier.** A shared tier that cannot be reached on a read counts as a miss
//!   (the node reads the store); store errors are returned as they are.
//!
//! Invalidating the near caches of *other* nodes is the job of the bus (a later layer):
//! until then, another node can serve its own older copy.

mod error;
mod latency;
mod near;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tiercache_cache::PolicySpec;
use tiercache_core::Version;
use tiercache_store::{Limits, Lookup, Precondition, Store};
use tiercache_tier::Tier;
use tokio::sync::OnceCell;

pub use error::{NodeError, NodeResult};
pub use latency::{LatencyHistogram, LatencySnapshot};
pub use stats::{LatencyByKind, LatencySummary, NearStats, NodeStats, SharedStats, StoreStats};

use near::NearCache;
use stats::Counters;

/// Which tier answered a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The node's own near cache.
    Near,
    /// The shared tier.
    Shared,
    /// The store.
    Store,
}

impl Source {
    /// `near`, `shared` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Near => "near",
            Source::Shared => "shared",
            Source::Store => "store",
        }
    }
}

/// A live object and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The value.
    pub value: Bytes,
    /// The store's version of it.
    pub version: Version,
    /// The tier that answered.
    pub source: Source,
}

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The near cache's budget in bytes (keys + values + per-entry overhead); 0 disables
    /// the near cache. Default 64 MiB.
    pub near_capacity_bytes: u64,
    /// The near cache's eviction policy (default `allkeys-lru`).
    pub near_policy: PolicySpec,
    /// Key and value limits, checked before anything is sent anywhere (default: the
    /// store's defaults, 512-byte keys and 1 MiB values).
    pub limits: Limits,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            near_capacity_bytes: 64 << 20,
            near_policy: "allkeys-lru".parse().expect("a built-in policy name"),
            limits: Limits::default(),
        }
    }
}

/// The outcome of one fill, shared by every caller that waited for it.
type FillOutcome = Result<Option<Answer>, NodeError>;

/// The read and write path of one API node.
pub struct Node {
    near: Option<NearCache>,
    tier: Option<Arc<dyn Tier>>,
    store: Arc<dyn Store>,
    limits: Limits,
    /// Fills in progress, by key (single flight).
    flights: Mutex<HashMap<Vec<u8>, Arc<OnceCell<FillOutcome>>>>,
    counters: Counters,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("near", &self.near.is_some())
            .field("tier", &self.tier.as_ref().map(|t| t.describe()))
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node over `store`, with `tier` as its shared tier (none: near cache → store).
    pub fn new(
        store: Arc<dyn Store>,
        tier: Option<Arc<dyn Tier>>,
        options: &NodeOptions,
    ) -> Result<Node, String> {
        let near = match options.near_capacity_bytes {
            0 => None,
            capacity => Some(NearCache::new(options.near_policy, capacity)?),
        };
        Ok(Node {
            near,
            tier,
            store,
            limits: options.limits,
            flights: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// The limits keys and values are checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The shared tier's description, or `None` when the node has no shared tier.
    pub fn tier_description(&self) -> Option<String> {
        self.tier.as_ref().map(|tier| tier.describe())
    }

    /// Checks a key: 1..=`max_key_bytes` bytes, no control characters (they break logs,
    /// URLs and the Redis protocol's inline form, and no real key needs them).
    pub fn check_key(&self, key: &[u8]) -> NodeResult<()> {
        if key.is_empty() {
            return Err(NodeError::InvalidKey("the key is empty".into()));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(NodeError::Store(tiercache_store::StoreError::TooLarge {
                what: "key".into(),
                size: key.len(),
                limit: self.limits.max_key_bytes,
            }));
        }
        if let Some(position) = key.iter().position(|b| b.is_ascii_control()) {
            return Err(NodeError::InvalidKey(format!(
                "the key contains a control character (byte {:#04x} at offset {position})",
                key[position]
            )));
        }
        Ok(())
    }

    /// The live object under `key`, or `None` when it does not exist (never written, or
    /// deleted).
    pub async fn get(&self, key: &[u8]) -> NodeResult<Option<Answer>> {
        let started = Instant::now();
        self.check_key(key)?;
        if let Some(near) = &self.near {
            if let Some(hit) = near.get(key) {
                self.counters.near_hit(started.elapsed());
                return Ok(Some(Answer {
                    value: hit.value,
                    version: hit.version,
                    source: Source::Near,
                }));
            }
            self.counters.near_miss();
        }
        let outcome = self.single_flight(key).await;
        self.counters.read_done(&outcome, started.elapsed());
        outcome
    }

    /// Joins the fill of `key` in progress on this node, or starts one.
    async fn single_flight(&self, key: &[u8]) -> FillOutcome {
        let cell = {
            let mut flights = self.flights.lock();
            match flights.get(key) {
                Some(cell) => Arc::clone(cell),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    flights.insert(key.to_vec(), Arc::clone(&cell));
                    cell
                }
            }
        };
        let mut ran_fill = false;
        let outcome = cell
            .get_or_init(|| {
                ran_fill = true;
                self.fill(key)
            })
            .await
            .clone();
        if ran_fill {
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                flights.remove(key);
            }
        } else {
            self.counters.coalesced();
        }
        outcome
    }

    /// Shared tier, then store; fills the tiers it missed with version-checked writes.
    async fn fill(&self, key: &[u8]) -> FillOutcome {
        if let Some(tier) = &self.tier {
            match tier.get(key).await {
                Ok(Some(entry)) => {
                    self.counters.shared_hit();
                    let value = Bytes::from(entry.value);
                    self.install_near(key, Some(value.clone()), entry.version);
                    return Ok(Some(Answer {
                        value,
                        version: entry.version,
                        source: Source::Shared,
                    }));
                }
                Ok(None) => self.counters.shared_miss(),
                // An unreachable tier is a miss: the store still answers.
                Err(_) => self.counters.shared_error(),
            }
        }
        let lookup = self.store.get(key).await.inspect_err(|_| {
            self.counters.store_error();
        })?;
        match lookup {
            Lookup::Live { value, version } => {
                self.counters.store_hit();
                let value = Bytes::from(value);
                if let Some(tier) = &self.tier
                    && tier.set(key, &value, version).await.is_err()
                {
                    self.counters.shared_error();
                }
                self.install_near(key, Some(value.clone()), version);
                Ok(Some(Answer {
                    value,
                    version,
                    source: Source::Store,
                }))
            }
            Lookup::Absent | Lookup::Deleted { .. } => {
                self.counters.store_not_found();
                Ok(None)
            }
        }
    }

    fn install_near(&self, key: &[u8], value: Option<Bytes>, version: Version) {
        if let Some(near) = &self.near
            && !near.install(key, value, version)
        {
            self.counters.fill_refused();
        }
    }

    /// Writes `value` under `key` through to the store (if `precondition` holds), then
    /// updates this node's near cache and invalidates the shared tier. Returns the new
    /// version.
    pub async fn put(
        &self,
        key: &[u8],
        value: Bytes,
        precondition: Precondition,
    ) -> NodeResult<Version> {
        let started = Instant::now();
        self.check_key(key)?;
        self.limits.check_value(&value)?;
        let outcome = self.write(key, Some(value), precondition).await;
        self.counters.write_done(&outcome, started.elapsed());
        outcome
    }

    /// Deletes `key` through to the store (if `precondition` holds), then drops it from
    /// this node's near cache and the shared tier. Returns the tombstone's version.
    pub async fn delete(&self, key: &[u8], precondition: Precondition) -> NodeResult<Version> {
        let started = Instant::now();
        self.check_key(key)?;
        let outcome = self.write(key, None, precondition).await;
        self.counters.write_done(&outcome, started.elapsed());
        outcome
    }

    async fn write(
        &self,
        key: &[u8],
        value: Option<Bytes>,
        precondition: Precondition,
    ) -> NodeResult<Version> {
        let version = match &value {
            Some(value) => self.store.put(key, value, precondition).await?,
            None => self.store.delete(key, precondition).await?,
        };
        // The store's answer is the truth from here on: this node's copy moves first (it
        // cannot fail), then the shared tier's.
        self.install_near(key, value, version);
        // A read that starts after this write returns must not join a fill that started
        // before it (and may carry the old version).
        self.flights.lock().remove(key);
        if let Some(tier) = &self.tier
            && let Err(error) = tier.delete(key, version).await
        {
            return Err(NodeError::TierInvalidation { version, error });
        }
        Ok(version)
    }

    /// Drops every entry of this node's near cache.
    pub fn clear_near(&self) {
        if let Some(near) = &self.near {
            near.clear();
        }
    }

    /// Counters and latency percentiles since the node started.
    pub fn stats(&self) -> NodeStats {
        self.counters.snapshot(
            self.near.as_ref().map(NearCache::stats),
            self.tier.as_ref().map(|tier| tier.stats()),
        )
    }

    /// The read and write latency histograms, by source, for Prometheus.
    pub fn latency(&self) -> Vec<(&'static str, LatencySnapshot)> {
        self.counters.latency()
    }
}
