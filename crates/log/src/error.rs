//! [`LogError`]: every way a log storage operation fails, classified once (one
//! [`ErrorCode`] per variant).

use std::path::PathBuf;

use tiercache_core::ErrorCode;

/// Everything a [`LogStorage`](crate::LogStorage) operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The request is malformed (an empty idempotency key, an application name that cannot
    /// be a directory, bad options); nothing was stored.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A value, idempotency key or batch exceeds a configured limit; nothing was stored.
    #[error("{what} is {size}, more than the limit of {limit}")]
    TooLarge {
        /// What was too large: "value", "idempotency key" (sizes in bytes), "batch"
        /// (records).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A record in the middle of the application's log fails its checksum (or does not
    /// decode). The log is served up to it and refuses appends until it is repaired
    /// ([`SegmentStorage::repair`](crate::SegmentStorage::repair)): the records from there
    /// on must come back from the other copies.
    #[error("corrupt record in {} at byte {offset}: {reason}", file.display())]
    Corrupt {
        /// The segment file.
        file: PathBuf,
        /// The byte offset of the first bad record in it.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A write or fsync of the application's log failed; what reached the disk is unknown,
    /// so the log refuses appends until it is repaired (which re-verifies the files) or the
    /// storage is reopened. Reads of what was acknowledged go on.
    #[error("the log of {app:?} failed and refuses appends until repaired: {reason}")]
    Failed {
        /// The application.
        app: String,
        /// The I/O error that failed it.
        reason: String,
    },
    /// An I/O error reading or opening files. Retryable.
    #[error("log storage I/O error: {0}")]
    Io(String),
    /// Another log node could not be reached or answered something unusable. Retryable.
    #[error("log node unreachable: {0}")]
    Unreachable(String),
    /// An assignment older than the one the node follows (a former admin's).
    #[error("assignment of epoch {got} refused: this node follows epoch {current}")]
    StaleAssignment {
        /// The refused assignment's epoch.
        got: u64,
        /// The epoch the node follows.
        current: u64,
    },
    /// The bus refused or could not confirm a subscription. Retryable.
    #[error("bus: {0}")]
    Bus(String),
    /// Another storage holds the data directory (a lock on it): two storages on one
    /// directory would interleave their writes.
    #[error(
        "the data directory {} is in use (another log node, or another storage in this \
         process, holds its lock)",
        dir.display()
    )]
    DirectoryInUse {
        /// The data directory.
        dir: PathBuf,
    },
    /// The storage is shutting down.
    #[error("the log storage is closed")]
    Closed,
}

impl LogError {
    /// The error's classification, as HTTP and gRPC edges map it.
    pub fn code(&self) -> ErrorCode {
        match self {
            LogError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            LogError::TooLarge { .. } => ErrorCode::TooLarge,
            LogError::Io(_) | LogError::Closed | LogError::Unreachable(_) | LogError::Bus(_) => {
                ErrorCode::Unavailable
            }
            LogError::StaleAssignment { .. } | LogError::DirectoryInUse { .. } => {
                ErrorCode::Conflict
            }
            // Needs a repair (and a catch-up): retrying alone does not help.
            LogError::Corrupt { .. } | LogError::Failed { .. } => ErrorCode::Internal,
        }
    }

    /// An I/O error with what was being done.
    pub(crate) fn io(what: impl std::fmt::Display, error: std::io::Error) -> LogError {
        LogError::Io(format!("{what}: {error}"))
    }
}

/// The result of a log storage operation.
pub type LogResult<T> = Result<T, LogError>;
