//! Telling the owner when an entry leaves the cache, and why.

use std::fmt;

/// Why an entry left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// The policy chose it to make room.
    Evicted,
    /// Its TTL passed (found on access or by active expiry).
    Expired,
    /// An insert of the same key put a new value in its place.
    Replaced,
    /// The owner dropped it because the data changed elsewhere ([`crate::Cache::invalidate`],
    /// [`crate::Cache::invalidate_all`]).
    Invalidated,
    /// The owner removed it ([`crate::Cache::remove`]).
    Removed,
}

impl RemovalCause {
    /// Every cause, in a fixed order (the order of [`crate::CacheStats::removals`]).
    pub const ALL: [RemovalCause; 5] = [
        RemovalCause::Evicted,
        RemovalCause::Expired,
        RemovalCause::Replaced,
        RemovalCause::Invalidated,
        RemovalCause::Removed,
    ];

    /// The position of this cause in [`RemovalCause::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name used in stats output.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalCause::Evicted => "evicted",
            RemovalCause::Expired => "expired",
            RemovalCause::Replaced => "replaced",
            RemovalCause::Invalidated => "invalidated",
            RemovalCause::Removed => "removed",
        }
    }
}

impl fmt::Display for RemovalCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives every entry that leaves the cache.
///
/// Contract:
/// - called exactly once per entry that leaves, whatever the cause, with the key and value
///   that were stored;
/// - called after the shard's lock is released, on the thread whose operation removed the
///   entry, so the listener may call back into the cache without deadlock;
/// - because of that, notifications for one key can interleave with later operations on the
///   same key from other threads: a listener that reacts to removals (the coherence layer
///   unsubscribes from the object's topic) must re-check the cache if it needs to know
///   whether the key is present *now*;
/// - a panic in the listener propagates to the caller of the cache operation; the cache
///   itself is already consistent when the listener runs.
pub trait RemovalListener<K, V>: Send + Sync {
    /// `key` with `value` left the cache because of `cause`.
    fn on_removal(&self, key: K, value: V, cause: RemovalCause);
}

impl<K, V, F> RemovalListener<K, V> for F
where
    F: Fn(K, V, RemovalCause) + Send + Sync,
{
    fn on_removal(&self, key: K, value: V, cause: RemovalCause) {
        self(key, value, cause)
    }
}
