//! One shard: a hash table of entries, their TTL deadlines, and a policy over them.
//!
//! Every method runs under the shard's lock (shared for [`Shard::lookup`], exclusive for the
//! rest). Entries that leave are pushed to a `Removed` batch that the caller hands to the
//! removal listener after the lock is released.

use std::borrow::Borrow;
use std::collections::BTreeSet;

use hashbrown::HashTable;

use crate::policy::{Admit, AnyPolicy};
use crate::slab::Slab;
use crate::stats::ShardCounters;
use crate::{InsertError, RemovalCause};

/// How many expired entries a write purges in passing (active expiry amortised into writes).
const PURGE_PER_WRITE: usize = 4;

/// Entries that left during one locked operation, to be reported (and dropped) after
/// unlocking. Usually zero to two, so they stay on the stack.
pub(crate) type Removed<K, V> = smallvec::SmallVec<[(K, V, RemovalCause); 2]>;

#[derive(Debug)]
pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    hash: u64,
    weight: u64,
    /// TTL deadline on the clock's timeline; 0 = no TTL.
    pub(crate) expires_at: u64,
}

/// The entry an insert is about to link: a replaced slot reused in place, or a new one.
enum Pending<K, V> {
    Reused(u32),
    Fresh(K, V),
}

/// The result of a lookup under a shared lock.
pub(crate) enum Lookup<V> {
    Hit(V),
    Miss,
    /// Found, but its TTL has passed: the caller retries under the exclusive lock to remove it.
    Expired,
}

#[derive(Debug)]
pub(crate) struct Shard<K, V> {
    table: HashTable<u32>,
    slots: Slab<Slot<K, V>>,
    policy: AnyPolicy,
    /// Only entries with a TTL are eviction candidates (`volatile-*`).
    volatile_only: bool,
    /// Deadlines of every entry with a TTL, for active expiry.
    deadlines: BTreeSet<(u64, u32)>,
    weight: u64,
    max_weight: u64,
    max_entries: u64,
    candidate_weight: u64,
    candidate_count: u64,
    policy_name: &'static str,
    pub(crate) counters: ShardCounters,
}

fn is_expired(expires_at: u64, now: u64) -> bool {
    expires_at != 0 && now >= expires_at
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(
        policy: AnyPolicy,
        policy_name: &'static str,
        volatile_only: bool,
        max_weight: u64,
        max_entries: u64,
    ) -> Self {
        Shard {
            table: HashTable::new(),
            slots: Slab::default(),
            policy,
            volatile_only,
            deadlines: BTreeSet::new(),
            weight: 0,
            max_weight,
            max_entries,
            candidate_weight: 0,
            candidate_count: 0,
            policy_name,
            counters: ShardCounters::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight
    }

    pub(crate) fn shared_hits(&self) -> bool {
        self.policy.shared_hits()
    }

    /// Whether some entry's deadline has passed (cheap check before taking a write lock).
    pub(crate) fn has_expired(&self, now: u64) -> bool {
        self.deadlines
            .first()
            .is_some_and(|&(deadline, _)| deadline <= now)
    }
}

impl<K: Eq, V: Clone> Shard<K, V> {
    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.slots;
        self.table
            .find(hash, |&idx| slots.get(idx).key.borrow() == key)
            .copied()
    }

    /// The live entry for `key`, if any, without touching the policy.
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q, now: impl Fn() -> u64) -> Option<&Slot<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slot = self.slots.get(self.find(hash, key)?);
        (!(slot.expires_at != 0 && is_expired(slot.expires_at, now()))).then_some(slot)
    }

    /// A lookup under the shared lock; records the hit with `touch_shared`.
    #[inline]
    pub(crate) fn lookup<Q>(&self, hash: u64, key: &Q, now: impl Fn() -> u64) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(idx) = self.find(hash, key) else {
            return Lookup::Miss;
        };
        let slot = self.slots.get(idx);
        if slot.expires_at != 0 && is_expired(slot.expires_at, now()) {
            return Lookup::Expired;
        }
        if self.is_candidate(slot.expires_at) {
            self.policy.touch_shared(idx);
        }
        Lookup::Hit(slot.value.clone())
    }

    /// A lookup under the exclusive lock: removes the entry if expired, records a hit.
    pub(crate) fn lookup_mut<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl Fn() -> u64,
        removed: &mut Removed<K, V>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = self.find(hash, key)?;
        let expires_at = self.slots.get(idx).expires_at;
        if expires_at != 0 && is_expired(expires_at, now()) {
            self.take(idx, RemovalCause::Expired, removed);
            return None;
        }
        let value = self.slots.get(idx).value.clone();
        if self.is_candidate(expires_at) {
            self.policy.touch(idx);
            self.evict_surplus(removed);
        }
        Some(value)
    }

    /// Removes victims the policy chose beyond those the shard asked for.
    fn evict_surplus(&mut self, removed: &mut Removed<K, V>) {
        while let Some(extra) = self.policy.take_surplus() {
            self.detach(extra, false, RemovalCause::Evicted, removed);
        }
    }

    #[inline]
    fn is_candidate(&self, expires_at: u64) -> bool {
        !self.volatile_only || expires_at != 0
    }

    /// Inserts or replaces. See [`crate::Cache::insert`] for the contract.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the parts of an entry travel together"
    )]
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u64,
        expires_at: u64,
        now: impl Fn() -> u64,
        removed: &mut Removed<K, V>,
    ) -> Result<(), InsertError> {
        // The clock is read only when some entry has a TTL.
        if !self.deadlines.is_empty() {
            self.purge_expired(now(), PURGE_PER_WRITE, removed);
        }
        if weight > self.max_weight {
            self.counters.rejected += 1;
            return Err(InsertError::TooLarge {
                weight,
                limit: self.max_weight,
            });
        }
        let mut existing = self.find(hash, &key);
        if let Some(idx) = existing {
            let old_deadline = self.slots.get(idx).expires_at;
            if old_deadline != 0 && is_expired(old_deadline, now()) {
                self.take(idx, RemovalCause::Expired, removed);
                existing = None;
            }
        }
        let (old_weight, old_count, old_candidate) = match existing {
            Some(idx) => {
                let slot = self.slots.get(idx);
                (slot.weight, 1, self.is_candidate(slot.expires_at))
            }
            None => (0, 0, false),
        };
        // Check first that enough can be evicted, so that a refusal changes nothing.
        let need_weight = (self.weight - old_weight + weight).saturating_sub(self.max_weight);
        let need_count = (self.slots.len() as u64 - old_count + 1).saturating_sub(self.max_entries);
        if need_weight > 0 || need_count > 0 {
            let spare_weight = self.candidate_weight - if old_candidate { old_weight } else { 0 };
            let spare_count = self.candidate_count - u64::from(old_candidate);
            let may_evict = !matches!(self.policy, AnyPolicy::NoEviction(_));
            if !may_evict || need_weight > spare_weight || need_count > spare_count {
                self.counters.rejected += 1;
                return Err(InsertError::OutOfMemory {
                    policy: self.policy_name,
                });
            }
        }
        if let Some(idx) = existing {
            let slot = self.slots.get(idx);
            let same_place = slot.weight == weight
                && self.is_candidate(slot.expires_at) == self.is_candidate(expires_at)
                && (slot.expires_at == expires_at || !self.policy.orders_by_deadline());
            if same_place {
                self.replace_in_place(idx, key, value, expires_at, removed);
                return Ok(());
            }
        }
        // A replaced entry keeps its slot and table entry (the key is equal): only its
        // value, weight and deadline change, and it re-enters the policy as a new arrival.
        let pending = match existing {
            Some(idx) => {
                self.unlink_from_order(idx, true);
                let slot = self.slots.get_mut(idx);
                let old_key = std::mem::replace(&mut slot.key, key);
                let old_value = std::mem::replace(&mut slot.value, value);
                slot.weight = weight;
                slot.expires_at = expires_at;
                self.counters.removed(RemovalCause::Replaced);
                removed.push((old_key, old_value, RemovalCause::Replaced));
                Pending::Reused(idx)
            }
            None => Pending::Fresh(key, value),
        };
        let reused_count = u64::from(matches!(pending, Pending::Reused(_)));
        while self.weight + weight > self.max_weight
            || self.slots.len() as u64 - reused_count >= self.max_entries
        {
            let victim = self
                .policy
                .evict()
                .expect("the capacity check guarantees a candidate");
            self.detach(victim, false, RemovalCause::Evicted, removed);
        }
        self.evict_surplus(removed);
        let idx = match pending {
            Pending::Reused(idx) => idx,
            Pending::Fresh(key, value) => {
                let idx = self.slots.insert(Slot {
                    key,
                    value,
                    hash,
                    weight,
                    expires_at,
                });
                let slots = &self.slots;
                self.table.insert_unique(hash, idx, |&i| slots.get(i).hash);
                idx
            }
        };
        self.link_into_order(idx);
        self.counters.inserts += 1;
        Ok(())
    }

    /// Replaces the value of slot `idx` by one of the same weight and candidacy: no room to
    /// make and no new arrival; the policy counts the write as an access (as Redis's `SET`
    /// refreshes the key's LRU clock and LFU counter), so an often-written key keeps its
    /// place.
    fn replace_in_place(
        &mut self,
        idx: u32,
        key: K,
        value: V,
        expires_at: u64,
        removed: &mut Removed<K, V>,
    ) {
        let slot = self.slots.get_mut(idx);
        let old_key = std::mem::replace(&mut slot.key, key);
        let old_value = std::mem::replace(&mut slot.value, value);
        let old_deadline = std::mem::replace(&mut slot.expires_at, expires_at);
        if old_deadline != expires_at {
            if old_deadline != 0 {
                self.deadlines.remove(&(old_deadline, idx));
            }
            if expires_at != 0 {
                self.deadlines.insert((expires_at, idx));
            }
        }
        self.counters.removed(RemovalCause::Replaced);
        self.counters.inserts += 1;
        removed.push((old_key, old_value, RemovalCause::Replaced));
        if self.is_candidate(expires_at) {
            self.policy.touch(idx);
            self.evict_surplus(removed);
        }
    }

    /// Removes the entry for `key` with `cause`; returns whether there was a live one.
    pub(crate) fn remove<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        cause: RemovalCause,
        now: u64,
        removed: &mut Removed<K, V>,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(idx) = self.find(hash, key) else {
            return false;
        };
        let expires_at = self.slots.get(idx).expires_at;
        if is_expired(expires_at, now) {
            self.take(idx, RemovalCause::Expired, removed);
            return false;
        }
        self.take(idx, cause, removed);
        true
    }

    /// Sets (`Some`) or clears (`None`) the deadline of a live entry; returns whether there was one.
    pub(crate) fn set_deadline<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        deadline: Option<u64>,
        now: u64,
        removed: &mut Removed<K, V>,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(idx) = self.find(hash, key) else {
            return false;
        };
        let old = self.slots.get(idx).expires_at;
        if is_expired(old, now) {
            self.take(idx, RemovalCause::Expired, removed);
            return false;
        }
        let new = deadline.unwrap_or(0);
        if old != new {
            // Leaving and re-entering the order makes the entry a new arrival for the policy.
            self.unlink_from_order(idx, true);
            self.slots.get_mut(idx).expires_at = new;
            self.link_into_order(idx);
        }
        true
    }

    /// Takes slot `idx` out of the weight total, the deadline index and the policy (it stays
    /// in the table and the slab); `tell_policy` is false when the policy chose it as a victim
    /// and has already forgotten it.
    fn unlink_from_order(&mut self, idx: u32, tell_policy: bool) {
        let slot = self.slots.get(idx);
        let (weight, expires_at) = (slot.weight, slot.expires_at);
        self.weight -= weight;
        if expires_at != 0 {
            self.deadlines.remove(&(expires_at, idx));
        }
        if self.is_candidate(expires_at) {
            if tell_policy {
                self.policy.remove(idx);
            }
            self.candidate_weight -= weight;
            self.candidate_count -= 1;
        }
    }

    /// Adds slot `idx` to the weight total, the deadline index and, if it is a candidate,
    /// the policy.
    fn link_into_order(&mut self, idx: u32) {
        let slot = self.slots.get(idx);
        let (hash, weight, expires_at) = (slot.hash, slot.weight, slot.expires_at);
        self.weight += weight;
        if expires_at != 0 {
            self.deadlines.insert((expires_at, idx));
        }
        if self.is_candidate(expires_at) {
            self.candidate_weight += weight;
            self.candidate_count += 1;
            self.policy.insert(
                idx,
                Admit {
                    hash,
                    weight,
                    expires_at,
                },
            );
        }
    }

    /// Removes up to `limit` entries whose deadline has passed, earliest first.
    pub(crate) fn purge_expired(
        &mut self,
        now: u64,
        limit: usize,
        removed: &mut Removed<K, V>,
    ) -> usize {
        let mut purged = 0;
        while purged < limit {
            match self.deadlines.first() {
                Some(&(deadline, idx)) if deadline <= now => {
                    self.take(idx, RemovalCause::Expired, removed);
                    purged += 1;
                }
                _ => break,
            }
        }
        purged
    }

    /// Removes every entry with `cause`.
    pub(crate) fn clear(&mut self, cause: RemovalCause, removed: &mut Removed<K, V>) {
        let all: Vec<u32> = self.slots.iter().map(|(idx, _)| idx).collect();
        removed.reserve(all.len());
        for idx in all {
            self.take(idx, cause, removed);
        }
    }

    /// Removes a live slot for a reason of the shard's (the policy is told with `remove`).
    fn take(&mut self, idx: u32, cause: RemovalCause, removed: &mut Removed<K, V>) {
        self.detach(idx, true, cause, removed);
    }

    /// Unlinks slot `idx` from everything; `tell_policy` is false when the policy itself
    /// chose the victim and has already forgotten it.
    fn detach(
        &mut self,
        idx: u32,
        tell_policy: bool,
        cause: RemovalCause,
        removed: &mut Removed<K, V>,
    ) {
        self.unlink_from_order(idx, tell_policy);
        let slot = self.slots.remove(idx);
        self.table
            .find_entry(slot.hash, |&i| i == idx)
            .expect("a live slot is in the table")
            .remove();
        self.counters.removed(cause);
        removed.push((slot.key, slot.value, cause));
    }
}
