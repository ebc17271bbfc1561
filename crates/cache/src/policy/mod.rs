//! Eviction policies, one file each, behind one small trait.
//!
//! A policy only orders *candidates*: every entry for the `allkeys-*` and modern policies,
//! only entries with a TTL for the `volatile-*` ones. The shard owns the entries and tells
//! the policy about them by slot index; the policy never sees keys or values.

mod contract;
mod fifo;
mod lfu;
mod lru;
mod noeviction;
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

pub(crate) use contract::{Admit, Policy};
use noeviction::NoEviction;

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
