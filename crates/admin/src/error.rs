//! [`AdminError`]: every way an admin request fails, classified once (one [`ErrorCode`] per
//! variant) and carried whole over HTTP, so a remote caller sees the same error.

use serde::{Deserialize, Serialize};
use tiercache_core::ErrorCode;
use tiercache_store::StoreError;

/// What an admin request can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminError {
    /// This instance is a standby (or lost its lease): ask the active one, whose URL is given
    /// when known.
    #[error("this admin is not the active one{}", match active {
        Some(url) => format!("; the active admin is {url}"),
        None => String::new(),
    })]
    NotActive {
        /// The active admin's URL, as last heard.
        active: Option<String>,
    },
    /// The application name is not acceptable.
    #[error("invalid application name: {0}")]
    InvalidApp(String),
    /// No log node is registered and live: nothing to place the application on.
    #[error("no live log node is registered in the binder (role `log`)")]
    NoLogNodes,
    /// The store refused or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin could not be reached (a client's error).
    #[error("admin unreachable: {0}")]
    Unreachable(String),
}

impl AdminError {
    /// The error's classification, as the HTTP edge maps it.
    pub fn code(&self) -> ErrorCode {
        match self {
            AdminError::NotActive { .. } | AdminError::NoLogNodes | AdminError::Unreachable(_) => {
                ErrorCode::Unavailable
            }
            AdminError::InvalidApp(_) => ErrorCode::InvalidArgument,
            AdminError::Store(error) => error.code(),
        }
    }

    /// Whether this error means the store's fence refused a write or renewal: the lease moved
    /// on (or lapsed) and this instance is no longer the active one.
    pub fn is_fenced(error: &StoreError) -> bool {
        matches!(
            error,
            StoreError::StaleEpoch { .. } | StoreError::LeaseExpired { .. }
        )
    }
}

/// What admin operations return.
pub type AdminResult<T> = Result<T, AdminError>;
