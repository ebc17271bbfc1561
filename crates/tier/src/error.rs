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
    /// Redis refused the credentials, or the user lacks an ACL right the tier needs (see
    /// [`REQUIRED_RIGHTS`]).
    #[error("shared tier refused: {0}")]
    Refused(String),
}

/// The ACL rights the tier's Redis user needs, as `ACL SETUSER` takes them.
pub const REQUIRED_RIGHTS: &str = "~tc:* +@read +@write +@scripting +@connection +@transaction +info +wait +cluster|slots +cluster|shards +cluster|nodes +readonly";

impl TierError {
    /// The error's classification.
    pub fn code(&self) -> ErrorCode {
        match self {
            TierError::InvalidUrl(_) | TierError::Unsupported(_) => ErrorCode::InvalidArgument,
            TierError::Refused(_) => ErrorCode::PermissionDenied,
            TierError::Unavailable(_) => ErrorCode::Unavailable,
            TierError::Internal(_) => ErrorCode::Internal,
        }
    }
}

pub(crate) use tiercache_tls::redis_client::is_refusal;

/// A connection error at `address`: a refusal says who was refused and which rights
/// the tier needs; anything else is `Unavailable`.
pub(crate) fn refused_or_unavailable(
    address: &str,
    auth: &tiercache_core::RedisAuth,
    error: &redis::RedisError,
) -> TierError {
    if is_refusal(error) {
        TierError::Refused(tiercache_tls::redis_client::refusal(
            address,
            "the tier",
            auth,
            error,
            REQUIRED_RIGHTS,
        ))
    } else {
        TierError::Unavailable(format!("Redis at {address}: {error}"))
    }
}

impl From<redis::RedisError> for TierError {
    fn from(error: redis::RedisError) -> TierError {
        if is_refusal(&error) {
            TierError::Refused(error.to_string())
        } else if error.is_io_error()
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
