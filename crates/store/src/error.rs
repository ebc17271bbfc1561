//! [`StoreError`]: every way a store operation fails, classified once (one [`ErrorCode`] per
//! variant) and carried whole across gRPC.

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
    /// The caller's lease lapsed (or was released): renew failed, and fenced writes are
    /// rejected until the lease is acquired again (at a new epoch).
    #[error("lease {name:?} at epoch {epoch} has expired: acquire it again")]
    LeaseExpired {
        /// The lease.
        name: String,
        /// The epoch the caller presented (still the lease's latest).
        epoch: u64,
    },
    /// The database (or, for a client, the store service) cannot be reached. Retryable.
    ///
    /// For a write this means the outcome is unknown: the connection may have dropped after
    /// the commit. Retrying an unconditional write may apply it twice (two versions);
    /// retry with a [`Precondition`](crate::Precondition) to make it exactly-once.
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
            | StoreError::StaleEpoch { .. }
            | StoreError::LeaseExpired { .. } => ErrorCode::Conflict,
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
                let code = db.code().unwrap_or_default();
                if retryable_database_code(&code) {
                    StoreError::Unavailable(error.to_string())
                } else {
                    StoreError::Internal(error.to_string())
                }
            }
            _ => StoreError::Internal(error.to_string()),
        }
    }
}

/// Whether a database error code means "try again later" rather than "this request is
/// wrong": the database (or its machine) is in a state that can pass. PostgreSQL: class 08
/// (connection exception), class 53 (insufficient resources: disk full, out of memory, too
/// many connections), class 57 (operator intervention: shutdown, a cancelled or timed-out
/// statement), class 58 (system error: I/O), 40001 / 40P01 / 40003 (serialization failure,
/// deadlock, outcome unknown), 25006 (read-only transaction: a standby during a failover),
/// 55P03 (lock not available). SQLite: READONLY (8), BUSY (5), LOCKED (6), IOERR (10), FULL
/// (13), including their extended codes (primary code = low byte).
fn retryable_database_code(code: &str) -> bool {
    // SQLSTATEs are five characters; SQLite's result codes are at most four digits.
    if code.len() != 5 {
        return code
            .parse::<i32>()
            .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6 | 8 | 10 | 13));
    }
    ["08", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "40001" | "40P01" | "40003" | "25006" | "55P03")
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_deadlock_and_lost_connections_are_retryable() {
        for code in [
            "5", "6", "517", "261", "773", "08006", "57P01", "40001", "40P01", "53300",
        ] {
            assert!(retryable_database_code(code), "{code}");
        }
        // States that pass: out of disk or memory, I/O errors, a cancelled statement, a
        // standby during a failover, a lock timeout (SQLite: IOERR, FULL, READONLY_CANTLOCK).
        for code in [
            "53100", "53200", "58030", "57014", "25006", "55P03", "40003", "10", "13", "522", "520",
        ] {
            assert!(retryable_database_code(code), "{code}");
        }
        for code in ["19", "2067", "23505", "42P01", "22001", "1", "11", "25001"] {
            assert!(!retryable_database_code(code), "{code}");
        }
    }
}
