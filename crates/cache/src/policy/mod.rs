//! Eviction policies, one file each, behind one small trait.
//!
//! A policy only orders *candidates*: every entry for the `allkeys-*` and modern policies,
//! only entries with a TTL for the `volatile-*` ones. The shard owns the entries and tells
//! the policy about them by slot index; the policy never sees keys or values.

mod fifo;
mod lfu;
mod lru;
mod random;
mod s3fifo;
mod sampled;
mod sieve;
mod sketch;
mod tinylfu;
mod ttl;

use std::sync::Arc;

use crate::Clock;
use crate::spec::{PolicyKind, PolicySpec};

/// What a policy learns about a candidate when it arrives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admit {
    /// The key's hash (frequency sketches and ghost queues remember keys by hash).
    pub(crate) hash: u64,
    /// The entry's weight, in the unit of the capacity the policy was built with.
    pub(crate) weight: u64,
    /// The TTL deadline on the clock's timeline, 0 when the entry has none.
    pub(crate) expires_at: u64,
}

#[cfg(test)]
impl Admit {
    /// A weight-1 arrival without TTL, for policy unit tests.
    pub(crate) fn unit(hash: u64) -> Admit {
        Admit {
            hash,
            weight: 1,
            expires_at: 0,
        }
    }
}

/// The contract between a shard and its policy.
///
/// The shard calls `insert` once when an entry becomes a candidate, then any number of
/// `touch`/`touch_shared` calls, and finally exactly one of `remove` (the entry left for a
/// reason of the shard's: replaced, expired, removed, no longer has a TTL) or `evict`
/// returning its index. After that the index may be reused for a new entry.
pub(crate) trait Policy {
    /// `idx` became a candidate. The caller guarantees it is not one already.
    fn insert(&mut self, idx: u32, admit: Admit);

    /// A hit on candidate `idx`, under the shard's exclusive lock.
    fn touch(&mut self, idx: u32);

    /// A hit on candidate `idx` under a *shared* lock. Only called when
    /// [`AnyPolicy::shared_hits`] is true; such policies record hits with atomics.
    fn touch_shared(&self, _idx: u32) {
        unreachable!("this policy records hits under the exclusive lock")
    }

    /// Candidate `idx` leaves for a reason other than eviction; forget it.
    fn remove(&mut self, idx: u32);

    /// Chooses a victim among the candidates, forgets it and returns it; `None` when there
    /// is no candidate. Policies that move entries between internal queues (S3-FIFO,
    /// W-TinyLFU) keep moving until one entry actually leaves.
    fn evict(&mut self) -> Option<u32>;

    /// Victims the policy chose on its own during the last `touch` or `evict` (beyond the
    /// one `evict` returned), already forgotten by the policy; the shard removes them right
    /// after that call. Only W-TinyLFU has any: its probation segment sheds its tail when a
    /// hit overfills it, as libCacheSim's SLRU does.
    fn take_surplus(&mut self) -> Option<u32> {
        None
    }
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $body:expr) => {
        match $self {
            AnyPolicy::NoEviction($p) => $body,
            AnyPolicy::Fifo($p) => $body,
            AnyPolicy::Lru($p) => $body,
            AnyPolicy::Lfu($p) => $body,
            AnyPolicy::Random($p) => $body,
            AnyPolicy::NearestExpiry($p) => $body,
            AnyPolicy::Sampled($p) => $body,
            AnyPolicy::Sieve($p) => $body,
            AnyPolicy::S3Fifo($p) => $body,
            AnyPolicy::WTinyLfu($p) => $body,
        }
    };
}

/// `noeviction`: keeps no order because it never chooses a victim.
#[derive(Debug, Default)]
pub(crate) struct NoEviction;

impl Policy for NoEviction {
    fn insert(&mut self, _: u32, _: Admit) {}
    fn touch(&mut self, _: u32) {}
    fn touch_shared(&self, _: u32) {}
    fn remove(&mut self, _: u32) {}
    fn evict(&mut self) -> Option<u32> {
        None
    }
}

/// One of the policies, chosen at run time by [`PolicySpec`]; static dispatch by `match`.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per shard, built once and never moved"
)]
pub(crate) enum AnyPolicy {
    NoEviction(NoEviction),
    Fifo(fifo::Fifo),
    Lru(lru::Lru),
    Lfu(lfu::Lfu),
    Random(random::Random),
    NearestExpiry(ttl::NearestExpiry),
    Sampled(sampled::Sampled),
    Sieve(sieve::Sieve),
    S3Fifo(s3fifo::S3Fifo),
    WTinyLfu(tinylfu::WTinyLfu),
}

impl AnyPolicy {
    /// Builds the policy for one shard of `capacity` (in weight units).
    pub(crate) fn new(spec: &PolicySpec, capacity: u64, seed: u64, clock: Arc<dyn Clock>) -> Self {
        use sampled::Score;
        match (spec.kind, spec.sampling) {
            (PolicyKind::NoEviction, _) => AnyPolicy::NoEviction(NoEviction),
            (PolicyKind::Fifo, _) => AnyPolicy::Fifo(fifo::Fifo::default()),
            (PolicyKind::Sieve, _) => AnyPolicy::Sieve(sieve::Sieve::default()),
            (PolicyKind::AllKeysRandom | PolicyKind::VolatileRandom, _) => {
                AnyPolicy::Random(random::Random::new(seed))
            }
            (PolicyKind::AllKeysLru | PolicyKind::VolatileLru, None) => {
                AnyPolicy::Lru(lru::Lru::default())
            }
            (PolicyKind::AllKeysLfu | PolicyKind::VolatileLfu, None) => {
                AnyPolicy::Lfu(lfu::Lfu::default())
            }
            (PolicyKind::VolatileTtl, None) => {
                AnyPolicy::NearestExpiry(ttl::NearestExpiry::default())
            }
            (PolicyKind::AllKeysLru | PolicyKind::VolatileLru, Some(s)) => {
                AnyPolicy::Sampled(sampled::Sampled::new(Score::Lru, s, seed, clock))
            }
            (PolicyKind::AllKeysLfu | PolicyKind::VolatileLfu, Some(s)) => {
                AnyPolicy::Sampled(sampled::Sampled::new(Score::Lfu, s, seed, clock))
            }
            (PolicyKind::VolatileTtl, Some(s)) => {
                AnyPolicy::Sampled(sampled::Sampled::new(Score::Ttl, s, seed, clock))
            }
            (PolicyKind::S3Fifo, _) => AnyPolicy::S3Fifo(s3fifo::S3Fifo::new(
                capacity,
                spec.small_ratio,
                spec.ghost_ratio,
            )),
            (PolicyKind::WTinyLfu, _) => {
                AnyPolicy::WTinyLfu(tinylfu::WTinyLfu::new(capacity, spec.window_ratio))
            }
        }
    }

    /// Whether hits can be recorded under a shared lock (`touch_shared`), letting readers of
    /// one shard proceed in parallel.
    #[inline]
    pub(crate) fn shared_hits(&self) -> bool {
        !matches!(
            self,
            AnyPolicy::Lru(_) | AnyPolicy::Lfu(_) | AnyPolicy::WTinyLfu(_)
        )
    }

    /// Whether the order depends on deadlines (`volatile-ttl`): a deadline change must then
    /// re-enter the entry.
    pub(crate) fn orders_by_deadline(&self) -> bool {
        match self {
            AnyPolicy::NearestExpiry(_) => true,
            AnyPolicy::Sampled(p) => p.orders_by_deadline(),
            _ => false,
        }
    }

    pub(crate) fn insert(&mut self, idx: u32, admit: Admit) {
        dispatch!(self, p => p.insert(idx, admit))
    }

    pub(crate) fn touch(&mut self, idx: u32) {
        dispatch!(self, p => p.touch(idx))
    }

    #[inline]
    pub(crate) fn touch_shared(&self, idx: u32) {
        match self {
            AnyPolicy::NoEviction(p) => p.touch_shared(idx),
            AnyPolicy::Fifo(p) => p.touch_shared(idx),
            AnyPolicy::Random(p) => p.touch_shared(idx),
            AnyPolicy::NearestExpiry(p) => p.touch_shared(idx),
            AnyPolicy::Sampled(p) => p.touch_shared(idx),
            AnyPolicy::Sieve(p) => p.touch_shared(idx),
            AnyPolicy::S3Fifo(p) => p.touch_shared(idx),
            AnyPolicy::Lru(_) | AnyPolicy::Lfu(_) | AnyPolicy::WTinyLfu(_) => {
                unreachable!("exclusive-hit policy touched under a shared lock")
            }
        }
    }

    pub(crate) fn remove(&mut self, idx: u32) {
        dispatch!(self, p => p.remove(idx))
    }

    pub(crate) fn evict(&mut self) -> Option<u32> {
        dispatch!(self, p => p.evict())
    }

    pub(crate) fn take_surplus(&mut self) -> Option<u32> {
        dispatch!(self, p => p.take_surplus())
    }
}
