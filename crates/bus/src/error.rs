//! The bus's errors, classified once: each maps to one [`ErrorCode`], and Redis's errors map
//! to them here.

use tiercache_core::ErrorCode;

/// Why a bus operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The bus URL is malformed or names a backend that does not exist.
    #[error("bad bus URL: {0}")]
    InvalidUrl(String),
    /// A topic name or message the bus refuses (empty, too long).
    #[error("{0}")]
    InvalidArgument(String),
    /// The session this operation ran in is gone (its lease lapsed, its connection
    /// dropped, or it fell behind). The session replaces itself: see
    /// [`SessionEvent::Lost`](crate::SessionEvent::Lost).
    #[error("bus session lost: {0}")]
    SessionLost(String),
    /// The bus cannot be reached right now.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// An unexpected answer.
    #[error("bus error: {0}")]
    Internal(String),
}

impl BusError {
    /// The error's classification.
    pub fn code(&self) -> ErrorCode {
        match self {
            BusError::InvalidUrl(_) | BusError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            BusError::SessionLost(_) | BusError::Unavailable(_) => ErrorCode::Unavailable,
            BusError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<redis::RedisError> for BusError {
    fn from(error: redis::RedisError) -> BusError {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
        {
            BusError::Unavailable(error.to_string())
        } else {
            BusError::Internal(error.to_string())
        }
    }
}

/// The result of a bus operation.
pub type BusResult<T> = Result<T, BusError>;
