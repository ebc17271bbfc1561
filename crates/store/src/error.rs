use std::fmt;

use tiercache_core::{ErrorCode, Version};

/// Everything a store operation can fail with. Each variant maps to one [`ErrorCode`], and
/// the gRPC layer carries the variant across the wire so a remote caller sees the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreError {
    /// The request is malformed (an empty key, a zero TTL, a bad role name, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A key, value or batch exceeds a configured limit; nothing was written.
    #[error("{what} is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// What was too large: "key", "value", "batch".
        what: String,
        /// Its size in bytes (items for a batch).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The object, registration or state entry does not exist (or no longer does).
    #[error("not found: {0}")]
    NotFound(String),
    /// A conditional write found the key at another version; nothing was written.
    #[error("version conflict: the key is at version {current}")]
    VersionConflict {
        /// The key's current version (0 when it was never written).
        current: Version,
    },
    /// Another holder's lease is live.
    #[error("lease {name:?} is held by {holder:?} at epoch {epoch}")]
    LeaseHeld {
        /// The lease.
        name: String,
        /// Who holds it.
        holder: String,
        /// At which epoch.
        epoch: u64,
    },
    /// The caller's epoch is not the lease's current epoch (or its lease expired); the
    /// fenced write or renewal was rejected.
    #[error("stale epoch {presented}: the lease is at epoch {current}")]
    StaleEpoch {
        /// The epoch the caller presented.
        presented: u64,
        /// The lease's current epoch (0 when the lease was never taken).
        current: u64,
    },
    /// The database (or, for a client, the store service) cannot be reached. Retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected database answer.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// The error's classification, as HTTP and gRPC edges map it.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            StoreError::TooLarge { .. } => ErrorCode::TooLarge,
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::VersionConflict { .. }
            | StoreError::LeaseHeld { .. }
            | StoreError::StaleEpoch { .. } => ErrorCode::Conflict,
            StoreError::Unavailable(_) => ErrorCode::Unavailable,
            StoreError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn invalid(message: impl fmt::Display) -> StoreError {
        StoreError::InvalidArgument(message.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        use sqlx::Error as E;
        match &error {
            // Connection-level trouble: the database is down, restarting or unreachable.
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                StoreError::Unavailable(error.to_string())
            }
            E::Database(db) => {
                // PostgreSQL's class 08 (connection exception) and 57P0x (shutdown) mean the
                // server went away; SQLite's BUSY/LOCKED mean another process holds the file
                // longer than the busy timeout.
                let code = db.code().unwrap_or_default();
                if code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "5"
                    || code == "6"
                {
                    StoreError::Unavailable(error.to_string())
                } else {
                    StoreError::Internal(error.to_string())
                }
            }
            _ => StoreError::Internal(error.to_string()),
        }
    }
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;
