//! Why an insert was refused.

use tiercache_core::ErrorCode;

/// Why [`crate::Cache::insert`] refused an entry. On error the cache is unchanged: no entry
/// was evicted, and an existing entry for the key (if any) is still there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The cache is full and its policy may not evict enough to make room: `noeviction`, or a
    /// `volatile-*` policy when the keys that have a TTL do not weigh enough. Redis answers
    /// `-OOM command not allowed when used memory > 'maxmemory'` in the same situation.
    #[error(
        "out of memory: the cache is full and policy {policy} may not evict enough to fit this entry"
    )]
    OutOfMemory {
        /// The policy's canonical name.
        policy: &'static str,
    },
    /// The entry alone weighs more than its shard may ever hold.
    #[error("entry weighs {weight} but a shard holds at most {limit}")]
    TooLarge {
        /// The entry's weight (its bytes plus the per-entry overhead, or 1).
        weight: u64,
        /// The shard's capacity in the same unit.
        limit: u64,
    },
}

impl InsertError {
    /// The error's classification, for the HTTP and gRPC edges.
    pub fn code(&self) -> ErrorCode {
        match self {
            InsertError::OutOfMemory { .. } => ErrorCode::OutOfMemory,
            InsertError::TooLarge { .. } => ErrorCode::TooLarge,
        }
    }
}
