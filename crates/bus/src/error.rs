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
    /// Redis refused the credentials, or the user lacks an ACL right the bus needs (see
    /// [`REQUIRED_RIGHTS`]).
    #[error("bus refused: {0}")]
    Refused(String),
}

/// The ACL rights the bus's Redis user needs, as `ACL SETUSER` takes them: its keys and
/// channels under `tc:`, and the commands of sessions, subscriptions and scripts.
pub const REQUIRED_RIGHTS: &str = "~tc:* &tc:* +@read +@write +@pubsub +@scripting +@connection +@transaction +info +wait +cluster|slots +cluster|shards +cluster|nodes +readonly";

pub(crate) use tiercache_tls::redis_client::is_refusal;

/// A connection error at `address`: a refusal says who was refused and which rights
/// the bus needs; anything else is `Unavailable`.
pub(crate) fn refused_or_unavailable(
    address: &str,
    auth: &tiercache_core::RedisAuth,
    error: &redis::RedisError,
) -> BusError {
    if is_refusal(error) {
        BusError::Refused(tiercache_tls::redis_client::refusal(
            address,
            "the bus",
            auth,
            error,
            REQUIRED_RIGHTS,
        ))
    } else {
        BusError::Unavailable(format!("Redis at {address}: {error}"))
    }
}

impl BusError {
    /// The error's classification.
    pub fn code(&self) -> ErrorCode {
        match self {
            BusError::InvalidUrl(_) | BusError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            BusError::SessionLost(_) | BusError::Unavailable(_) => ErrorCode::Unavailable,
            BusError::Internal(_) => ErrorCode::Internal,
            BusError::Refused(_) => ErrorCode::PermissionDenied,
        }
    }
}

impl From<redis::RedisError> for BusError {
    fn from(error: redis::RedisError) -> BusError {
        if is_refusal(&error) {
            BusError::Refused(error.to_string())
        } else if error.is_io_error()
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
