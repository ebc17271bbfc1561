//! The `tiercache.v1` gRPC services of the store, their client, and the one mapping of
//! [`StoreError`] to gRPC statuses and back.
//!
//! | error | status |
//! |---|---|
//! | `InvalidArgument`, `TooLarge` | `INVALID_ARGUMENT` |
//! | `NotFound` | `NOT_FOUND` |
//! | `VersionConflict`, `LeaseHeld`, `StaleEpoch`, `LeaseExpired` | `FAILED_PRECONDITION` |
//! | `Unavailable` | `UNAVAILABLE` |
//! | `Internal` | `INTERNAL` |
//!
//! The status's details carry the error itself (JSON), so [`StoreClient`](crate::StoreClient)
//! returns exactly the variant the server produced. A deleted key's `Get` answers
//! `NOT_FOUND` with its tombstone version in the `tiercache-tombstone-version` metadata.

pub mod client;
#[doc(hidden)]
pub mod echo;
/// Calls counted by method and code, for the store's `/metrics`.
mod metrics;
mod server;

use tonic::{Code, Status};

use crate::error::StoreError;

pub use metrics::{RpcMetrics, RpcMetricsLayer, RpcMetricsService};
pub use server::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_MAX_STREAMS_PER_CONNECTION,
    LoadLimits, ServeOptions, serve, serve_on_loopback,
};

/// Generated protobuf messages and tonic stubs of `proto/tiercache/v1/store.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("tiercache.v1");

    /// The encoded descriptor set of `tiercache/v1/store.proto` (the services a store serves),
    /// for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/tiercache_descriptor.bin"));
}

/// Metadata key holding a deleted key's tombstone version on a `Get` that answers NOT_FOUND.
pub const TOMBSTONE_VERSION_HEADER: &str = "tiercache-tombstone-version";

/// The gRPC status for a store error, with the error itself in the details.
pub fn status_from_error(error: &StoreError) -> Status {
    let code = match error {
        StoreError::InvalidArgument(_) | StoreError::TooLarge { .. } => Code::InvalidArgument,
        StoreError::NotFound(_) => Code::NotFound,
        StoreError::VersionConflict { .. }
        | StoreError::LeaseHeld { .. }
        | StoreError::StaleEpoch { .. }
        | StoreError::LeaseExpired { .. } => Code::FailedPrecondition,
        StoreError::Unavailable(_) => Code::Unavailable,
        StoreError::Internal(_) => Code::Internal,
    };
    let details = serde_json::to_vec(error).unwrap_or_default();
    Status::with_details(code, error.to_string(), details.into())
}

/// The store error a status stands for: the one in its details when a tiercache server sent
/// it, otherwise one chosen by the status code. Transport failures become `Unavailable`:
/// besides `UNAVAILABLE` itself, tonic reports a reset HTTP/2 stream or a broken connection
/// as `INTERNAL` or `UNKNOWN` without details — a tiercache server never sends an
/// `INTERNAL` without them, so one without details is the transport's.
pub fn error_from_status(status: &Status) -> StoreError {
    if let Ok(error) = serde_json::from_slice::<StoreError>(status.details()) {
        return error;
    }
    let mut message = status.message().to_owned();
    // A transport failure (a refused TLS handshake, a reset) says only "transport error";
    // its causes say what happened.
    let mut cause = std::error::Error::source(status);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => StoreError::InvalidArgument(message),
        Code::NotFound => StoreError::NotFound(message),
        // The call may or may not have run: see `StoreError::Unavailable`.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::Internal
        | Code::Aborted => {
            StoreError::Unavailable(format!("{}: {message}", status.code().description()))
        }
        Code::ResourceExhausted => StoreError::TooLarge {
            what: format!("message ({message})"),
            size: 0,
            limit: 0,
        },
        _ => StoreError::Internal(format!("{}: {message}", status.code().description())),
    }
}

#[cfg(test)]
mod tests {
    use tiercache_core::Version;

    use super::*;

    #[test]
    fn transport_failures_without_details_are_retryable() {
        // What tonic makes of a reset stream or a dropped connection: no tiercache details.
        for code in [
            Code::Internal,
            Code::Unknown,
            Code::Unavailable,
            Code::Aborted,
        ] {
            let error = error_from_status(&Status::new(code, "h2 protocol error: stream reset"));
            assert!(
                error.code().is_retryable(),
                "{code:?} without details: {error:?}"
            );
        }
        // A server's own internal error keeps its meaning (it travels in the details).
        let internal = status_from_error(&StoreError::Internal("a bug".into()));
        assert!(!error_from_status(&internal).code().is_retryable());
    }

    #[test]
    fn every_error_survives_the_round_trip_through_a_status() {
        let errors = [
            StoreError::InvalidArgument("empty key".into()),
            StoreError::TooLarge {
                what: "value".into(),
                size: 2_000_000,
                limit: 1_048_576,
            },
            StoreError::NotFound("gone".into()),
            StoreError::VersionConflict {
                current: Version(7),
            },
            StoreError::LeaseHeld {
                name: "admin".into(),
                holder: "a".into(),
                epoch: 3,
            },
            StoreError::StaleEpoch {
                presented: 2,
                current: 3,
            },
            StoreError::LeaseExpired {
                name: "admin".into(),
                epoch: 3,
            },
            StoreError::Unavailable("db down".into()),
            StoreError::Internal("bug".into()),
        ];
        for error in errors {
            let status = status_from_error(&error);
            assert_eq!(error_from_status(&status), error);
            assert_eq!(status.code() as i32, error.code().grpc_code(), "{error}");
        }
    }

    #[test]
    fn a_foreign_status_maps_by_code() {
        let status = Status::unavailable("connection refused");
        assert!(matches!(
            error_from_status(&status),
            StoreError::Unavailable(_)
        ));
    }
}
