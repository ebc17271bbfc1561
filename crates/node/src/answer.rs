//! What a read answers: the object, its version, and which tier it came from.

use bytes::Bytes;
use tiercache_core::Version;

/// The version a write-behind write is answered with, and that reads of it show: the store
/// has not assigned one yet.
pub const PENDING: Version = Version(0);

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
    /// This node's own write, not yet in the store (write-behind).
    Pending,
}

impl Source {
    /// `near`, `shared`, `store` or `pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Near => "near",
            Source::Shared => "shared",
            Source::Store => "store",
            Source::Pending => "pending",
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
