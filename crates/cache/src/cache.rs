//! The concurrent cache: shards behind reader-writer locks, a clock, a listener.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use parking_lot::RwLock;

use crate::shard::{Lookup, Removed, Shard};
use crate::stats::LookupCounters;
use crate::{CacheStats, Clock, InsertError, PolicySpec, RemovalCause, RemovalListener};

/// Computes the weight of an entry in bytes (the per-entry overhead is added by the cache).
pub type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u64 + Send + Sync>;

/// What [`Cache::ttl`] knows about a key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No live entry for the key (Redis's `TTL` answers -2).
    Missing,
    /// The entry has no TTL (Redis answers -1).
    Persistent,
    /// The entry expires after this long.
    Remaining(Duration),
}

/// One shard behind its lock, alone on its cache lines.
pub(crate) type LockedShard<K, V> = CachePadded<RwLock<Shard<K, V>>>;

/// A concurrent, sharded, in-process cache with a byte and/or entry budget, TTLs and a
/// choice of eviction policy. Build one with [`crate::CacheBuilder`].
///
/// See the crate documentation for the policies and the concurrency guarantees.
pub struct Cache<K, V, S = foldhash::fast::RandomState> {
    pub(crate) shards: Box<[LockedShard<K, V>]>,
    pub(crate) shard_mask: usize,
    pub(crate) hasher: S,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) listener: Option<Arc<dyn RemovalListener<K, V>>>,
    /// `None`: every entry weighs 1 (an entry-count budget).
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) entry_overhead: u64,
    /// Whether hits may be recorded under the shared lock (decided by the policy).
    pub(crate) shared_hits: bool,
    pub(crate) lookups: LookupCounters,
    pub(crate) spec: PolicySpec,
    pub(crate) capacity: u64,
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("policy", &self.spec.to_string())
            .field("shards", &self.shards.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Clone + Send + Sync,
    S: BuildHasher,
{
    fn shard_for(&self, hash: u64) -> &RwLock<Shard<K, V>> {
        &self.shards[(hash >> 32) as usize & self.shard_mask]
    }

    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    fn now(&self) -> u64 {
        self.clock.now_nanos()
    }

    fn deadline(&self, ttl: Duration) -> u64 {
        // A deadline is never 0 (0 means "no TTL"), and a zero TTL expires at once.
        self.now()
            .saturating_add(ttl.as_nanos().min(u128::from(u64::MAX)) as u64)
            .max(1)
    }

    fn notify(&self, removed: Removed<K, V>) {
        if let Some(listener) = &self.listener {
            for (key, value, cause) in removed {
                listener.on_removal(key, value, cause);
            }
        }
    }

    /// The value for `key`, recording a hit (the policy sees the access) or a miss. Expired
    /// entries are never returned; finding one removes it (cause `Expired`).
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let shard = self.shard_for(hash);
        if self.shared_hits {
            match shard.read().lookup(hash, key, || self.now()) {
                Lookup::Hit(value) => {
                    self.lookups.record(true);
                    return Some(value);
                }
                Lookup::Miss => {
                    self.lookups.record(false);
                    return None;
                }
                Lookup::Expired => {}
            }
        }
        let mut removed = Removed::new();
        let found = shard
            .write()
            .lookup_mut(hash, key, || self.now(), &mut removed);
        self.notify(removed);
        self.lookups.record(found.is_some());
        found
    }

    /// The value for `key` without recording an access (no policy update, no stats).
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shard_for(hash)
            .read()
            .peek(hash, key, || self.now())
            .map(|slot| slot.value.clone())
    }

    /// Whether a live entry exists for `key` (no policy update, no stats).
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shard_for(hash)
            .read()
            .peek(hash, key, || self.now())
            .is_some()
    }

    fn weigh(&self, key: &K, value: &V) -> u64 {
        match &self.weigher {
            Some(weigher) => weigher(key, value).saturating_add(self.entry_overhead),
            None => 1,
        }
    }

    /// Inserts `key` → `value` with no TTL, replacing any entry for `key` (the old one leaves
    /// with cause `Replaced`). Evicts by the policy to make room.
    ///
    /// Errors leave the cache unchanged: [`InsertError::OutOfMemory`] when the policy may not
    /// evict enough (`noeviction`; `volatile-*` without enough keys that have a TTL), and
    /// [`InsertError::TooLarge`] when the entry outweighs a whole shard.
    pub fn insert(&self, key: K, value: V) -> Result<(), InsertError> {
        self.insert_with_deadline(key, value, 0)
    }

    /// Inserts like [`Cache::insert`], with a time to live. A zero `ttl` inserts an entry
    /// that is already expired (it is never returned).
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Result<(), InsertError> {
        let deadline = self.deadline(ttl);
        self.insert_with_deadline(key, value, deadline)
    }

    fn insert_with_deadline(&self, key: K, value: V, deadline: u64) -> Result<(), InsertError> {
        let hash = self.hash(&key);
        let weight = self.weigh(&key, &value);
        let mut removed = Removed::new();
        let result = self.shard_for(hash).write().insert(
            hash,
            key,
            value,
            weight,
            deadline,
            || self.now(),
            &mut removed,
        );
        self.notify(removed);
        result
    }

    /// Removes the entry for `key` (cause `Removed`) and tells whether a live one existed.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_with_cause(key, RemovalCause::Removed)
    }

    /// Drops the entry for `key` because its data changed elsewhere (cause `Invalidated`).
    pub fn invalidate<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.remove_with_cause(key, RemovalCause::Invalidated)
    }

    fn remove_with_cause<Q>(&self, key: &Q, cause: RemovalCause) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let mut removed = Removed::new();
        let found = self
            .shard_for(hash)
            .write()
            .remove(hash, key, cause, self.now(), &mut removed);
        self.notify(removed);
        found
    }

    /// Drops every entry (cause `Invalidated`): what a node does when it may have missed
    /// invalidations.
    pub fn invalidate_all(&self) {
        for shard in self.shards.iter() {
            let mut removed = Removed::new();
            shard.write().clear(RemovalCause::Invalidated, &mut removed);
            self.notify(removed);
        }
    }

    /// The time to live left for `key`.
    pub fn ttl<Q>(&self, key: &Q) -> Ttl
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        let shard = self.shard_for(hash).read();
        match shard.peek(hash, key, || now) {
            None => Ttl::Missing,
            Some(slot) if slot.expires_at == 0 => Ttl::Persistent,
            Some(slot) => Ttl::Remaining(Duration::from_nanos(slot.expires_at - now)),
        }
    }

    /// Sets the time to live of an existing entry (Redis's `EXPIRE`); false when there is no
    /// live entry. Under a `volatile-*` policy the entry becomes an eviction candidate.
    pub fn expire<Q>(&self, key: &Q, ttl: Duration) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let deadline = self.deadline(ttl);
        self.set_deadline(key, Some(deadline))
    }

    /// Removes the time to live of an existing entry (Redis's `PERSIST`); false when there is
    /// no live entry. Under a `volatile-*` policy the entry stops being an eviction candidate.
    pub fn persist<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.set_deadline(key, None)
    }

    fn set_deadline<Q>(&self, key: &Q, deadline: Option<u64>) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let mut removed = Removed::new();
        let found = self.shard_for(hash).write().set_deadline(
            hash,
            key,
            deadline,
            self.now(),
            &mut removed,
        );
        self.notify(removed);
        found
    }

    /// Removes every expired entry now (active expiry); returns how many. Writes already
    /// purge a few in passing; an owner with a runtime may call this periodically so memory
    /// held by expired entries is returned even when nobody writes.
    pub fn purge_expired(&self) -> usize {
        let now = self.now();
        let mut total = 0;
        for shard in self.shards.iter() {
            if !shard.read().has_expired(now) {
                continue;
            }
            let mut removed = Removed::new();
            total += shard.write().purge_expired(now, usize::MAX, &mut removed);
            self.notify(removed);
        }
        total
    }

    /// Entries held (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Weight held: bytes with a byte budget, otherwise the entry count.
    pub fn weight(&self) -> u64 {
        self.shards.iter().map(|s| s.read().weight()).sum()
    }

    /// The capacity in the unit of [`Cache::weight`].
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The policy this cache evicts by.
    pub fn policy(&self) -> &PolicySpec {
        &self.spec
    }

    /// How many shards the cache has.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let (hits, misses) = self.lookups.sum();
        let mut stats = CacheStats {
            hits,
            misses,
            capacity: self.capacity,
            ..CacheStats::default()
        };
        for shard in self.shards.iter() {
            let shard = shard.read();
            stats.inserts += shard.counters.inserts;
            stats.rejected_inserts += shard.counters.rejected;
            for (total, n) in stats.removals.iter_mut().zip(shard.counters.removals) {
                *total += n;
            }
            stats.entries += shard.len() as u64;
            stats.weight += shard.weight();
        }
        stats
    }
}
