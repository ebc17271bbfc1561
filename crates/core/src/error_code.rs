//! [`ErrorCode`]: the one classification of errors, with its HTTP status, gRPC code and retry rule.

use std::fmt;

/// The one classification of errors in tiercache.
///
/// Library errors carry a code; the edges (HTTP, gRPC, the command line) map the code, never
/// the error's text, so every interface reports the same failure the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: bad key, bad parameter, unknown option.
    InvalidArgument,
    /// A key or value exceeds a configured limit.
    TooLarge,
    /// The object does not exist.
    NotFound,
    /// A conditional write lost: the object's version (or the writer's epoch) moved on.
    Conflict,
    /// A cache refused a write because it is full and its policy may not evict
    /// (`noeviction`, or a `volatile-*` policy with no key that has a TTL).
    OutOfMemory,
    /// The request carries no credential, or one that is not known.
    Unauthenticated,
    /// The credential is known but does not allow this request.
    PermissionDenied,
    /// The client sent more requests than its rate limit allows; retrying later helps.
    RateLimited,
    /// A dependency (database, shared tier, bus) cannot be reached right now; retrying may help.
    Unavailable,
    /// A bug or an unexpected state on our side.
    Internal,
}

impl ErrorCode {
    /// The HTTP status an API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::OutOfMemory => 507,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// The numeric gRPC status code (as in `google.rpc.Code`) a service answers with.
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorCode::InvalidArgument | ErrorCode::TooLarge => 3, // INVALID_ARGUMENT
            ErrorCode::NotFound => 5,                              // NOT_FOUND
            ErrorCode::Conflict => 9,                              // FAILED_PRECONDITION
            ErrorCode::OutOfMemory | ErrorCode::RateLimited => 8,  // RESOURCE_EXHAUSTED
            ErrorCode::Unauthenticated => 16,                      // UNAUTHENTICATED
            ErrorCode::PermissionDenied => 7,                      // PERMISSION_DENIED
            ErrorCode::Unavailable => 14,                          // UNAVAILABLE
            ErrorCode::Internal => 13,                             // INTERNAL
        }
    }

    /// Whether the same request may succeed later without change.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Unavailable | ErrorCode::OutOfMemory | ErrorCode::RateLimited
        )
    }

    /// The stable snake_case name used in JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::OutOfMemory => "out_of_memory",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_grpc_agree_on_client_errors() {
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::TooLarge,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
        ] {
            assert!((400..500).contains(&code.http_status()), "{code}");
            assert!(!code.is_retryable(), "{code}");
        }
        assert_eq!(ErrorCode::Unavailable.http_status(), 503);
        assert_eq!(ErrorCode::Unavailable.grpc_code(), 14);
    }
}
