//! The contract between a shard and its eviction policy: what a policy learns about a
//! candidate, and the calls it must answer.

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
    /// [`super::AnyPolicy::shared_hits`] is true; such policies record hits with atomics.
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
