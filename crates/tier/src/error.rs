//! [`TierError`]: why a tier operation failed, classified by [`ErrorCode`](tiercache_core::ErrorCode).

use tiercache_core::ErrorCode;

/// Why a tier operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    /// The tier URL is malformed or names a topology that does not exist.
    #[error("bad tier URL: {0}")]
    InvalidUrl(String),
    /// The tier's servers cannot be reached right now. The read path treats this as a miss
    /// and goes to the store; writes report it.
    #[error("shared tier unavailable: {0}")]
    Unavailable(String),
    /// A setting that the chosen topology cannot honour.
    #[error("{0}")]
    Unsupported(String),
    /// An unexpected answer.
    #[error("shared tier error: {0}")]
    Internal(String),
}

impl TierError {
    /// The error's classification.
    pub fn code(&self) -> ErrorCode {
        match self {
            TierError::InvalidUrl(_) | TierError::Unsupported(_) => ErrorCode::InvalidArgument,
            TierError::Unavailable(_) => ErrorCode::Unavailable,
            TierError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<redis::RedisError> for TierError {
    fn from(error: redis::RedisError) -> TierError {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
        {
            TierError::Unavailable(error.to_string())
        } else {
            TierError::Internal(error.to_string())
        }
    }
}

/// The result of a tier operation.
pub type TierResult<T> = Result<T, TierError>;
