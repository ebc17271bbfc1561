//! The tier's contract: the [`Tier`] trait every topology answers, its entries and counters,
//! and the ordering rule every backend applies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tiercache_cache::PolicySpec;
use tiercache_core::{RedisAuth, Version};

use crate::error::TierResult;

/// A live object held by the tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Vec<u8>,
    /// The store's version of it.
    pub version: Version,
}

/// What a version-checked write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The write was applied.
    Stored,
    /// The tier already held this version or a newer one (possibly a tombstone); nothing
    /// changed.
    Kept {
        /// The version the tier holds.
        current: Version,
    },
}

/// The ordering rule of every tier (and of the near caches): whether a cache holding
/// version `held` (a live value when `held_live`, else a tombstone) refuses a write of
/// version `incoming` (a value when `incoming_live`, else a tombstone).
///
/// Entries are ordered by (version, live over tombstone) and a write is refused unless it
/// ranks strictly above what is held: a newer version always wins; at the same version a
/// value replaces a tombstone (the store gives each version to one write, so that value is
/// the write the tombstone invalidated *for*), and nothing replaces a value. The Redis
/// scripts implement the same rule in Lua.
pub fn write_refused(
    held: Version,
    held_live: bool,
    incoming: Version,
    incoming_live: bool,
) -> bool {
    held > incoming || (held == incoming && (held_live || !incoming_live))
}

/// How many operations a tier served (since it was opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TierStats {
    /// Gets that found a live entry.
    pub hits: u64,
    /// Gets that found nothing or a tombstone.
    pub misses: u64,
    /// Version-checked sets applied.
    pub sets: u64,
    /// Version-checked sets or deletes refused because the tier held a newer version.
    pub kept: u64,
    /// Versioned deletes applied.
    pub deletes: u64,
    /// Operations that failed (server unreachable, ...).
    pub errors: u64,
    /// Entries the tier's nodes evicted to make room, when the topology can count them (the
    /// in-process ones); `None` otherwise.
    #[serde(default)]
    pub evictions: Option<u64>,
}

/// Lock-free counters behind [`TierStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    kept: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    pub(crate) fn get<T>(&self, result: &TierResult<Option<T>>) {
        let counter = match result {
            Ok(Some(_)) => &self.hits,
            Ok(None) => &self.misses,
            Err(_) => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn write(&self, result: &TierResult<SetOutcome>, delete: bool) {
        let counter = match result {
            Ok(SetOutcome::Stored) if delete => &self.deletes,
            Ok(SetOutcome::Stored) => &self.sets,
            Ok(SetOutcome::Kept { .. }) => &self.kept,
            Err(_) => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> TierStats {
        TierStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            kept: self.kept.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            evictions: None,
        }
    }
}

/// Settings shared by every topology.
#[derive(Debug, Clone)]
pub struct TierOptions {
    /// How long a versioned delete's tombstone lives (default 30 s): long enough to refuse a
    /// late fill of the deleted version, short enough not to fill the tier.
    pub tombstone_ttl: Duration,
    /// In-process nodes: the eviction policy (default `allkeys-lru`).
    pub policy: PolicySpec,
    /// In-process nodes: the byte budget of each node (default 64 MiB).
    pub node_capacity_bytes: u64,
    /// Redis: how long connecting and each command may take (default 2 s).
    pub redis_timeout: Duration,
    /// The longest a value lives in the tier after it was set (default `None`: until
    /// evicted or replaced). Bounds how long the tier can serve a version whose
    /// invalidation never came (a writer that crashed between its store commit and its
    /// tier delete).
    pub value_ttl: Option<Duration>,
    /// Redis Cluster with replicas: how long a write waits for a replica of its shard to
    /// hold it before it fails with `Unavailable` (default 5 s). The trade-off: a write a
    /// failover could lose is never counted, so a longer wait turns a loaded replica's lag
    /// into a slower write instead of a failed one; a shorter one fails sooner when a
    /// replica is really gone. Waited in rounds of half `redis_timeout`.
    pub replica_wait: Duration,
    /// Redis: who to authenticate as on every server (default: nobody). Set by [`open`]
    /// from the URL's `USER:PASSWORD@` (or the environment, see [`RedisAuth`]).
    ///
    /// [`open`]: crate::open
    pub redis_auth: RedisAuth,
}

/// The default [`TierOptions::replica_wait`].
pub const DEFAULT_REPLICA_WAIT: Duration = Duration::from_secs(5);

impl Default for TierOptions {
    fn default() -> TierOptions {
        TierOptions {
            tombstone_ttl: Duration::from_secs(30),
            policy: "allkeys-lru".parse().expect("a built-in policy name"),
            node_capacity_bytes: 64 << 20,
            redis_timeout: Duration::from_secs(2),
            value_ttl: None,
            replica_wait: DEFAULT_REPLICA_WAIT,
            redis_auth: RedisAuth::default(),
        }
    }
}

/// The shared tier, whatever its topology.
#[async_trait]
pub trait Tier: Send + Sync + 'static {
    /// The live entry under `key`, if any (a tombstone reads as `None`).
    async fn get(&self, key: &[u8]) -> TierResult<Option<Entry>>;

    /// Stores `value` at `version` unless the tier holds a newer version, or `version`
    /// itself as a live value.
    ///
    /// A tombstone at the same `version` gives way: the store gives each version to one
    /// write, so a live value at `version` *is* that write's value, and the tombstone was
    /// the writer's invalidation of the versions before it. This lets the first read after
    /// a write fill the tier again at once.
    async fn set(&self, key: &[u8], value: &[u8], version: Version) -> TierResult<SetOutcome>;

    /// Replaces the entry by a tombstone at `version` (living `tombstone_ttl`) unless the
    /// tier holds `version` (live or not) or a newer one. A writer calls it with the
    /// version the store gave its write, which removes every older copy.
    async fn delete(&self, key: &[u8], version: Version) -> TierResult<SetOutcome>;

    /// Removes every entry this tier wrote.
    async fn flush(&self) -> TierResult<()>;

    /// Counters since the tier was opened.
    fn stats(&self) -> TierStats;

    /// A short description of the topology, for logs and reports.
    fn describe(&self) -> String;
}

/// What a topology implements: the raw operations. [`Counted`] adds the counters and the
/// [`Tier`] interface, so every topology counts the same way.
#[async_trait]
pub(crate) trait Topology: Send + Sync + 'static {
    async fn read(&self, key: &[u8]) -> TierResult<Option<Entry>>;
    async fn write(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        version: Version,
    ) -> TierResult<SetOutcome>;
    async fn flush(&self) -> TierResult<()>;
    fn describe(&self) -> String;
    /// Entries evicted to make room, summed over the nodes, if the topology can count them.
    fn evictions(&self) -> Option<u64> {
        None
    }
}

/// A topology with its counters.
pub(crate) struct Counted<T> {
    topology: T,
    counters: Counters,
}

impl<T: Topology> Counted<T> {
    pub(crate) fn new(topology: T) -> Counted<T> {
        Counted {
            topology,
            counters: Counters::default(),
        }
    }
}

#[async_trait]
impl<T: Topology> Tier for Counted<T> {
    async fn get(&self, key: &[u8]) -> TierResult<Option<Entry>> {
        let result = self.topology.read(key).await;
        self.counters.get(&result);
        result
    }

    async fn set(&self, key: &[u8], value: &[u8], version: Version) -> TierResult<SetOutcome> {
        let result = self.topology.write(key, Some(value), version).await;
        self.counters.write(&result, false);
        result
    }

    async fn delete(&self, key: &[u8], version: Version) -> TierResult<SetOutcome> {
        let result = self.topology.write(key, None, version).await;
        self.counters.write(&result, true);
        result
    }

    async fn flush(&self) -> TierResult<()> {
        self.topology.flush().await
    }

    fn stats(&self) -> TierStats {
        TierStats {
            evictions: self.topology.evictions(),
            ..self.counters.snapshot()
        }
    }

    fn describe(&self) -> String {
        self.topology.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordering_rule() {
        let (v1, v2) = (Version(1), Version(2));
        // An older write of either kind loses; a newer one wins.
        for (held_live, live) in [(true, true), (true, false), (false, true), (false, false)] {
            assert!(write_refused(v2, held_live, v1, live));
            assert!(!write_refused(v1, held_live, v2, live));
        }
        // Same version: only a value over a tombstone goes through.
        assert!(!write_refused(v2, false, v2, true));
        assert!(write_refused(v2, false, v2, false));
        assert!(write_refused(v2, true, v2, true));
        assert!(write_refused(v2, true, v2, false));
    }
}
