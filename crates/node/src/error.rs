//! Why a node's operation failed ([`NodeError`], classified by [`ErrorCode`]), and why a
//! node could not be made ([`SetupError`]).

use std::time::Duration;

use tiercache_bus::BusError;
use tiercache_cache::BuildError;
use tiercache_core::{ErrorCode, Version};
use tiercache_store::StoreError;
use tiercache_tier::TierError;

/// Why a read or write on a node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The key is empty, too long, or contains a control character.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The store refused or failed the operation (not found, too large, version conflict,
    /// unavailable, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store applied the write at `version`, but the shared tier could not drop its
    /// older copy, so other nodes might still read the old value from it until a background
    /// retry lands (or the copy's max age). The other nodes' near copies were invalidated
    /// all the same. The write is durable; the caller is told it is not acknowledged as
    /// coherent.
    #[error(
        "written to the store at version {version}, but the shared tier could not be invalidated (other nodes were notified; the tier is retried in the background): {error}"
    )]
    TierInvalidation {
        /// The version the store assigned.
        version: Version,
        /// What the tier answered.
        error: TierError,
    },
    /// The store applied the write at `version`, but its notice could not be published, so
    /// other nodes might keep serving their older copy. The write is durable; the caller
    /// is told it is not acknowledged as coherent.
    #[error(
        "written to the store at version {version}, but other nodes could not be notified: {error}"
    )]
    Publish {
        /// The version the store assigned.
        version: Version,
        /// What the bus answered.
        error: BusError,
    },
    /// Synchronous delivery: the store applied the write at `version` and its notice was
    /// published, but not every node that may hold a copy confirmed it in time. The write
    /// is durable; the caller is told it is not acknowledged as coherent.
    #[error("written to the store at version {version}, but not confirmed by every node: {reason}")]
    Unconfirmed {
        /// The version the store assigned.
        version: Version,
        /// Which confirmations are missing, and why.
        reason: String,
    },
    /// The node cannot do this in its mode (e.g. a conditional write in write-behind mode).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The operation took longer than the node's request timeout.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}

impl NodeError {
    /// The error's classification, which the HTTP edge maps to a status.
    pub fn code(&self) -> ErrorCode {
        match self {
            NodeError::InvalidKey(_) | NodeError::NotSupported(_) => ErrorCode::InvalidArgument,
            NodeError::Store(error) => error.code(),
            NodeError::TierInvalidation { .. }
            | NodeError::Publish { .. }
            | NodeError::Unconfirmed { .. }
            | NodeError::Timeout(_) => ErrorCode::Unavailable,
        }
    }
}

/// The result of a node operation.
pub type NodeResult<T> = Result<T, NodeError>;

/// Why a node could not be made: a setting that does not hold together, or a part it could
/// not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// Write-behind was asked of [`Node::new`](crate::Node::new), which runs no flusher.
    #[error("write-behind needs a flusher task: make the node with Node::start")]
    WriteBehindWithoutFlusher,
    /// The write-behind flush interval is outside 1 ms ..= 1 h.
    #[error("the flush interval must be from 1 ms to 1 h, got {0:?}")]
    FlushInterval(Duration),
    /// `max_dirty_keys` or `max_batch` of write-behind is 0.
    #[error("max_dirty_keys and max_batch must be at least 1")]
    EmptyBatch,
    /// The near cache's budget or policy cannot make a cache.
    #[error("near cache: {0}")]
    NearCache(BuildError),
    /// The bus session could not be opened.
    #[error("bus: {0}")]
    Bus(BusError),
}
